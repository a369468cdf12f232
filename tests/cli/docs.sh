#!/bin/sh
# SPDX-License-Identifier: MIT
# The docs agree with the code: every example output in docs/incidents.md and docs/planning.md
# is what the command it shows prints (scripts/doc-figures; --update rewrites them), and every
# NAME.md the sources and docs mention is a file of the repository.
# usage: docs.sh PATH-TO-hvfleet SOURCE-ROOT
set -u
HVFLEET=${1:?usage: docs.sh PATH-TO-hvfleet SOURCE-ROOT}
SRC=${2:?usage: docs.sh PATH-TO-hvfleet SOURCE-ROOT}
export LC_ALL=C
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

case $HVFLEET in /*) ;; *) HVFLEET=$(pwd)/$HVFLEET ;; esac
cd "$SRC" || exit 1
python3 scripts/doc-figures "$HVFLEET" . docs/incidents.md docs/planning.md >"$tmp/out" 2>&1 ||
    fail "example outputs differ from a run:
$(cat "$tmp/out")"

# references to documents: each NAME.md named in src/, include/, scripts/, docs/ and the README
find . -name '*.md' -not -path './build*' | sed 's#.*/##' | sort -u >"$tmp/have"
grep -rhoE '[A-Za-z0-9_-]+\.md\b' src include scripts docs README.md --include='*.c' \
    --include='*.h' --include='*.md' --include='check-*' 2>/dev/null |
    sort -u >"$tmp/named"
missing=$(comm -23 "$tmp/named" "$tmp/have")
[ -z "$missing" ] || fail "documents named but not in the repository: $missing"

# the check itself notices a stale figure (in the first example alone, to keep the test short)
awk '/^```$/ { n++ } n <= 2 { print }' docs/incidents.md |
    sed 's/^  hosts maintained         \([0-9]*\) /  hosts maintained         9\1 /' \
        >"$tmp/incidents.md"
python3 scripts/doc-figures "$HVFLEET" . "$tmp/incidents.md" >"$tmp/out" 2>&1
[ $? -eq 1 ] && grep -q "^  -  hosts maintained         9" "$tmp/out" ||
    fail "doc-figures misses a stale figure: $(cat "$tmp/out")"

[ "$failures" -eq 0 ] || exit 1
echo "ok: docs"
