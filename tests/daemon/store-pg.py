# SPDX-License-Identifier: MIT
"""The store's unit tests (tests/unit/store-test.c) again on a real PostgreSQL server: every
record, the append-only journal, a newer schema refused, the lease and its fence."""
import os
import subprocess
import sys

import pglab

pglab.skip_unless_possible()
store_test = sys.argv[1]
pg = pglab.Server("store").start()
uri = pg.create_db("hvf_store_test")
env = dict(os.environ, HVF_TEST_PG=uri)
r = subprocess.run([store_test], env=env, capture_output=True, text=True, timeout=120)
print(r.stdout[-4000:])
print(r.stderr[-4000:], file=sys.stderr)
if r.returncode != 0:
    sys.exit(f"store-test on PostgreSQL failed ({r.returncode})")
if "SKIPPED" in r.stdout and "test_records" not in r.stdout:
    sys.exit("store-test skipped its records on PostgreSQL")
print("store on PostgreSQL: ok")
