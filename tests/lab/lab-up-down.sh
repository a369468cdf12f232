#!/bin/sh
# SPDX-License-Identifier: MIT
# hvfleet lab up/down on this machine (docs/lab.md): a 3-host lab with 2 VMs a host on a random
# 10.77.R.0/24 in a unique directory: real QEMU guests through hvfleetd's agent:// driver, or the
# twin (--driver sim) in a tree that has no agent:// driver yet (src/driver/agent/). Checked: namespaces, addresses,
# no default route, the bridge, tbf at the NIC rate on both ends, each agent inside its namespace
# and connected (GET /v1/agents), the inventory (check, drain plan), up again on the same
# directory (the old lab taken down first), down of a half-made lab, nothing left behind, and
# bad input (one line, exit 2). A trap takes the lab down on every path, then removes whatever
# is left by the PIDs and names lab.json recorded. Skipped (77) unless root with a usable
# `ip netns` and QEMU.
# usage: lab-up-down.sh HVFLEET SRCDIR
set -u
HVFLEET=${1:?usage: lab-up-down.sh HVFLEET SRCDIR}
SRC=${2:?usage: lab-up-down.sh HVFLEET SRCDIR}
DRIVER=
[ -f "$SRC/src/driver/agent/agent-driver.c" ] || DRIVER="--driver sim"
export LC_ALL=C
case $HVFLEET in /*) ;; *) HVFLEET=$(pwd)/$HVFLEET ;; esac

[ "$(id -u)" -eq 0 ] || { echo "skip: not root"; exit 77; }
command -v qemu-system-x86_64 >/dev/null || { echo "skip: no qemu-system-x86_64"; exit 77; }
probe=hvltest$$
if ! ip netns add "$probe" 2>/dev/null; then echo "skip: ip netns unusable"; exit 77; fi
ip netns del "$probe"

T=$(mktemp -d "${TMPDIR:-/tmp}/hvf-lab-test.XXXXXX") || exit 1
D=$T/lab
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# The ids, PIDs and names every lab.json of this run recorded, for the belt-and-braces cleanup.
remember() {
    [ -f "$1/lab.json" ] && python3 - "$1/lab.json" >>"$T/recorded" <<'EOF'
import json, sys
lab = json.load(open(sys.argv[1]))
print("id", lab["id"])
for p in lab["processes"]:
    print("pid", p["pid"], p["start_time"])
EOF
}

cleanup() {
    for dir in "$D" "$T/lab-b"; do
        [ -f "$dir/lab.json" ] && "$HVFLEET" lab down --dir "$dir" >/dev/null 2>&1
    done
    if [ -f "$T/recorded" ]; then
        while read -r kind a b; do
            case $kind in
            pid)
                st=$(sed 's/.*) //' "/proc/$a/stat" 2>/dev/null | cut -d' ' -f20)
                [ "$st" = "$b" ] && kill -9 "$a" 2>/dev/null ;;
            id)
                for ns in $(ip netns list | awk '{print $1}' | grep "^hvl$a-"); do
                    for p in $(ip netns pids "$ns"); do kill -9 "$p" 2>/dev/null; done
                    ip netns del "$ns"
                done
                for l in $(ls /sys/class/net | grep "^hvl$a"); do ip link del "$l" 2>/dev/null; done ;;
            esac
        done <"$T/recorded"
    fi
    # and any process whose command line names this run's directory (QEMUs of a namespace that
    # is gone can be found no other way)
    for f in /proc/[0-9]*/cmdline; do
        if tr '\0' ' ' <"$f" 2>/dev/null | grep -qF "$T/"; then
            p=${f#/proc/}
            kill -9 "${p%/cmdline}" 2>/dev/null
        fi
    done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# One line on stderr and exit 2, for bad input.
bad() {
    want=$1
    shift
    "$HVFLEET" lab up "$@" >"$T/out" 2>"$T/err"
    rc=$?
    [ "$rc" -eq 2 ] || fail "lab up $*: exit $rc, expected 2"
    [ "$(wc -l <"$T/err")" -eq 1 ] || fail "lab up $*: expected one line: $(cat "$T/err")"
    grep -qF -- "$want" "$T/err" || fail "lab up $*: expected '$want': $(cat "$T/err")"
}
touch "$T/file"
bad "--nic 'fast'" --hosts 3 --vms-per-host 0 --nic fast --dir "$T/bad"
bad "--hosts '0'" --hosts 0 --vms-per-host 0 --dir "$T/bad"
bad "expected a private /24" --hosts 3 --vms-per-host 0 --subnet 8.8.8.0/24 --dir "$T/bad"
bad "expected a /24" --hosts 3 --vms-per-host 0 --subnet 10.77.1.7/24 --dir "$T/bad"
bad "cannot create it" --hosts 3 --vms-per-host 0 --dir "$T/file/lab"
bad "--down-after '2s'" --hosts 3 --vms-per-host 0 --down-after 2s --dir "$T/bad"
bad "not a lab's directory" --hosts 3 --vms-per-host 0 --dir "$T"
[ ! -e "$T/bad" ] || fail "bad input left $T/bad"

# A subnet no other run uses: 10.77.R.0/24, another R when one is taken.
up() {
    dir=$1
    shift
    for try in 1 2 3 4 5 6 7 8; do
        R=$(($(od -An -N2 -tu2 /dev/urandom) % 250 + 1))
        "$HVFLEET" lab up --hosts 3 --nic 200Mbit --vms-per-host 2 --vm-memory 64MiB \
            --dirty-rate 4MiB/s $DRIVER --subnet "10.77.$R.0/24" --dir "$dir" "$@" \
            >"$T/up.out" 2>"$T/up.err"
        rc=$?
        remember "$dir"
        [ "$rc" -eq 0 ] && return 0
        grep -q "is in use on this machine" "$T/up.err" || break
    done
    fail "lab up: exit $rc: $(cat "$T/up.err")"
    exit 1
}

start=$(date +%s%N)
up "$D"
took=$((($(date +%s%N) - start) / 1000000))
ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$D/lab.json")
PORT=$(cat "$D/state/hvfleetd.port")
NET=10.77.$R
grep -q "^lab $ID up in" "$T/up.out" || fail "lab up's summary: $(cat "$T/up.out")"
# lab fence: a host is required, and must be the lab's (one line, exit 2)
"$HVFLEET" lab fence --dir "$D" >"$T/out" 2>"$T/err"
[ $? -eq 2 ] && grep -q -- "--host H is required" "$T/err" || fail "lab fence without --host: $(cat "$T/err")"
"$HVFLEET" lab fence --dir "$D" --host h9 >"$T/out" 2>"$T/err"
[ $? -eq 2 ] && grep -q "no such host" "$T/err" || fail "lab fence --host h9: $(cat "$T/err")"

# the network
[ "$(ip netns list | grep -c "^hvl$ID-h[123]\b")" -eq 3 ] || fail "3 namespaces: $(ip netns list)"
ip -4 -o addr show dev "hvl${ID}br" | grep -q " $NET.1/24 " || fail "bridge hvl${ID}br has no $NET.1/24"
for i in 1 2 3; do
    ns=hvl$ID-h$i
    ip -n "$ns" -4 -o addr show dev eth0 | grep -q " $NET.1$i/24 " || fail "$ns: eth0 is not $NET.1$i/24"
    [ -z "$(ip -n "$ns" route show default)" ] || fail "$ns has a default route"
    ip netns exec "$ns" ip route get 192.0.2.1 >/dev/null 2>&1 && fail "$ns routes out of the lab"
    [ "$(cat "/sys/class/net/hvl${ID}h$i/master/ifindex" 2>/dev/null)" = \
        "$(cat "/sys/class/net/hvl${ID}br/ifindex")" ] || fail "hvl${ID}h$i is not on the bridge"
    # 200Mbit is 25,000,000 bytes/s, as tc -j reports tbf's rate, on both ends
    for q in "$(tc -n "$ns" -j qdisc show dev eth0)" "$(tc -j qdisc show dev "hvl${ID}h$i")"; do
        echo "$q" | python3 -c 'import json,sys
q = [x for x in json.load(sys.stdin) if x["kind"] == "tbf"]
sys.exit(0 if len(q) == 1 and q[0]["options"]["rate"] == 200e6 / 8 else 1)' ||
            fail "$ns: no tbf at 200Mbit: $q"
    done
done

# the processes: hvfleetd in the root namespace, each agent in its host's namespace, connected
python3 - "$D/lab.json" >"$T/procs" <<'EOF' || fail "lab.json's processes"
import json, sys
lab = json.load(open(sys.argv[1]))
for p in lab["processes"]:
    print(p["role"], p["host"] or "-", p["pid"])
EOF
[ "$(grep -c '^agent ' "$T/procs")" -eq 3 ] && [ "$(grep -c '^hvfleetd ' "$T/procs")" -eq 1 ] ||
    fail "expected hvfleetd and 3 agents: $(cat "$T/procs")"
while read -r role host pid; do
    [ "$role" = agent ] || continue
    ip netns pids "hvl$ID-$host" | grep -qx "$pid" || fail "agent $pid of $host not in its namespace"
done <"$T/procs"
python3 - "http://$NET.1:$PORT" "$D/token" <<'EOF' || fail "agents not connected through the API"
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/v1/agents",
                             headers={"Authorization": "Bearer " + open(sys.argv[2]).read().strip()})
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
agents = json.load(opener.open(req, timeout=10))["agents"]
states = sorted((a["host"], a["state"]) for a in agents)
if states != [("h1", "connected"), ("h2", "connected"), ("h3", "connected")]:
    sys.exit("agents: %s" % states)
