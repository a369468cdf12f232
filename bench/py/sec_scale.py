# SPDX-License-Identifier: MIT
"""bench/run sections: migration fidelity (QEMU) and scale (twin, planner)."""
import os
import re

from benchlib import exe, fmt_time, med, plan_available, run, table


def section_fidelity(args, out):
    """bench/migration-fidelity (the qemu branch's): real QEMU migrations beside our model."""
    prog = exe(args.build, "migration-fidelity")
    out.emit("\n== Migration fidelity: the model against real QEMU ==")
    if not prog:
        out.emit("  skipped: migration-fidelity is not built in %s/bench" % args.build)
        return
    path = os.path.join(args.out, "migration-fidelity.txt")
    record = ["--out", os.path.join(args.out, "migration-fidelity.json")]
    r = run([prog, "--full" if args.full else "--quick"] + record, out_file=path)
    if r.rc == 2 and not args.full and ("usage" in r.err or "option" in r.err):
        r = run([prog] + record, out_file=path)  # no --quick: the quick set is its default
    out.emit(r.out.rstrip())
    if r.timed_out or r.rc not in (0, 1):
        out.emit("  migration-fidelity failed (exit %d): %s" % (r.rc, r.err.strip()[-400:]))
    elif r.rc == 1:
        out.emit("  (migration-fidelity: goal missed, see above)")
    out.emit("  (%s wall)" % fmt_time(r.wall))


def scale_sizes(full):
    return [1000, 10000, 50000] if full else [1000, 10000]


def twin_scale_figures(r):
    """Run wall time, events per second and migrations per wall second, as twin-scale gives them."""
    m = re.search(r"run\s+([\d.]+) s wall", r.out)
    e = re.search(r"engine events\s+\d+ \((\d+) per s\)", r.out)
    g = re.search(r"migrations\s+\d+ completed, \d+ aborted, (\d+) per wall s", r.out)
    if not (m and e and g):
        raise ValueError("twin-scale: unexpected output:\n" + r.out)
    return float(m.group(1)), int(e.group(1)), int(g.group(1))


def section_scale(args, out):
    out.emit("\n== Scale: the twin and the planner on generated fleets (20 VMs per host) ==")
    ts = exe(args.build, "twin-scale")
    rows = []
    for hosts in scale_sizes(args.full):
        rs = [run([ts, "fleet", "--hosts", str(hosts)]) for _ in range(args.reps)]
        good = [r for r in rs if r.ok()]
        if not good:
            out.emit("  twin-scale --hosts %d failed: %s" % (hosts, rs[0].err.strip()))
            continue
        figs = [twin_scale_figures(r) for r in good]
        rows.append(["%d hosts, %d VMs: fleet-wide maintenance" % (hosts, hosts * 20),
                     fmt_time(med([f[0] for f in figs])), "%.0f" % med([f[1] for f in figs]),
                     "%.0f" % med([f[2] for f in figs]),
                     "%.0f MiB" % med([r.rss_mib for r in good])])
    table("twin (naive scheduler over a day, 2 migrations per host, claims; run time only, "
          "median of %d)" % args.reps,
          ["fleet", "wall", "events/s", "migrations/s", "peak RSS"], rows, out)
    scale_planner(args, out)


def scale_planner(args, out):
    """bench/plan-scale when built (same generator and seed as twin-scale), else the CLI."""
    ps = exe(args.build, "plan-scale")
    hv = exe(args.build, "hvfleet")
    if not ps and not plan_available(hv):
        out.emit("\nplanner: skipped (neither bench/plan-scale nor hvfleet plan maintenance is "
                 "built)")
        return
    rows = []
    for hosts in scale_sizes(args.full):
        if ps:
            rs = [run([ps, "--hosts", str(hosts)],
                      out_file=os.path.join(args.out, "plan-scale-%d.txt" % hosts))
                  for _ in range(args.reps)]
        else:
            inv = os.path.join(args.out, "scale-%d.yaml" % hosts)
            gen = run([hv, "inventory", "generate", "--hosts", str(hosts), "--vms-per-host", "20",
                       "--seed", "42", "-o", inv])
            if not gen.ok():
                out.emit("  inventory generate --hosts %d failed: %s" % (hosts, gen.err.strip()))
                continue
            rs = [run([hv, "plan", "maintenance", "--inventory", inv, "--no-compare", "-o",
                       os.path.join(args.out, "scale-%d.plan.json" % hosts)])
                  for _ in range(args.reps)]
        good = [r for r in rs if r.ok()]
        if not good:
            out.emit("  planner (%d hosts) failed (exit %d): %s" % (hosts, rs[0].rc,
                                                                  rs[0].err.strip()[-300:]))
            continue
        rows.append(["%d hosts, %d VMs: every host" % (hosts, hosts * 20),
                     fmt_time(med([r.wall for r in good])), fmt_time(med([r.cpu for r in good])),
                     "%.0f MiB" % med([r.rss_mib for r in good]), plan_scale_line(good[0])])
    table("planner (%s, every host maintained; whole process incl. fleet generation, median of "
          "%d)" % ("bench/plan-scale: one host per rack, up to 250 at once" if ps else
                   "hvfleet plan maintenance, default policy", args.reps),
          ["fleet", "wall", "CPU", "peak RSS", "plan"], rows, out)


def plan_scale_line(r):
    """The plan's own summary from plan-scale's or the CLI's output."""
    m = re.search(r"makespan ([^,]+), up to (\d+) hosts", r.out)
    if not m:
        m = re.search(r"makespan: (.+?) for .*?up to (\d+) hosts", r.out)
    return "makespan %s, %s at once" % (m.group(1), m.group(2)) if m else ""
