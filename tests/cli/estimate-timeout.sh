#!/bin/sh
# SPDX-License-Identifier: MIT
# hvfleet estimate --timeout 0 means no timeout (as in Nova and in scenarios), not the default:
# a migration slower than Nova's 800 s per GiB converges; one that cannot converge never ends.
. "$2/tests/cli/plan-lib.sh"

# 1 GiB at 1 MB/s: the one pass takes ~1074 s, past Nova's 800 s for 1 GiB.
run 1 estimate --memory 1GiB --bandwidth 1MB/s
has out "timeout 13m 20s"
has out "aborted after timeout 13m 20s"
run 0 estimate --memory 1GiB --bandwidth 1MB/s --timeout 0
has out "timeout none"
has out "converged   yes"
has out "total time  17m 54s"
run 0 estimate --memory 1GiB --bandwidth 1MB/s --timeout 0 --json
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["input"]["timeout_s"] is None and j["converged"] and j["total_s"] > 800, j' "$TMP/out" ||
    { echo "FAIL: --timeout 0 --json"; failures=$((failures + 1)); }

# Dirtying faster than the link: without a timeout it never ends (exit 1, "no").
run 1 estimate --memory 1GiB --bandwidth 1MB/s --dirty-rate 2MB/s --timeout 0
has out "total time  never (no timeout: it runs until cancelled)"
has out "no timeout: it runs until cancelled"
run 1 estimate --memory 1GiB --bandwidth 1MB/s --dirty-rate 2MB/s --timeout 0 --json
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["total_s"] is None and not j["converged"], j' "$TMP/out" ||
    { echo "FAIL: never-ending --json"; failures=$((failures + 1)); }
run 0 estimate --help
has out "0 = no timeout"
finish
