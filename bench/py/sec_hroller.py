# SPDX-License-Identifier: MIT
"""bench/run section: Ganeti's hroller against hvfleet plan maintenance, both run in the twin."""
import json
import os

from benchlib import exe, fmt_dur, fmt_ratio, fmt_time, med, pct, plan_available, run, table

HROLLER = "/usr/lib/ganeti/3.0/usr/bin/hroller"


def hroller_sizes(full):
    return [40, 400, 2000, 5000] if full else [40, 400, 2000]


def section_hroller(args, out):
    out.emit("\n== Ganeti htools 3.0 (reference maintenance planner): hroller ==")
    hv, peer = exe(args.build, "hvfleet"), exe(args.build, "peer-hroller")
    if not os.access(HROLLER, os.X_OK):
        out.emit("  skipped: %s is missing (scripts/install-deps installs ganeti-htools-3.0)" %
                 HROLLER)
        return
    if not plan_available(hv):
        out.emit("  note: hvfleet plan maintenance is not built: hroller's side only")
    for hosts in hroller_sizes(args.full):
        Cluster(args, out, hv, peer, hosts).bench()


class Cluster:
    """One generated cluster, its htools file, hroller's groups and our two plans."""

    def __init__(self, args, out, hv, peer, hosts):
        self.args, self.out, self.hv, self.peer, self.hosts = args, out, hv, peer, hosts
        self.base = os.path.join(args.out, "hroller-%d" % hosts)
        self.inv = self.base + ".yaml"
        self.gnt = self.base + ".htools"
        self.groups = self.base + ".hroller.txt"
        self.have_plan = plan_available(hv)
        self.plan_timeout = 3600 if args.full else 240

    def prepare(self):
        """Generates the cluster, writes it for htools and reads it back."""
        steps = [[self.hv, "inventory", "generate", "--hosts", str(self.hosts), "--vms-per-host",
                  "20", "--seed", "7", "-o", self.inv],
                 [self.hv, "inventory", "export", "ganeti", self.inv, "-o", self.gnt],
                 [self.hv, "inventory", "import", "ganeti", self.gnt, "-o",
                  self.base + ".imported.yaml", "--json"]]
        for st in steps:
            r = run(st)
            if not r.ok():
                self.out.emit("  %s failed: %s" % (" ".join(st[1:4]), r.err.strip()))
                return None
        try:
            d = json.loads(r.out)
            return "%s nodes, %s instances" % (d.get("hosts", "?"), d.get("vms", "?"))
        except ValueError:
            return "?"

    def plan(self, policy, path):
        argv = [self.hv, "plan", "maintenance", "--inventory", self.inv, "--no-compare", "-o", path]
        return run(argv + (["--policy", policy] if policy else []), timeout=self.plan_timeout)

    def execute(self, kind, path, policy=None):
        r = run([self.peer, kind, self.inv, path] + (["--policy", policy] if policy else []))
        if not r.ok():
            self.out.emit("  peer-hroller %s failed (exit %d): %s" % (kind, r.rc,
                                                                    r.err.strip()[-300:]))
            return None
        return r

    def budget_policy(self, theirs):
        """A policy allowing what hroller's largest group took: as many hosts, as much memory."""
        path = self.base + ".budget-policy.yaml"
        with open(path, "w") as f:
            f.write("schema: hvfleet.policy/v1\n")
            f.write("max_parallel_hosts: %d\n" % theirs.field("peak_offline_hosts", int))
            f.write("max_parallel_per_rack: 0\n")
            f.write("seatbelt: {max_capacity_offline: %.2f%%}\n" %
                    (theirs.field("peak_offline_share") * 100 + 0.005))
        return path

    def bench(self):
        imported = self.prepare()
        if imported is None:
            return
        reps = self.args.reps
        hr, ours = [], []
        for _ in range(reps):
            # --print-moves: hroller's own target for each instance, which the twin then runs
            hr.append(run([HROLLER, "-t", self.gnt, "--full-evacuation", "--print-moves"],
                          timeout=1800, out_file=self.groups))
            if self.have_plan:
                ours.append(self.plan(None, self.base + ".plan.json"))
            if not hr[-1].ok():
                self.out.emit("  hroller failed (exit %d%s): %s" % (
                    hr[-1].rc, ", timed out" if hr[-1].timed_out else "", hr[-1].err.strip()))
                return
        theirs_x = self.execute("groups", self.groups)
        budget, ours_b, ours_bx, ours_x = None, [], None, None
        if self.have_plan and theirs_x:
            budget = self.budget_policy(theirs_x)
            for _ in range(reps):
                ours_b.append(self.plan(budget, self.base + ".budget-plan.json"))
                if not ours_b[-1].ok():
                    break
            if ours_b[-1].ok():
                ours_bx = self.execute("plan", self.base + ".budget-plan.json", budget)
        if ours and ours[-1].ok():
            ours_x = self.execute("plan", self.base + ".plan.json")
        self.print_table(imported, hr, ours_b, ours, theirs_x, ours_bx, ours_x)
        for name, rs in (("plan maintenance", ours), ("plan maintenance (budget)", ours_b)):
            if rs and rs[-1].timed_out:
                self.out.emit("  note: %s did not finish within %s (killed)" %
                              (name, fmt_time(self.plan_timeout)))
            elif rs and not rs[-1].ok():
                self.out.emit("  %s failed (exit %d): %s" % (name, rs[-1].rc,
                                                             rs[-1].err.strip()[-300:]))

    def print_table(self, imported, hr, ours_b, ours, theirs_x, ours_bx, ours_x):
        hr_ok = [r for r in hr if r.ok()]
        ob = [r for r in ours_b if r.ok()]
        od = [r for r in ours if r.ok()]
        groups = [l for l in hr_ok[0].out.splitlines()
                  if l.strip() and not l.startswith("'") and not l.startswith(" ")]
        pb = plan_summary(self.base + ".budget-plan.json") if ob else {}
        pd = plan_summary(self.base + ".plan.json") if od else {}

        def timing(key, fmt):
            a, b, c = (med([getattr(r, key) for r in rs]) for rs in (ob, od, hr_ok))
            killed = "> %s (killed)" % fmt_time(self.plan_timeout) if key == "wall" and \
                ours_b and ours_b[-1].timed_out else "-"
            return [fmt(a) if a is not None else killed, fmt(b) if b is not None else "-", fmt(c),
                    fmt_ratio(c, a)]

        mib = lambda v: "%.0f MiB" % v
        rows = [
            ["planning wall time (median of %d)" % len(hr_ok)] + timing("wall", fmt_time),
            ["planning CPU time"] + timing("cpu", fmt_time),
            ["planning peak RSS"] + timing("rss_mib", mib),
            ["hosts at once (planned) / reboot groups", pb.get("parallel", "-"),
             pd.get("parallel", "-"), "%d groups of up to %d" % (
                 len(groups), max(len(l.split(",")) for l in groups)), ""],
            ["predicted makespan", fmt_dur(pb.get("makespan_s")), fmt_dur(pd.get("makespan_s")),
             "none", ""],
            ["seatbelt verdict", pb.get("verdict", "-"), pd.get("verdict", "-"), "none", ""],
            ["executed in the twin:", "", "", "", ""],
        ] + exec_rows(ours_bx, ours_x, theirs_x)
        table("%d nodes, %d instances (generated, seed 7; htools text from hvf_ganeti_format, read "
              "back as %s). hvfleet (budget): a policy allowing as many hosts and as much memory "
              "out of service as hroller's largest group; hvfleet (defaults): 2 hosts at once, "
              "one per rack; ratio: hroller / hvfleet (budget)" % (self.hosts, self.hosts * 20,
                                                                   imported),
              ["figure", "hvfleet (budget)", "hvfleet (defaults)", "hroller", "ratio"], rows,
              self.out)
        self.cost_note(ours_bx, theirs_x)

    def cost_note(self, ob, th):
        """One sentence: what hroller's ignorance of migration time and room costs."""
        try:
            t_mk, t_park = th.field("makespan_s"), th.field("vms_parked", int)
            t_mig = th.field("peak_migrations", int)
        except (AttributeError, KeyError):
            return
        line = ("  cost: hroller's groups, run in the twin, keep %d migrations in flight at once "
                "and shut down %d VMs for lack of room or migratability; makespan %s"
                % (t_mig, t_park, fmt_dur(t_mk)))
        try:
            line += ("; with the same budget, hvfleet's plan shuts down %d (those that cannot "
                     "live-migrate) and takes %s, as it predicted (%+.2f%%)"
                     % (ob.field("vms_parked", int), fmt_dur(ob.field("makespan_s")),
                        pct(ob.field("makespan_s"), ob.field("planned_makespan_s"))))
        except (AttributeError, KeyError):
            pass
        self.out.emit(line)