EOF
"$HVFLEET" lab status --dir "$D" >"$T/status" || fail "lab status: exit $?"
[ "$(grep -c ' running  connected  2/2$' "$T/status")" -eq 3 ] || fail "lab status: $(cat "$T/status")"
for f in token approver.token hosts/h1/agent.token; do
    [ "$(stat -c %a "$D/$f")" = 600 ] || fail "$f is not mode 0600"
done

# the inventory: valid, and a drain of one host fits on the others
"$HVFLEET" inventory check "$D/inventory.yaml" >/dev/null || fail "inventory check"
HVFLEET_STATE_DIR=$T/plan-state "$HVFLEET" plan drain h1 --inventory "$D/inventory.yaml" \
    -o "$T/drain.json" >"$T/drain.out" 2>&1 || fail "plan drain h1: $(cat "$T/drain.out")"

# the subnet is taken while the lab runs
"$HVFLEET" lab up --hosts 1 --vms-per-host 0 --driver sim --subnet "$NET.0/24" --dir "$T/lab-b" \
    >/dev/null 2>"$T/err"
rc=$?
remember "$T/lab-b"
[ "$rc" -eq 1 ] && grep -q "is in use on this machine (route $NET.0/24 dev hvl${ID}br)" "$T/err" ||
    fail "a second lab on $NET.0/24: exit $rc: $(cat "$T/err")"

