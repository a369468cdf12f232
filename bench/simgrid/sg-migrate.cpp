/* SPDX-License-Identifier: MIT */
/*
 * SimGrid's side of the SimGrid comparison: the same migrations as our twin, run by SimGrid's
 * VM live-migration plugin (libsimgrid 3.32, s4u). Built only with `-Dbench=true` when
 * libsimgrid and a C++ compiler are found; bench/run drives it and compares.
 *
 *   sg-migrate single MEM_BYTES DIRTY_BYTES_PER_S CAP_BYTES_PER_S LINK_BYTES_PER_S WS_BYTES
 *       one migration between two hosts linked at LINK, capped at CAP (the plugin's migration
 *       speed); prints "total_s downtime_s wall_s cpu_s".
 *   sg-migrate fleet WORKLOAD
 *       the platform, VMs and migrations written by `peer-simgrid fleet --workload`: each source
 *       host runs SLOTS workers that migrate its VMs in the twin's order to the twin's targets;
 *       prints "mig INDEX START END DOWNTIME" per migration of the file, then wall_s, cpu_s,
 *       sim_end_s, peak_rss_mib, vms_started.
 *   sg-migrate fleet-moving WORKLOAD
 *       the same with only the VMs that migrate: the others compute on their own cores and send
 *       nothing, so the migrations' times are the same, and SimGrid is spared simulating guests
 *       whose only effect is on its own cost (the twin keeps them, as it must for memory).
 *
 * How the plugin is driven, and where it differs from QEMU:
 *  - a guest dirties memory only while it computes: dirtied bytes = flops x speed x intensity /
 *    host speed. Each busy VM runs an endless computation on its one core and gets intensity =
 *    dirty rate / migration speed, so it dirties exactly its dirty rate;
 *  - the downtime target is fixed at 30 ms (no setter), there is no auto-converge, no
 *    post-copy, no switchover cost, and the final copy is sent at the migration speed (QEMU lifts
 *    max-bandwidth for it);
 *  - a migration that never converges keeps sending rounds until its 10^7 s timeout, after
 *    which the receiving actor dies of an uncaught TimeoutException and the whole process aborts
 *    (SIGABRT). bench/run runs this program as a child and reports that instead of crashing.
 */
#include <simgrid/plugins/live_migration.h>
#include <simgrid/s4u.hpp>

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace sg4 = simgrid::s4u;

