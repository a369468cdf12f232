/* SPDX-License-Identifier: MIT */
/*
 * host_maintain (docs/agent-protocol.md): the host's maintenance action, a shell command run to
 * its end or its timeout. One of the only processes the agent starts (seed 001: never one per
 * message), in its own process group so that a timeout kills all it started.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "hvfleet/alloc.h"

extern char **environ;

#define MAINTAIN_TIMEOUT_MAX_S 86400

int
hvf_agent_host_maintain(void *self, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd, json_t **data,
                        hvf_error *err)
{
    const char *command = json_string_value(json_object_get(cmd->args, "command"));
    json_t *t = json_object_get(cmd->args, "timeout_s");
    int64_t timeout_ms, waited = 0;
    posix_spawnattr_t attr;
    char *argv[] = {"/bin/sh", "-c", (char *)command, NULL};
    pid_t pid;
    int status = 0, rc;

    (void)self;
    if (!command || !*command) {
        hvf_error_set(err, HVF_ERR_INVALID, "host_maintain '%s': args.command: expected a "
                      "shell command", cmd->id);
        return -1;
    }
    if (t && (!json_is_integer(t) || json_integer_value(t) < 0 ||
              json_integer_value(t) > MAINTAIN_TIMEOUT_MAX_S)) {
        hvf_error_set(err, HVF_ERR_INVALID, "host_maintain '%s': args.timeout_s: expected an "
                      "integer from 0 (none) to %d", cmd->id, MAINTAIN_TIMEOUT_MAX_S);
        return -1;
    }
    timeout_ms = t && json_integer_value(t) > 0 ? json_integer_value(t) * 1000
                                                : (int64_t)MAINTAIN_TIMEOUT_MAX_S * 1000;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    rc = posix_spawn(&pid, "/bin/sh", NULL, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        hvf_error_set(err, HVF_ERR_IO, "host_maintain '%s': cannot run /bin/sh: %s", cmd->id,
                      strerror(rc));
        return -1;
    }
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);

        if (w == pid || (w < 0 && errno != EINTR))
            break;
        if (waited >= timeout_ms || !hvf_agent_ctx_sleep_ms(ctx, 100)) {
            kill(-pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            hvf_error_set(err, HVF_ERR_IO, "host_maintain '%s': '%.120s' %s after %" PRId64
                          " s: killed", cmd->id, command,
                          waited >= timeout_ms ? "ran out of time" : "was stopped by the agent",
                          waited / 1000);
            return -1;
        }
        waited += 100;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        hvf_error_set(err, HVF_ERR_IO, "host_maintain '%s': '%.120s' %s %d", cmd->id, command,
                      WIFEXITED(status) ? "exited with status" : "was killed by signal",
                      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return -1;
    }
    *data = json_pack("{s:i}", "exit_status", 0);
    return 0;
}