def exec_rows(ob, od, th):
    """What each tool's output did when executed in the twin."""
    def get(r, k):
        try:
            return r.field(k) if r is not None else None
        except KeyError:
            return None

    def row(label, key, fmt, ratio=True):
        vals = [get(r, key) for r in (ob, od, th)]
        cells = ["-" if v is None else fmt(v) for v in vals]
        return ["  " + label] + cells + [fmt_ratio(vals[2], vals[0]) if ratio and vals[0] and
                                         vals[2] is not None else ""]

    num = lambda v: "%.0f" % v
    share = lambda v: "%.1f%%" % (v * 100)

    def parked(r):
        n, s = get(r, "vms_parked"), get(r, "parked_s")
        return "-" if n is None else "%d, %s down in all" % (n, fmt_dur(s))

    rows = [
        row("makespan (first evacuation to last host back)", "makespan_s", fmt_dur),
        row("hosts out of service at once (peak)", "peak_offline_hosts", num),
        row("capacity out of service at once (peak)", "peak_offline_share", share, False),
        row("migrations at once (peak)", "peak_migrations", num),
        row("migrations completed", "migrations", num),
        row("migrations aborted", "aborted", num, False),
        row("VMs moved more than once", "vms_moved_twice", num),
        row("migrations back to the VM's own host", "returns", num, False),
        row("migrations sent elsewhere than planned", "redirected_steps", num, False),
        ["  VMs shut down instead of migrated", parked(ob), parked(od), parked(th),
         fmt_ratio(get(th, "vms_parked"), get(ob, "vms_parked"))],
        row("peak host memory (used+claimed / usable)", "peak_memory_ratio", share, False),
        row("hosts over-committed", "hosts_over_committed", num, False),
        row("hosts maintained", "hosts_maintained", num, False),
    ]
    for r, col in ((ob, 1), (od, 2)):
        plan_s, done_s = get(r, "planned_makespan_s"), get(r, "makespan_s")
        if plan_s and done_s:
            if len(rows[-1]) == 5 and rows[-1][0].startswith("  executed vs"):
                rows[-1][col] = "%+.2f%%" % pct(done_s, plan_s)
            else:
                cells = ["  executed vs predicted makespan", "-", "-", "", ""]
                cells[col] = "%+.2f%%" % pct(done_s, plan_s)
                rows.append(cells)
    return rows


def plan_summary(path):
    """Hosts at once, predicted makespan and verdict of an hvfleet.plan/v1 file."""
    try:
        with open(path) as f:
            p = json.load(f)
    except (OSError, ValueError):
        return {}
    summ = p.get("summary", {})
    res = {}
    if "makespan_s" in summ:
        res["makespan_s"] = summ["makespan_s"]
    if "max_parallel_hosts_seen" in summ:
        res["parallel"] = "up to %d" % summ["max_parallel_hosts_seen"]
    if "seatbelt" in summ:
        res["verdict"] = summ["seatbelt"].get("verdict", "-")
    return res