# one lab up or down at a time on a directory
if command -v flock >/dev/null; then
    flock -n "$D/.hvfleet-lab" "$HVFLEET" lab down --dir "$D" >/dev/null 2>"$T/err"
    rc=$?
    [ "$rc" -eq 1 ] && grep -q "another hvfleet lab up or down works on it" "$T/err" ||
        fail "lab down while the directory is locked: exit $rc: $(cat "$T/err")"
    [ -e "/sys/class/net/hvl${ID}br" ] || fail "a locked lab was taken down"
fi

# up again on the same directory: the first lab is taken down, a new one made
OLD=$ID
# each with its start time: a PID the machine gives again later is not the same process
OLDPIDS=$(for pid in $(awk '{print $3}' "$T/procs"); do
    echo "$pid:$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f20)"
done)
up "$D"
ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$D/lab.json")
grep -q "taking down the lab $OLD" "$T/up.err" || fail "up again: $(cat "$T/up.err")"
[ -z "$(ip netns list | grep "^hvl$OLD-")" ] && [ ! -e "/sys/class/net/hvl${OLD}br" ] ||
    fail "the first lab's namespaces or bridge survived"
for ps in $OLDPIDS; do
    pid=${ps%%:*}
    st=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null)
    [ -z "$st" ] || [ "$(echo "$st" | cut -c1)" = Z ] ||
        [ "$(echo "$st" | cut -d' ' -f20)" != "${ps#*:}" ] || fail "process $pid of the first lab survived"
