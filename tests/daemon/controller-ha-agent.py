#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The real hvfleet-agent given several controllers (issue 15): a dead address, a standby and
the leader, in that order. It moves past the dead one, follows the standby's 307 to the leader
and registers there; the leader SIGKILLed, the standby takes over and the agent, finding the old
leader gone, syncs with the new one by itself. Usage: controller-ha-agent.py HVFLEETD HVFLEET
HVFLEET_AGENT"""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile

import pglab
from hvfd import Daemon, check, wait_for

pglab.skip_unless_possible()
hvfleetd, hvfleet, agent_bin = sys.argv[1:4]
pg = pglab.Server("ctlha-agent").start()
uri = pg.create_db("hvf_ha_agent")
work = tempfile.mkdtemp(prefix="hvf-ctlha-agent-%d-" % os.getpid())
atexit.register(shutil.rmtree, work, True)


def token(role, name, host=None):
    cmd = [hvfleet, "token", "create", "--role", role, "--name", name, "--state-dir", uri]
    out = subprocess.run(cmd + (["--host", host] if host else []), check=True,
                         capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


viewer, op = token("viewer", "vic"), token("operator", "alice")
tok = os.path.join(work, "agent.token")
with open(tok, "w") as f:
    f.write(token("agent", "agent-kvm0001", "kvm0001") + "\n")
cfg = os.path.join(work, "hvfleetd.yaml")
with open(cfg, "w") as f:
    f.write("agent_heartbeat_s: 1\nagent_down_after: 4s\n")
driver = "sim:///default?world=%s/world.json" % work
ds = [Daemon(hvfleetd, hvfleet, ["--store", uri, "--driver", driver, "--config", cfg, "--name",
                                 "c%d" % i], name="hvfd-ctlha-agent-c%d" % i) for i in range(2)]
ds[0].start()
wait_for(lambda: ds[0].request("GET", "/v1/health")[2]["role"] == "leader", "c0 leads", 20)
ds[1].start()
leader, standby = ds
check(standby.request("GET", "/v1/health")[2]["role"] == "standby", "c1 stands by")

dead = "http://127.0.0.1:%d" % pglab.free_port()
url = lambda d: "http://127.0.0.1:%d" % d.port
log_path = os.path.join(work, "agent.log")
log = open(log_path, "ab")
agent = subprocess.Popen([agent_bin, "--controller", "%s,%s" % (dead, url(standby)),
                          "--controller", url(leader), "--token-file", tok, "--host", "kvm0001",
                          "--heartbeat", "1s", "--backoff-max", "1s",
                          "--state-dir", os.path.join(work, "agent")], stdout=log, stderr=log)
atexit.register(lambda: agent.poll() is None and (agent.kill(), agent.wait()))


def connected(d):
    try:
        rows = d.request("GET", "/v1/agents", viewer, timeout=5)[2]["agents"]
    except (OSError, TypeError, KeyError):
        return False
    return any(r["host"] == "kvm0001" and r["state"] == "connected" for r in rows)


wait_for(lambda: connected(leader), "the agent syncs with the leader", 20)
text = open(log_path).read()
check("stands by; syncing with the leader %s" % url(leader) in text, text[-2000:])
check("sync with %s failed" % dead in text, "moved past the dead address: " + text[-2000:])

# the CLI given a standby: its write goes to the leader (the 307 followed once)
cli = subprocess.run([hvfleet, "--server", url(standby), "freeze", "--reason", "ctl-ha test"],
                     env=dict(os.environ, HVFLEET_TOKEN=op), capture_output=True, text=True,
                     timeout=60)
check(cli.returncode == 0, "hvfleet --server STANDBY freeze: " + cli.stdout + cli.stderr)
fz = leader.request("GET", "/v1/freeze", viewer)[2]
check(fz["frozen"] and fz["reason"] == "ctl-ha test", fz)
cli = subprocess.run([hvfleet, "--server", url(standby), "unfreeze"],
                     env=dict(os.environ, HVFLEET_TOKEN=op), capture_output=True, text=True,
                     timeout=60)
check(cli.returncode == 0 and not leader.request("GET", "/v1/freeze", viewer)[2]["frozen"],
      "hvfleet --server STANDBY unfreeze: " + cli.stdout + cli.stderr)

leader.kill()
wait_for(lambda: standby.request("GET", "/v1/health")[2]["role"] == "leader",
         "the standby takes over", 20)
wait_for(lambda: connected(standby), "the agent syncs with the new leader", 20)
check(agent.poll() is None, "the agent kept running")
agent.kill()
agent.wait()
check(standby.stop() == 0, "SIGTERM: exit 0")
print("ok")
