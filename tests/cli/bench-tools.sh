#!/bin/sh
# SPDX-License-Identifier: MIT
# The bench's own tools (bench/README.md): rss-run reports a child's peak RSS and CPU alone, and
# peer-hroller executes hroller's reboot groups with the moves of `hroller --print-moves`.
# usage: bench-tools.sh RSS_RUN PEER_HROLLER
set -u
RSS_RUN=$1
PEER=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/hvf-bench-tools.XXXXXX")
trap 'rm -rf "$T"' EXIT
export LC_ALL=C
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# rss-run: a tiny child is measured tiny, not as big as whatever started it (this shell, or the
# Python of bench/run); its exit status and death by signal come through.
"$RSS_RUN" "$T/rep" /bin/true || fail "rss-run /bin/true exited $?"
read -r kib user sys <"$T/rep" || fail "no report from rss-run"
[ "${kib:-99999}" -lt 8192 ] || fail "rss-run /bin/true: peak RSS ${kib:-?} KiB, expected under 8 MiB"
"$RSS_RUN" "$T/rep" sh -c 'exit 3'
[ $? -eq 3 ] || fail "rss-run did not pass exit status 3 on"
"$RSS_RUN" "$T/rep" sh -c 'kill -9 $$'
[ $? -eq 137 ] || fail "rss-run did not report death by SIGKILL as 137"
if command -v python3 >/dev/null 2>&1; then
    # a child that touches 64 MiB is measured at 64 MiB or more
    "$RSS_RUN" "$T/rep" python3 -c 'b = bytearray(64 << 20); b[::4096] = b"x" * (16 << 10)' ||
        fail "rss-run python3 exited $?"
    read -r kib user sys <"$T/rep"
    [ "${kib:-0}" -ge 65536 ] || fail "64 MiB child: peak RSS ${kib:-?} KiB, expected at least 65536"
fi
"$RSS_RUN" 2>/dev/null
[ $? -eq 2 ] || fail "rss-run without arguments: expected exit 2"

# peer-hroller: hroller's groups with its moves. Best free memory would send v1 and v2 to b;
# hroller named c, so they go to c (none redirected), and come home after the group.
cat >"$T/inv.yaml" <<'EOF'
schema: hvfleet.inventory/v1
hosts:
  - {name: a, cpus: 16, memory: 64GiB, nic: 10Gbit}
  - {name: b, cpus: 16, memory: 64GiB, nic: 10Gbit}
  - {name: c, cpus: 16, memory: 64GiB, nic: 10Gbit}
vms:
  - {name: v1, host: a, vcpus: 2, memory: 4GiB}
  - {name: v2, host: a, vcpus: 2, memory: 4GiB}
  - {name: w1, host: c, vcpus: 2, memory: 16GiB}
EOF
printf "'Node Reboot Groups'\na\n  v1 c\n  v2 c\nb\nc\n  w1 a\n" >"$T/moves.txt"
"$PEER" groups "$T/inv.yaml" "$T/moves.txt" >"$T/out" 2>"$T/err" || {
    fail "peer-hroller groups with moves exited $?"
    cat "$T/err" >&2
}
for want in "hroller_moves yes" "hosts_maintained 3" "migrations 6" "redirected_steps 0" \
    "returns 3" "returns_given_up 0" "vms_moved_twice 0"; do
    grep -qx "$want" "$T/out" || fail "with moves: no '$want' in: $(tr '\n' ' ' <"$T/out")"
done
# the groups alone: the executor picks targets itself
grep -v '^ ' "$T/moves.txt" >"$T/groups.txt"
"$PEER" groups "$T/inv.yaml" "$T/groups.txt" >"$T/out" 2>"$T/err" || fail "groups only exited $?"
grep -qx "hroller_moves no" "$T/out" || fail "groups only: no 'hroller_moves no'"
# a move naming an instance hroller's file has and the inventory not: refused, with the line
printf "a\n  nosuch c\n" >"$T/bad.txt"
"$PEER" groups "$T/inv.yaml" "$T/bad.txt" >"$T/out" 2>"$T/err"
[ $? -eq 2 ] || fail "unknown instance: expected exit 2"
grep -q "bad.txt:2: instance 'nosuch': not in the inventory" "$T/err" ||
    fail "unknown instance: message was: $(cat "$T/err")"

[ "$failures" -eq 0 ] || exit 1
echo "bench-tools: all passed"