namespace
{

constexpr double HOST_SPEED = 1e9;  /* flops per core; only ratios matter to the plugin */
constexpr double LOAD_FLOPS = 1e14; /* one chunk of a busy guest's endless computation */
constexpr int MIN_CORES = 1024;

/* One migration, in the twin's start order. */
struct Mig {
    int vm = 0, from = 0, to = 0;
    int seq = 0; /* how many earlier migrations of the same VM must end first */
    double start = -1, end = -1, suspended = -1, downtime = 0;
};

struct Vm {
    std::string name;
    int host = 0;
    double mem = 0, dirty = 0, ws = 0;
    sg4::VirtualMachine *vm = nullptr;
    Mig *cur = nullptr; /* migration in flight */
    int moves = 0;      /* migrations completed */
    bool moving = false; /* some migration of the workload moves it */
};

struct Platform {
    std::vector<sg4::Host *> hosts;
    std::vector<double> nic; /* bytes/s per direction */
    std::vector<Vm> vms;
};

double
wall_now()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

double
cpu_now()
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double
peak_rss_mib()
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

void
configure()
{
    /* CM02: max-min sharing without LV08's TCP correction factors, as the twin shares links */
    sg4::Engine::set_config("network/model:CM02");
    sg4::Engine::set_config("network/crosstraffic:0");
    sg_vm_live_migration_plugin_init();
    /* the plugin suspends the guest for its stop-and-copy stage and resumes it on arrival */
    sg4::VirtualMachine::on_suspend_cb([](sg4::VirtualMachine const &vm) {
        auto *v = vm.get_data<Vm>();
        if (v && v->cur)
            v->cur->suspended = sg4::Engine::get_clock();
    });
    sg4::VirtualMachine::on_resume_cb([](sg4::VirtualMachine const &vm) {
        auto *v = vm.get_data<Vm>();
        if (v && v->cur && v->cur->suspended >= 0)
            v->cur->downtime = sg4::Engine::get_clock() - v->cur->suspended;
    });
}

/* Hosts of a star zone, one split-duplex NIC link each, and a non-blocking backbone. */
void
build_hosts(Platform &pf, const std::vector<std::pair<std::string, double>> &nics,
            const std::vector<int> &cores)
{
    auto *zone = sg4::create_star_zone("fleet");
    /* FATPIPE: every flow gets its full bandwidth, like the twin without rack uplink limits */
    auto *backbone = zone->create_link("backbone", 1e13)
                         ->set_sharing_policy(sg4::Link::SharingPolicy::FATPIPE)
                         ->set_latency(0)
                         ->seal();

    for (size_t i = 0; i < nics.size(); i++) {
        /* a busy guest computes on one full core to dirty memory (see above): give hosts a core
         * for every guest that may land there, so that guests never slow each other down,
         * as in the twin, where their CPU load is a fraction of a core */
        auto *h = zone->create_host(nics[i].first, HOST_SPEED)
                      ->set_core_count(std::max(cores[i], MIN_CORES))
                      ->seal();
        auto *nic = zone->create_split_duplex_link(nics[i].first + "-nic", nics[i].second)
                        ->set_latency(0)
                        ->seal();
        zone->add_route(h->get_netpoint(), nullptr, nullptr, nullptr,
                        {{nic, sg4::LinkInRoute::Direction::UP}, sg4::LinkInRoute(backbone)}, true);
        pf.hosts.push_back(h);
        pf.nic.push_back(nics[i].second);
    }
    zone->seal();
}

void
start_vm(Platform &pf, Vm &v, double speed)
{
    v.vm = pf.hosts[v.host]->create_vm(v.name, 1, static_cast<size_t>(v.mem));
    v.vm->set_data(&v);
    v.vm->start();
    sg_vm_set_migration_speed(v.vm, speed);
    sg_vm_set_working_set_memory(v.vm, static_cast<sg_size_t>(v.ws));
    sg_vm_set_dirty_page_intensity(v.vm, v.dirty / speed);
    if (v.dirty > 0) {
        sg4::Actor::create(v.name + "-load", v.vm, [] {
            sg4::Actor::self()->daemonize();
            for (;;)
                sg4::this_actor::execute(LOAD_FLOPS);
        });
    }
}

void
migrate(Vm &v, Mig &m, sg4::Host *to)
{
    v.cur = &m;
    m.start = sg4::Engine::get_clock();
    sg_vm_migrate(v.vm, to);
    m.end = sg4::Engine::get_clock();
    v.cur = nullptr;
    v.moves++;
}

int
run_single(int argc, char **argv)
{
    Platform pf;
    Vm v;
    Mig m;
    double cap = atof(argv[4]), link = atof(argv[5]), t0, c0;

    v.name = "vm";
    v.mem = atof(argv[2]);
    v.dirty = atof(argv[3]);
    v.ws = atof(argv[6]);
    if (v.mem <= 0 || v.dirty < 0 || cap <= 0 || link <= 0 || v.ws <= 0) {
        fprintf(stderr, "sg-migrate: single: expected MEM DIRTY CAP LINK WS, all > 0 but DIRTY\n");
        return 2;
    }
    (void)argc;
    t0 = wall_now();
    c0 = cpu_now();
    build_hosts(pf, {{"src", link}, {"dst", link}}, {4, 4});
    start_vm(pf, v, cap);
    sg4::Actor::create("migrate", pf.hosts[0], [&pf, &v, &m] { migrate(v, m, pf.hosts[1]); });
    sg4::Engine::get_instance()->run();
    printf("%.6f %.6f %.6f %.6f\n", m.end - m.start, m.downtime, wall_now() - t0, cpu_now() - c0);
    return 0;
}

int
load_workload(const char *path, Platform &pf, std::vector<Mig> &migs, int &slots)
{
    std::ifstream in(path);
    std::string line, kind;
    std::vector<std::pair<std::string, double>> nics;
    std::vector<int> cores;
    int lineno = 0;

    if (!in) {
        fprintf(stderr, "sg-migrate: %s: cannot open\n", path);
        return -1;
    }
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        lineno++;
        ls >> kind;
        if (kind == "hvfleet-simgrid-workload") {
            continue;
        } else if (kind == "slots") {
            ls >> slots;
        } else if (kind == "host") {
            std::string name;
            double nic = 0;
            int c = 1;
            ls >> name >> nic >> c;
            nics.emplace_back(name, nic);
            cores.push_back(c);
        } else if (kind == "vm") {
            Vm v;
            ls >> v.name >> v.host >> v.mem >> v.dirty >> v.ws;
            pf.vms.push_back(v);
        } else if (kind == "mig") {
            Mig m;
            ls >> m.vm >> m.from >> m.to;
            migs.push_back(m);
        } else {
            fprintf(stderr, "sg-migrate: %s:%d: unknown line kind '%s'\n", path, lineno,
                    kind.c_str());
            return -1;
        }
        if (ls.fail()) {
            fprintf(stderr, "sg-migrate: %s:%d: malformed '%s' line\n", path, lineno, kind.c_str());
            return -1;
        }
    }
    for (const Vm &v : pf.vms) {
        if (v.host < 0 || static_cast<size_t>(v.host) >= nics.size()) {
            fprintf(stderr, "sg-migrate: %s: VM %s on host %d: no such host\n", path,
                    v.name.c_str(), v.host);
            return -1;
        }
    }
    std::vector<int> seen(pf.vms.size(), 0);
    for (Mig &m : migs) {
        if (m.vm < 0 || static_cast<size_t>(m.vm) >= pf.vms.size() || m.to < 0 ||
            static_cast<size_t>(m.to) >= nics.size() || m.from < 0 ||
            static_cast<size_t>(m.from) >= nics.size()) {
            fprintf(stderr,
                    "sg-migrate: %s: migration of VM %d from %d to %d: no such VM or host\n", path,
                    m.vm, m.from, m.to);
            return -1;
        }
        m.seq = seen[m.vm]++;
        pf.vms[m.vm].moving = true;
    }
    build_hosts(pf, nics, cores);
    return 0;
}

