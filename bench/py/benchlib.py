# SPDX-License-Identifier: MIT
"""Shared helpers of bench/run: child processes measured by wait4(), medians, tables."""
import os
import platform
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time

class Result:
    """One child process: exit status, output, and what wait4() says it cost."""

    def __init__(self, rc, out, err, wall, cpu, rss_mib, timed_out):
        self.rc, self.out, self.err = rc, out, err
        self.wall, self.cpu, self.rss_mib, self.timed_out = wall, cpu, rss_mib, timed_out

    def ok(self):
        return self.rc == 0 and not self.timed_out

    def field(self, key, cast=float):
        """The value of the first "key value" line of the output."""
        for line in self.out.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == key:
                return cast(parts[1])
        raise KeyError("%s: no '%s' in the output" % (self.argv0, key))


# BUILD/bench/rss-run, set by set_launcher(): measures a child alone (see bench/rss-run.c).
LAUNCHER = None


def set_launcher(build):
    global LAUNCHER
    LAUNCHER = exe(build, "rss-run")


def run(argv, timeout=None, out_file=None):
    """Runs argv with stdout/stderr captured in files; measures it alone.

    Through rss-run when it is built: the peak RSS and CPU time are the command's own. Without
    it, wait4() here counts the Python process the child was forked from in its peak RSS.
    """
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe, \
            tempfile.NamedTemporaryFile(prefix="rss-run.") as rep:
        t0 = time.monotonic()
        full = [LAUNCHER, rep.name] + list(argv) if LAUNCHER else argv
        p = subprocess.Popen(full, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL)
        state = {"done": False, "killed": False}
        lock = threading.Lock()

        def on_timeout():
            with lock:
                if not state["done"]:
                    state["killed"] = True
                    os.kill(p.pid, signal.SIGKILL)  # our own child, by its pid

        timer = threading.Timer(timeout, on_timeout) if timeout else None
        if timer:
            timer.start()
        _, status, ru = os.wait4(p.pid, 0)
        with lock:
            state["done"] = True
        wall = time.monotonic() - t0
        if timer:
            timer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
        cpu, rss_kib = ru.ru_utime + ru.ru_stime, ru.ru_maxrss
        if LAUNCHER:
            rep.seek(0)
            fields = rep.read().split()
            if len(fields) == 3:
                rss_kib, cpu = int(fields[0]), float(fields[1]) + float(fields[2])
            # rss-run passes the command's status on, a signal as 128 + N
            if p.returncode > 128:
                p.returncode = -(p.returncode - 128)
        fo.seek(0)
        fe.seek(0)
        out = fo.read().decode("utf-8", "replace")
        err = fe.read().decode("utf-8", "replace")
    if out_file:
        with open(out_file, "w") as f:
            f.write(out)
    r = Result(p.returncode, out, err, wall, cpu, rss_kib / 1024.0, state["killed"])
    r.argv0 = os.path.basename(argv[0])
    return r


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_time(s):
    if s is None:
        return "-"
    if s < 1e-3:
        return "%.1f us" % (s * 1e6)
    if s < 1:
        return "%.1f ms" % (s * 1e3)
    if s < 600:
        return "%.2f s" % s
    return "%.1f min" % (s / 60)


def fmt_ratio(theirs, ours):
    if theirs is None or ours is None or ours <= 0:
        return "-"
    r = theirs / ours
    return "%.0fx" % r if r >= 100 else "%.1fx" % r if r >= 1 else "%.2fx" % r


def fmt_dur(s):
    """Simulated durations (makespans, migrations)."""
    if s is None:
        return "-"
    if s < 120:
        return "%.1f s" % s
    if s < 7200:
        return "%.1f min" % (s / 60)
    return "%.2f h" % (s / 3600)


def pct(a, b):
    return None if b in (None, 0) or a is None else (a - b) / b * 100.0


def table(title, header, rows, out):
    """Prints rows (lists of strings) under header with aligned columns."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = ["", title, "  " + "  ".join(h.ljust(w) for h, w in zip(header, widths)),
             "  " + "  ".join("-" * w for w in widths)]
    for r in rows:
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  " + "  ".join(cells))
    out.emit("\n".join(lines))


class Report:
    """Prints as it goes and keeps a copy for DIR/report.txt."""

    def __init__(self, path):
        self.path = path
        self.text = []

    def emit(self, s=""):
        print(s, flush=True)
        self.text.append(s)

    def save(self):
        with open(self.path, "w") as f:
            f.write("\n".join(self.text) + "\n")


def machine(out):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    out.emit("hvfleet bench, %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    out.emit("machine: %s" % " ".join(platform.uname()))
    out.emit("cpus: %d (%s); load average at start: %s" %
             (os.cpu_count(), cpu, " ".join("%.2f" % x for x in os.getloadavg())))


def ensure_built(build):
    """Builds the bench programs; turns on -Dbench=true when SimGrid can be built."""
    want_sg = shutil.which("pkg-config") and subprocess.call(
        ["pkg-config", "--exists", "simgrid"]) == 0 and shutil.which("c++")
    if want_sg and not os.path.exists(os.path.join(build, "bench", "sg-migrate")):
        subprocess.check_call(["meson", "configure", build, "-Dbench=true"],
                              stdout=subprocess.DEVNULL)
    subprocess.check_call(["ninja", "-C", build], stdout=subprocess.DEVNULL)


def exe(build, name):
    """BUILD/bench/NAME, BUILD/bench/*/NAME or BUILD/src/cli/NAME, if built."""
    dirs = [os.path.join(build, "bench"), os.path.join(build, "src", "cli")]
    bench = dirs[0]
    if os.path.isdir(bench):
        dirs += sorted(os.path.join(bench, d) for d in os.listdir(bench)
                       if os.path.isdir(os.path.join(bench, d)) and not d.endswith(".p"))
    for d in dirs:
        p = os.path.join(d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def plan_available(hv):
    return bool(hv) and run([hv, "plan", "maintenance", "--help"]).ok()
