#!/bin/sh
# SPDX-License-Identifier: MIT
# hvfleet report: exit statuses, one-line errors, default and explicit outputs, determinism.
# usage: report.sh PATH-TO-hvfleet SOURCE-ROOT
set -u
hvfleet=${1:?usage: report.sh PATH-TO-hvfleet SOURCE-ROOT}
src=${2:?usage: report.sh PATH-TO-hvfleet SOURCE-ROOT}
fixtures=$src/tests/data/report
export LC_ALL=C
tmp=$(mktemp -d /tmp/hvf-report-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect STATUS CMD...: runs CMD, keeps stdout/stderr in $tmp/out, $tmp/err
expect() {
    want=$1; shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want: $(cat "$tmp/err")"
}

one_line_error() {
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "expected one line on stderr, got: $(cat "$tmp/err")"
    grep -q '^hvfleet: ' "$tmp/err" || fail "error does not start with 'hvfleet: '"
}

expect 0 "$hvfleet" report --help
grep -q '^usage: hvfleet report DIR' "$tmp/out" || fail "--help prints no usage"

expect 2 "$hvfleet" report
expect 2 "$hvfleet" report a b
expect 2 "$hvfleet" report --bogus "$fixtures/minimal"

expect 2 "$hvfleet" report "$tmp/no-such-run"
one_line_error
grep -q "no-such-run" "$tmp/err" || fail "error does not name the directory"

# explicit output file, printed path, byte-identical on a second run
expect 0 "$hvfleet" report "$fixtures/cascade" -o "$tmp/a.html"
[ "$(cat "$tmp/out")" = "$tmp/a.html" ] || fail "printed '$(cat "$tmp/out")', expected the path"
head -c 15 "$tmp/a.html" | grep -q '<!DOCTYPE html>' || fail "a.html is not HTML"
expect 0 "$hvfleet" report "$fixtures/cascade" --output="$tmp/b.html"
cmp -s "$tmp/a.html" "$tmp/b.html" || fail "two reports of one run differ"

# standard output
expect 0 "$hvfleet" report "$fixtures/minimal" -o -
grep -q '<h1>Simulation run: empty</h1>' "$tmp/out" || fail "-o - does not print the report"

# default output inside the run directory, and --json
mkdir "$tmp/run"
cp "$fixtures/minimal/"* "$tmp/run/"
expect 0 "$hvfleet" report "$tmp/run" --json
[ -s "$tmp/run/report.html" ] || fail "no report.html in the run directory"
grep -q "\"path\": \"$tmp/run/report.html\"" "$tmp/out" || fail "--json has no path: $(cat "$tmp/out")"
grep -q '"schema": "hvfleet.report-result/v1"' "$tmp/out" || fail "--json has no schema"

# malformed input: exit 2, one line naming the file, no report written
rm -f "$tmp/run/report.html"
printf '{"schema":"hvfleet.sim-summary/v1","scenario":"x",' >"$tmp/run/summary.json"
expect 2 "$hvfleet" report "$tmp/run"
one_line_error
grep -q "summary.json:1:" "$tmp/err" || fail "error does not name summary.json:1: $(cat "$tmp/err")"
[ ! -e "$tmp/run/report.html" ] || fail "a report was written for a malformed run"

cp "$fixtures/minimal/summary.json" "$tmp/run/"
printf 't_s,host\n' >"$tmp/run/metrics-hosts.csv"
expect 2 "$hvfleet" report "$tmp/run"
one_line_error
grep -q "metrics-hosts.csv:1: missing column 'memory_ratio'" "$tmp/err" || fail "$(cat "$tmp/err")"

# an unwritable output is an error too, not a crash
expect 2 "$hvfleet" report "$fixtures/minimal" -o "$tmp/no/such/dir/r.html"
one_line_error

# end to end: what the twin writes, the report reads
expect 0 "$hvfleet" simulate "$src/scenarios/2017-maintenance-storm.yaml" --out "$tmp/storm"
expect 0 "$hvfleet" report "$tmp/storm"
grep -q '<h1>Simulation run: ' "$tmp/storm/report.html" || fail "no report of the simulated storm"
grep -q 'Memory ratio of the busiest hosts' "$tmp/storm/report.html" || fail "storm: no memory chart"
cp "$tmp/storm/report.html" "$tmp/storm-1.html"
expect 0 "$hvfleet" report "$tmp/storm"
cmp -s "$tmp/storm/report.html" "$tmp/storm-1.html" || fail "storm: reports differ"

[ "$fails" -eq 0 ] && echo "report: all passed" || exit 1