int
run_fleet(const char *path, bool moving_only)
{
    Platform pf;
    std::vector<Mig> migs;
    std::vector<std::deque<Mig *>> queues;
    sg4::ConditionVariablePtr moved;
    sg4::MutexPtr lock;
    int slots = 2;
    double t0 = wall_now(), c0 = cpu_now();

    if (load_workload(path, pf, migs, slots) < 0)
        return 2;
    moved = sg4::ConditionVariable::create();
    lock = sg4::Mutex::create();
    /* the migration speed is the source NIC: a cap that never binds, as the twin sets none */
    int started = 0;
    for (Vm &v : pf.vms) {
        if (moving_only && !v.moving)
            continue;
        start_vm(pf, v, pf.nic[v.host]);
        started++;
    }
    queues.resize(pf.hosts.size());
    for (Mig &m : migs)
        queues[m.from].push_back(&m);
    for (size_t h = 0; h < queues.size(); h++) {
        if (queues[h].empty())
            continue;
        for (int s = 0; s < slots; s++) {
            auto *q = &queues[h];
            sg4::Actor::create(pf.hosts[h]->get_name() + "-evac" + std::to_string(s), pf.hosts[h],
                               [q, &pf, moved, lock] {
                                   while (!q->empty()) {
                                       Mig *m = q->front();
                                       Vm &v = pf.vms[m->vm];
                                       q->pop_front();
                                       /* a VM the twin moved twice leaves its second host only once
                                        * there */
                                       if (v.moves < m->seq) {
                                           std::unique_lock<sg4::Mutex> lk(*lock);
                                           while (v.moves < m->seq)
                                               moved->wait(lk);
                                       }
                                       migrate(v, *m, pf.hosts[m->to]);
                                       moved->notify_all();
                                   }
                               });
        }
    }
    sg4::Engine::get_instance()->run();
    for (size_t i = 0; i < migs.size(); i++)
        printf("mig %zu %.6f %.6f %.6f\n", i, migs[i].start, migs[i].end, migs[i].downtime);
    printf("wall_s %.6f\ncpu_s %.6f\nsim_end_s %.6f\npeak_rss_mib %.1f\nvms_started %d\n",
           wall_now() - t0, cpu_now() - c0, sg4::Engine::get_clock(), peak_rss_mib(), started);
    return 0;
}

int
usage()
{
    fprintf(stderr, "usage: sg-migrate single MEM DIRTY CAP LINK WS\n"
                    "       sg-migrate fleet WORKLOAD\n"
                    "       sg-migrate fleet-moving WORKLOAD\n");
    return 2;
}

} // namespace

int
main(int argc, char **argv)
{
    /* quiet by default; --log=... on the command line still overrides */
    xbt_log_control_set("root.thres:critical");
    sg4::Engine e(&argc, argv);

    if (argc < 2)
        return usage();
    configure();
    if (std::string(argv[1]) == "single" && argc == 7)
        return run_single(argc, argv);
    if (std::string(argv[1]) == "fleet" && argc == 3)
        return run_fleet(argv[2], false);
    if (std::string(argv[1]) == "fleet-moving" && argc == 3)
        return run_fleet(argv[2], true);
    return usage();
}
