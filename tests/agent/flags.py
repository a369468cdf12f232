#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hvfleet-agent's bad command lines, token files, URLs and state: each refused at once with one
line naming the flag (or file) and its value, status 2, and no process left behind.

    flags.py HVFLEET-AGENT
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agentlib import Dir, check, fail  # noqa: E402


def main():
    if len(sys.argv) != 2:
        fail("usage: flags.py HVFLEET-AGENT")
    binary = sys.argv[1]
    d = Dir("flags")
    good_tok, empty_tok, space_tok = d / "tok", d / "empty", d / "space"
    for path, text in ((good_tok, "abc123\n"), (empty_tok, "\n"), (space_tok, "a b\n")):
        with open(path, "w") as f:
            f.write(text)
    bad_state = d / "bad-state"
    os.makedirs(bad_state)
    with open(os.path.join(bad_state, "results.json"), "w") as f:
        f.write('{"version": 1, "results": [{"id": 7}]}')
    bad_fence = d / "bad-fence"
    os.makedirs(bad_fence)
    with open(os.path.join(bad_fence, "fenced.json"), "w") as f:
        f.write('{"at_unix": 1, "boot_id": "b", "vms": [7], "fence_after_ms": 3000}')
    with open(d / "wd", "w") as f:
        pass
    base = {"--controller": "http://127.0.0.1:1", "--token-file": good_tok, "--host": "h1",
            "--state-dir": d / "state"}
    cases = [
        ({"--controller": "ftp://x"}, "--controller 'ftp://x'"),
        ({"--controller": "http://h:1/v1"}, "--controller 'http://h:1/v1'"),
        # several controllers (docs/controller-ha.md): each one checked, at most 16
        ({"--controller": "http://a:1,ftp://x"}, "--controller 'ftp://x'"),
        ({"--controller": ""}, "--controller '': expected http://HOST:PORT"),
        ({"--controller": ",".join("http://c%d:1" % i for i in range(17))},
         "--controller: at most 16 controllers"),
        ({"--token-file": d / "missing"}, "--token-file '" + d / "missing" + "'"),
        ({"--token-file": empty_tok}, "expected one token"),
        ({"--token-file": space_tok}, "expected one token"),
        ({"--host": "bad host"}, "--host 'bad host'"),
        ({"--workers": "0"}, "--workers '0': expected an integer from 1 to 64"),
        ({"--workers": "4x"}, "--workers '4x'"),
        ({"--queue": "0"}, "--queue '0'"),
        ({"--events": "8"}, "--events '8'"),
        ({"--heartbeat": "10ms"}, "--heartbeat '10ms'"),
        ({"--heartbeat": "soon"}, "--heartbeat 'soon'"),
        ({"--max-rss": "1MiB"}, "--max-rss '1MiB'"),
        ({"--sim-delay": "migrate_out"}, "--sim-delay 'migrate_out'"),
        ({"--frobnicate": "1"}, "--frobnicate: unknown flag"),
        ({"--executor": "xen"}, "--executor 'xen': expected auto, qemu or sim"),
        ({"--migration-ports": "49215-49152"}, "--migration-ports '49215-49152': expected LO-HI"),
        ({"--migration-ports": "80-90"}, "--migration-ports '80-90'"),
        ({"--migration-ports": "49152"}, "--migration-ports '49152'"),
        ({"--executor": "qemu", "--qemu-binary": d / "no-qemu"},
         "--executor qemu: " + d / "no-qemu" + ": not found"),
        ({"--host": None}, "missing --host NAME"),
        ({"--state-dir": bad_state}, "results.json: results[0]: expected id"),
        ({"--fence-after": "soon"}, "--fence-after 'soon': expected 0 (off) or a duration"),
        ({"--fence-after": "10s"}, "--fence-after '10s': expected 0 (off) or a duration from "
         "11.0 s (2 x --heartbeat + 1s)"),
        ({"--fence-after": "3s", "--heartbeat": "1s", "--watchdog-device": ""},
         "--watchdog-device '': expected a device"),
        ({"--watchdog-device": d / "wd"}, "--watchdog-device '" + d / "wd" + "': needs --fence-after"),
        ({"--fence-after": "30s", "--watchdog-device": d / "no-wd"},
         "--watchdog-device '" + d / "no-wd" + "': cannot open"),
        ({"--state-dir": bad_fence}, "fenced.json: vms: expected a list of VM names"),
    ]
    for change, want in cases:
        args = dict(base)
        args.update(change)
        argv = [binary]
        for k, v in args.items():
            if v is not None:
                argv += [k, v]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        err = p.stderr
        check(p.returncode == 2 and err.startswith("hvfleet-agent: ") and err.count("\n") == 1
              and want in err and p.stdout == "", f"{change}: status 2 and one line: {err.strip()}")
    p = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    check(p.returncode == 0 and "--controller" in p.stdout, "--help prints the usage")
    p = subprocess.run([binary, "--workers"], capture_output=True, text=True, timeout=10)
    check(p.returncode == 2 and "--workers: expected a value" in p.stderr, "a flag without value")


if __name__ == "__main__":
    main()
