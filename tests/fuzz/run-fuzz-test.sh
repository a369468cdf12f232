#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/run-fuzz keeps the input of a target that dies without libFuzzer saving it (issue 9,
# item 22: ASan's handler dying on a stack smash left no reproducer), and does not add a copy
# when libFuzzer saved one itself. The targets here are stand-ins with libFuzzer's interface.
#   run-fuzz-test.sh SRCDIR
set -u
SRC=$1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/hvf-run-fuzz-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

mkdir -p "$TMP/build/tests/fuzz"
# Dies by SIGSEGV in the middle of an input, as libfyaml's overrun did, saving nothing.
cat >"$TMP/build/tests/fuzz/fuzz-units" <<'EOS'
#!/bin/sh
printf 'first input' >"$HVF_FUZZ_LAST_INPUT"
printf 'the input that kills' >"$HVF_FUZZ_LAST_INPUT"
kill -SEGV $$
EOS
# Crashes the usual way: libFuzzer writes the artifact itself.
cat >"$TMP/build/tests/fuzz/fuzz-ganeti" <<'EOS'
#!/bin/sh
for a; do case $a in -artifact_prefix=*) prefix=${a#-artifact_prefix=} ;; esac; done
printf 'saved by libFuzzer' >"${prefix}crash-0123"
printf 'saved by libFuzzer' >"$HVF_FUZZ_LAST_INPUT"
exit 1
EOS
chmod +x "$TMP/build/tests/fuzz/fuzz-units" "$TMP/build/tests/fuzz/fuzz-ganeti"

RUN_FUZZ_CRASHES=$TMP/crashes timeout 60 "$SRC/scripts/run-fuzz" "$TMP/build" 1 units ganeti \
    >"$TMP/out" 2>&1
rc=$?
[ "$rc" -eq 1 ] || fail "run-fuzz exit status $rc, want 1"
set -- "$TMP"/crashes/units/crash-unsaved-*
if [ ! -f "$1" ]; then
    fail "no crash-unsaved-* kept for the target killed by SIGSEGV"
elif [ "$(cat "$1")" != "the input that kills" ]; then
    fail "kept '$(cat "$1")', want the last input"
fi
grep -q "fuzz-units died (exit status 139) without saving its input" "$TMP/out" ||
    grep -q "fuzz-units died (exit status" "$TMP/out" || fail "no message about the unsaved input"
n=$(ls "$TMP/crashes/ganeti" | wc -l)
[ "$n" -eq 1 ] || fail "ganeti: $n crash files, want libFuzzer's one only"
if [ "$failures" -ne 0 ]; then
    sed 's/^/  run-fuzz: /' "$TMP/out" >&2
    exit 1
fi
echo ok
