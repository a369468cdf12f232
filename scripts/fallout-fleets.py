#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the fleets of the fallout replays (seeds 001 and 003) into scenarios/.

The fleets are plain inventories; this script only saves typing them. Counts vary from host to
host by fixed arithmetic (no randomness), so every run writes the same files:

  scenarios/2024-fallout-fleet.yaml  20 hypervisors, about 1,300 VMs, mostly small (pico 256 MiB, nano
                             512 MiB): seed 003. Six message-bus brokers (service bus) and, on
                             every host, two apps that use the bus (service bus-clients).
  scenarios/2022-fleet.yaml  12 hypervisors, 30 to 45 VMs each: seed 001.

Usage: scripts/fallout-fleets.py [DIR]   (default: scenarios/ beside this script's parent)
"""
import os
import sys

SIZES = {  # name: (vcpus, MiB, cpu_load)
    "pico": (1, 256, 0.20),
    "nano": (1, 512, 0.20),
    "xs": (1, 1024, 0.25),
    "s": (2, 2048, 0.30),
    "m": (4, 4096, 0.35),
    "l": (6, 8192, 0.40),
}


def vm_line(name, host, size, service=None):
    vcpus, mib, load = SIZES[size]
    ws = max(64, mib // 2)
    svc = f", service: {service}" if service else ""
    return (f"  - {{name: {name}, host: {host}, vcpus: {vcpus}, memory: {mib}MiB, "
            f"dirty_rate: 2MiB/s, working_set: {ws}MiB, cpu_load: {load}{svc}}}")


def fleet_2024():
    out = ["# SPDX-License-Identifier: MIT",
           "# Written by scripts/fallout-fleets.py. A region like the one of seed 003 (Clever Cloud,",
           "# 2024): 20 hypervisors in two zones, mostly small VMs (pico 256 MiB, nano 512 MiB) with",
           "# a telemetry agent each; six message-bus brokers (service bus) and two apps per host",
           "# that use the bus (service bus-clients).",
           "schema: hvfleet.inventory/v1",
           "services:",
           "  - {name: bus, critical: true, min_available: 3, spread: host}",
           "  - {name: bus-clients, min_available: 0, spread: host}",
           "hosts:"]
    vms = []
    for h in range(20):
        host = f"hv{h + 1:02d}"
        zone = "par1" if h < 10 else "par2"
        rack = f"r{h // 5 + 1}"
        out.append(f"  - {{name: {host}, zone: {zone}, rack: {rack}, cpus: 48, memory: 192GiB, "
                   f"reserved_memory: 8GiB, nic: 10Gbit}}")
        counts = [("pico", 12 + (h * 7) % 17), ("nano", 14), ("xs", 8), ("s", 4), ("m", 4),
                  ("l", 2)]
        for size, n in counts:
            for i in range(n):
                vms.append(vm_line(f"{host}-{size}{i + 1:02d}", host, size))
        for i in range(2):
            vms.append(vm_line(f"{host}-app{i + 1}", host, "s", "bus-clients"))
        if h % 3 == 1 and h < 18:
            vms.append(f"  - {{name: pulsar-{h // 3 + 1}, host: {host}, vcpus: 8, memory: 16GiB, "
                       f"dirty_rate: 20MiB/s, working_set: 4GiB, cpu_load: 0.3, service: bus}}")
    return "\n".join(out + ["vms:"] + vms) + "\n"


def fleet_2022():
    out = ["# SPDX-License-Identifier: MIT",
           "# Written by scripts/fallout-fleets.py. Hypervisors like those of seed 001 (Clever",
           "# Cloud, 2022): 12 hosts, 30 to 45 VMs each, whose qemu processes need threads.",
           "schema: hvfleet.inventory/v1",
           "hosts:"]
    vms = []
    order = ["pico", "nano", "xs", "s", "m", "s", "xs", "nano"]
    for h in range(12):
        host = f"hv{h + 1:02d}"
        out.append(f"  - {{name: {host}, zone: par, rack: r{h // 6 + 1}, cpus: 48, "
                   f"memory: 256GiB, reserved_memory: 8GiB, nic: 10Gbit}}")
        for i in range(30 + (h * 5) % 16):
            size = order[i % len(order)]
            vms.append(vm_line(f"{host}-vm{i + 1:02d}", host, size))
    return "\n".join(out + ["vms:"] + vms) + "\n"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    dest = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "scenarios")
    for name, text in (("2024-fallout-fleet.yaml", fleet_2024()), ("2022-fleet.yaml", fleet_2022())):
        with open(os.path.join(dest, name), "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