done

# down of a half-made lab: a namespace removed and an agent killed by hand; and what agents
# leave running: a QEMU with its pidfile where the qemu executor keeps it, a process in a host
python3 - "$D/lab.json" >"$T/procs" <<'EOF'
import json, sys
for p in json.load(open(sys.argv[1]))["processes"]:
    print(p["role"], p["host"] or "-", p["pid"])
EOF
kill -9 "$(awk '$2 == "h2" {print $3}' "$T/procs")"
ip netns del "hvl$ID-h3"
mkdir -p "$D/hosts/h1/vms/left"
ip netns exec "hvl$ID-h1" qemu-system-x86_64 -machine none -nodefaults -display none -S \
    -daemonize -pidfile "$D/hosts/h1/vms/left/pidfile" || fail "a QEMU in h1 did not start"
QPID=$(cat "$D/hosts/h1/vms/left/pidfile")
ip netns exec "hvl$ID-h2" sleep 600 </dev/null >/dev/null 2>&1 &
SPID=$!
for pid in $QPID $SPID; do
    echo "pid $pid $(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f20)" >>"$T/recorded"
    echo "left - $pid" >>"$T/procs"
done
"$HVFLEET" lab down --dir "$D" >"$T/out" 2>"$T/down.err" ||
    fail "lab down: exit $?: $(cat "$T/down.err")"
[ -z "$(ip netns list | grep "^hvl$ID-")" ] || fail "namespaces left: $(ip netns list)"
[ -z "$(ls /sys/class/net | grep "^hvl$ID")" ] || fail "links left: $(ls /sys/class/net)"
while read -r role host pid; do
    s=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)
    [ -z "$s" ] || [ "$s" = Z ] || fail "$role $pid still runs after lab down"
done <"$T/procs"
# no QEMU of the lab's VMs either (h3's, whose namespace was removed, found by their pidfiles)
for f in /proc/[0-9]*/cmdline; do
    if tr '\0' ' ' <"$f" 2>/dev/null | grep -q "qemu-system.* -pidfile $D/hosts/"; then
        s=$(sed 's/.*) //' "${f%cmdline}stat" 2>/dev/null | cut -c1)
        [ -z "$s" ] || [ "$s" = Z ] || fail "a QEMU of the lab still runs: $(tr '\0' ' ' <"$f")"
    fi
done
[ ! -e "$D/lab.json" ] || fail "lab.json left after lab down"
"$HVFLEET" lab down --dir "$D" 2>"$T/err" || fail "lab down again: exit $?"
grep -q "nothing to do" "$T/err" || fail "lab down again: $(cat "$T/err")"
grep -q "stopped 2 agents, 1 hvfleetd, [0-9]* process" "$T/down.err" ||
    fail "lab down's account: $(cat "$T/down.err")"

# a failing up undoes what it made: hvfleetd refuses its driver
"$HVFLEET" lab up --hosts 2 --vms-per-host 0 --driver "nosuch:///x" --subnet "$NET.0/24" \
    --dir "$D" >/dev/null 2>"$T/err"
rc=$?
remember "$D"
BAD=$(sed -n 's/.*the lab \([0-9a-f]*\) was undone.*/\1/p' "$T/err")
[ "$rc" -eq 1 ] && [ -n "$BAD" ] || fail "lab up with a bad driver: exit $rc: $(cat "$T/err")"
grep -q "hvfleetd exited at start: .*nosuch" "$T/err" || fail "the daemon's reason: $(cat "$T/err")"
[ -z "$(ip netns list | grep "^hvl$BAD-")" ] && [ -z "$(ls /sys/class/net | grep "^hvl$BAD")" ] &&
    [ ! -e "$D/lab.json" ] || fail "the failed lab $BAD was not undone"

[ "$failures" -eq 0 ] || exit 1
echo "ok: lab up (3 hosts) in $took ms, down, again, half-made, bad input"
