#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hvfleetd on the libvirt driver: `--driver libvirt:///` takes its --inventory, and the API shows
what the hosts' daemons say (libvirt's test driver: two hosts from XML files, one domain shut off
where the inventory says it runs). A driver URI with a bad parameter is refused at start.
Usage: lv-daemon.py HVFLEETD HVFLEET"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "daemon"))
from hvfd import Daemon, check, wait_for  # noqa: E402

hvfleetd, hvfleet = sys.argv[1:3]
tmp = tempfile.mkdtemp(prefix="hvf-lvd-")
for h, doms in (("lv1", [("web", 512, "")]), ("lv2", [("db", 1024, ""), ("cold", 256, "5")])):
    with open(os.path.join(tmp, h + ".xml"), "w") as f:
        f.write("<node><cpu><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads>"
                "<active>4</active><mhz>2000</mhz><model>x86_64</model></cpu>"
                "<memory>8388608</memory>")
        for name, mib, runstate in doms:
            f.write('<domain type="test" xmlns:test="http://libvirt.org/schemas/domain/test/1.0">'
                    '<name>%s</name><memory unit="MiB">%d</memory><vcpu>1</vcpu>'
                    '<os><type>hvm</type></os>%s</domain>'
                    % (name, mib, "<test:runstate>%s</test:runstate>" % runstate if runstate else ""))
        f.write("</node>")
inv = os.path.join(tmp, "fleet.yaml")
with open(inv, "w") as f:
    f.write("schema: hvfleet.inventory/v1\nhosts:\n")
    for h in ("lv1", "lv2"):
        f.write("  - {name: %s, cpus: 4, memory: 8GiB, libvirt_uri: \"test://%s/%s.xml\"}\n"
                % (h, tmp, h))
    f.write("vms:\n  - {name: web, host: lv1, vcpus: 1, memory: 512MiB}\n"
            "  - {name: db, host: lv2, vcpus: 1, memory: 1GiB}\n"
            "  - {name: cold, host: lv2, vcpus: 1, memory: 256MiB}\n")

d = Daemon(hvfleetd, hvfleet, args=["--driver", "libvirt:///?workers=2", "--inventory", inv],
           name="hvfd-libvirt")
op = d.token("operator", "alice")
d.start()
vms = wait_for(lambda: {v["name"]: v for v in d.request("GET", "/v1/vms", op)[2]["vms"]}
               if d.request("GET", "/v1/vms", op)[0] == 200 else None, "the VMs")
check(vms["web"]["host"] == "lv1" and vms["web"]["state"] == "running", vms["web"])
check(vms["db"]["host"] == "lv2" and vms["db"]["state"] == "running", vms["db"])
check(vms["cold"]["state"] == "stopped", ("shut off on lv2", vms["cold"]))
s, _, hosts = d.request("GET", "/v1/hosts", op)
check(s == 200 and all(h["state"] == "active" for h in hosts["hosts"]), hosts)
check(d.stop() == 0, "SIGTERM: exit 0")

# a bad driver URI: hvfleetd says why and exits 2
r = subprocess.run([hvfleetd, "--listen", "127.0.0.1:0", "--state-dir", os.path.join(tmp, "s2"),
                    "--driver", "libvirt:///?workers=0", "--inventory", inv],
                   capture_output=True, text=True, timeout=30)
check(r.returncode != 0 and "workers '0': expected a whole number from 1 to 64" in r.stderr,
      (r.returncode, r.stderr))
subprocess.run(["rm", "-rf", tmp])
print("ok")
