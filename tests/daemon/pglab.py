# SPDX-License-Identifier: MIT
"""A real PostgreSQL server for the tests: initdb as the `postgres` user into a temporary
directory, a free port on 127.0.0.1, its socket in that directory; stopped (and its processes
killed by PID) on every path. The server is Debian's postgresql-15 (scripts/install-deps)."""
import atexit
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77


def pg_bindir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def skip_unless_possible():
    """Exits 77 (meson's skip) saying why when no server can be started here."""
    if os.geteuid() != 0:
        print("SKIP: PostgreSQL's initdb must run as the postgres user: needs root")
        sys.exit(SKIP)
    if not pg_bindir() or not shutil.which("runuser"):
        print("SKIP: no PostgreSQL server (scripts/install-deps installs postgresql)")
        sys.exit(SKIP)
    try:
        subprocess.run(["id", "postgres"], check=True, capture_output=True)
    except subprocess.CalledProcessError:
        print("SKIP: no postgres user (scripts/install-deps installs postgresql)")
        sys.exit(SKIP)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name="pg"):
        self.bindir = pg_bindir()
        # under /tmp whatever TMPDIR says: the postgres user must reach it
        self.dir = tempfile.mkdtemp(prefix=f"hvf-{name}-{os.getpid()}-",
                                    dir="/tmp" if os.path.isdir("/tmp") else None)
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        self.port = free_port()
        self.pid = None
        shutil.chown(self.dir, "postgres", "postgres")
        atexit.register(self.cleanup)
        subprocess.run(["runuser", "-u", "postgres", "--", f"{self.bindir}/initdb", "-D",
                        self.data, "-A", "trust", "-U", "postgres", "--no-sync"],
                       check=True, capture_output=True, timeout=120)

    def uri(self, db="postgres"):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def start(self):
        subprocess.run(["runuser", "-u", "postgres", "--", f"{self.bindir}/pg_ctl", "-D",
                        self.data, "-l", self.log, "-o",
                        f"-k {self.dir} -p {self.port} -c listen_addresses=127.0.0.1 "
                        "-c fsync=off -c max_connections=200", "-w", "-t", "60", "start"],
                       check=True, capture_output=True, timeout=90)
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            self.pid = int(f.readline())
        return self

    def stop(self, mode="fast"):
        """Stops the server (`immediate`: as if it crashed)."""
        subprocess.run(["runuser", "-u", "postgres", "--", f"{self.bindir}/pg_ctl", "-D",
                        self.data, "-m", mode, "-w", "-t", "60", "stop"],
                       capture_output=True, timeout=90)
        self.pid = None

    def sql(self, query, db="postgres"):
        """Runs @query with psql; its rows, each a list of fields."""
        out = subprocess.run(["psql", "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                              "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                              "-d", db, "-c", query],
                             check=True, capture_output=True, text=True, timeout=60)
        return [line.split("\t") for line in out.stdout.splitlines() if line]

    def create_db(self, name):
        self.sql(f'CREATE DATABASE "{name}"')
        return self.uri(name)

    def cleanup(self):
        if self.pid:
            try:  # the postmaster and, with it, its backends
                os.kill(self.pid, signal.SIGQUIT)
                for _ in range(100):
                    os.kill(self.pid, 0)
                    time.sleep(0.05)
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.pid = None
        shutil.rmtree(self.dir, ignore_errors=True)
