/* SPDX-License-Identifier: MIT */
/*
 * rss-run: runs one command and reports what it alone cost, for bench/run.
 *
 *   rss-run REPORT_FILE COMMAND [ARGS...]
 *
 * Writes "maxrss_kib USER_S SYSTEM_S" to REPORT_FILE and exits with the command's status
 * (128 + N when signal N killed it). Why not wait4() in bench/run itself: Linux keeps the
 * largest RSS a process had over its whole life, exec included, and a child of Python starts as
 * a copy of Python (~10-20 MiB). Forked from this small program instead, the figure is the
 * command's own, give or take this program's ~1 MiB.
 *
 * The command dies with this program (PR_SET_PDEATHSIG), so a timeout that kills rss-run by its
 * pid leaves nothing behind.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    struct rusage ru;
    pid_t parent = getpid();
    pid_t pid;
    int status;
    FILE *rep;

    if (argc < 3) {
        fprintf(stderr, "usage: rss-run REPORT_FILE COMMAND [ARGS...]\n");
        return 2;
    }
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "rss-run: fork: %s\n", strerror(errno));
        return 2;
    }
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
            _exit(127);
        execvp(argv[2], argv + 2);
        fprintf(stderr, "rss-run: %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "rss-run: wait4: %s\n", strerror(errno));
            return 2;
        }
    }
    rep = fopen(argv[1], "w");
    if (!rep ||
        fprintf(rep, "%ld %.6f %.6f\n", ru.ru_maxrss,
                (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
                (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6) < 0 ||
        fclose(rep) != 0) {
        fprintf(stderr, "rss-run: %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
