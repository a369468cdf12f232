#!/bin/sh
# SPDX-License-Identifier: MIT
# The lint scripts catch what they are for: on a copy of include/ and src/ with one mistake
# planted at a time, each script fails and names the file and line (or header) at fault; on
# the untouched copy, each passes.
#
#   tests/lint/selftest.sh SRCROOT CC [CFLAGS...]
set -u

root=$1
shift
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0

fresh() {
    rm -rf "$tmp/t"
    mkdir "$tmp/t"
    cp -R "$root/include" "$root/src" "$tmp/t/"
}

# expect NAME STATUS PATTERN CMD...: CMD exits STATUS and prints a line matching PATTERN.
expect() {
    name=$1 want=$2 pattern=$3
    shift 3
    "$@" >"$tmp/out" 2>&1
    got=$?
    if [ "$got" -ne "$want" ] || { [ -n "$pattern" ] && ! grep -q -- "$pattern" "$tmp/out"; }; then
        echo "FAIL $name: exit $got (want $want), output:"
        sed 's/^/    /' "$tmp/out"
        fail=1
    else
        echo "ok   $name"
    fi
}

layers="$root/scripts/check-layers"
poison="$root/scripts/check-poison"
headers="$root/scripts/check-headers"

fresh
expect "layers: clean copy" 0 '' "$layers" "$tmp/t"
expect "poison: clean copy" 0 '' "$poison" "$tmp/t"

# An upward include, with its file and line.
fresh
n=$(($(wc -l <"$tmp/t/src/conf/policy.c") + 1))
echo '#include "hvfleet/sim.h"' >>"$tmp/t/src/conf/policy.c"
expect "layers: upward include" 1 \
    "^src/conf/policy.c:$n: conf includes \"hvfleet/sim.h\" of layer sim (upward: conf < sim)" \
    "$layers" "$tmp/t"

# The same through a private header of a higher layer.
fresh
echo '#include "plan/change-priv.h"' >>"$tmp/t/src/sim/engine.c"
expect "layers: private header" 1 'src/sim/engine.c:[0-9]*: sim includes "plan/change-priv.h"' \
    "$layers" "$tmp/t"

# The engine includes a model of the platform (rank 4 above the engine's 3).
fresh
echo '#include "hvfleet/incident.h"' >>"$tmp/t/src/sim/engine.c"
expect "layers: engine includes platform" 1 \
    'src/sim/engine.c:[0-9]*: sim includes "hvfleet/incident.h" of layer platform' "$layers" "$tmp/t"

# A public header without a layer, and a directory without one.
fresh
printf '#pragma once\n' >"$tmp/t/include/hvfleet/newthing.h"
mkdir "$tmp/t/src/gadget"
printf '#include "hvfleet/alloc.h"\n' >"$tmp/t/src/gadget/registry.c"
expect "layers: unclassified header" 1 '^include/hvfleet/newthing.h: public header has no layer' \
    "$layers" "$tmp/t"
expect "layers: unclassified directory" 1 '^src/gadget/: directory has no layer' \
    "$layers" "$tmp/t"

# A conf header declaring a function the planner defines (a header straddling two layers).
fresh
echo 'size_t hvf_change_plan_pack(void);' >>"$tmp/t/include/hvfleet/change.h"
expect "layers: header straddles layers" 1 \
    '^include/hvfleet/change.h: declares hvf_change_plan_pack, defined in src/plan/' \
    "$layers" "$tmp/t"

# A poisoned call (not in a comment), and a file that escapes the poison.
fresh
n=$(($(wc -l <"$tmp/t/src/util/strbuf.c") + 1))
printf 'static void t(char *d) { strcpy(d, "x"); } /* strcat( in a comment */\n' \
    >>"$tmp/t/src/util/strbuf.c"
expect "poison: strcpy" 1 "^src/util/strbuf.c:$n: strcpy() is poisoned" "$poison" "$tmp/t"
fresh
sed -i '/#include "hvfleet\/alloc.h"/d' "$tmp/t/src/util/utf8.c"
expect "poison: escapes alloc.h" 1 '^src/util/utf8.c: does not include hvfleet/alloc.h' \
    "$poison" "$tmp/t"
fresh
printf '#define HVF_ALLOW_UNSAFE_STRING\n' >>"$tmp/t/src/util/text.c"
expect "poison: lifted" 1 '^src/util/text.c:[0-9]*: HVF_ALLOW_UNSAFE_STRING' "$poison" "$tmp/t"

# A header missing an include, and one without #pragma once (on a few headers: compiling them
# all again would only take longer).
small() {
    rm -rf "$tmp/t"
    mkdir -p "$tmp/t/include/hvfleet" "$tmp/t/src/util"
    cp "$root/include/hvfleet/error.h" "$root/include/hvfleet/rng.h" "$tmp/t/include/hvfleet/"
    cp "$root/src/util/text.h" "$tmp/t/src/util/"
}
small
expect "headers: clean copy" 0 '3 headers compile alone' "$headers" "$tmp/t" "$@"
sed -i 's/#include <stdint.h>//' "$tmp/t/include/hvfleet/rng.h"
expect "headers: missing include" 1 '^include/hvfleet/rng.h: does not compile alone' \
    "$headers" "$tmp/t" "$@"
small
sed -i 's/^#pragma once//' "$tmp/t/src/util/text.h"
expect "headers: no pragma once" 1 '^src/util/text.h: no #pragma once' "$headers" "$tmp/t" "$@"

exit $fail
