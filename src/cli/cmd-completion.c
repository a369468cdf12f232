/* SPDX-License-Identifier: MIT */
/*
 * hvfleet completion bash: a bash completion script derived from the command table that
 * `hvfleet --help` prints (main.c) and from each command's getopt table.
 *
 * How the tables are reached: the generator runs each command as `hvfleet CMD [SUB] --help`
 * with its output captured, after setting `introspecting`. A command hands over its option
 * table by calling hvf_cli_options_wanted() before it parses, and a command with subcommands
 * its table by hvf_cli_subcommands_wanted(); both then return at once. A command that makes
 * neither call just prints its help, which has no side effect, and the options named in that
 * help (--word) are taken instead.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/strbuf.h"

static bool introspecting;
static const struct option *found_opts;   /* borrowed: a command's static table */
static const hvf_cli_command *found_subs; /* borrowed */
static size_t found_nsubs;

bool
hvf_cli_options_wanted(const struct option *opts)
{
    if (!introspecting)
        return false;
    found_opts = opts;
    return true;
}

bool
hvf_cli_subcommands_wanted(int argc, char **argv, const hvf_cli_command *subs, size_t n)
{
    if (!introspecting || argc < 2 || strcmp(argv[1], "--help") != 0)
        return false;
    found_subs = subs;
    found_nsubs = n;
    return true;
}

/* Adds the @len bytes at @word to the space-separated @list unless they are there already. */
static void
cc_add_word(hvf_strbuf *list, const char *word, size_t len)
{
    for (const char *p = list->buf; p && *p;) {
        const char *end = strchr(p, ' ');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && strncmp(p, word, len) == 0)
            return;
        p += n + (end != NULL);
    }
    hvf_strbuf_printf(list, "%s%.*s", list->len ? " " : "", (int)len, word);
}

/* The --words of a help text (when a command hands over no table). */
static void
cc_scrape(FILE *fp, hvf_strbuf *list)
{
    char line[1024];

    while (fgets(line, sizeof(line), fp)) {
        for (char *p = line; (p = strstr(p, "--")) != NULL;) {
            size_t n = 2;
            if (p > line && (isalnum((unsigned char)p[-1]) || p[-1] == '-')) {
                p += 2;
                continue;
            }
            while (isalnum((unsigned char)p[n]) || p[n] == '-')
                n++;
            if (n > 2 && isalpha((unsigned char)p[2]))
                cc_add_word(list, p, n);
            p += n;
        }
    }
}

/*
 * Runs @run as `NAME [SUB] --help` in introspection, its output going to a temporary file
 * (returned, rewound; the caller closes it) instead of the terminal. What the command handed
 * over is left in found_opts / found_subs. NULL when the output cannot be redirected.
 */
static FILE *
cc_introspect(int (*run)(int, char **), const char *name, const char *sub)
{
    char *argv[4] = {(char *)name, (char *)(sub ? sub : "--help"), sub ? "--help" : NULL, NULL};
    FILE *cap = tmpfile();
    int saved_out = -1, saved_err = -1;

    if (!cap)
        return NULL;
    fflush(stdout);
    fflush(stderr);
    saved_out = dup(STDOUT_FILENO);
    saved_err = dup(STDERR_FILENO);
    if (saved_out < 0 || saved_err < 0 || dup2(fileno(cap), STDOUT_FILENO) < 0 ||
        dup2(fileno(cap), STDERR_FILENO) < 0) {
        if (saved_out >= 0)
            close(saved_out);
        if (saved_err >= 0)
            close(saved_err);
        fclose(cap);
        return NULL;
    }
    introspecting = true;
    found_opts = NULL;
    found_subs = NULL;
    found_nsubs = 0;
    (void)run(sub ? 3 : 2, argv);
    introspecting = false;
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    close(saved_out);
    close(saved_err);
    rewind(cap);
    return cap;
}

const hvf_cli_command *
hvf_cli_subcommands_of(const hvf_cli_command *cmd, size_t *n)
{
    FILE *cap = cc_introspect(cmd->run, cmd->name, NULL);

    *n = 0;
    if (!cap)
        return NULL;
    fclose(cap);
    *n = found_nsubs;
    return found_subs;
}

/* Collects the options of `NAME [SUB]` into @opts (space-separated) and its subcommands. */
static int
cc_query(int (*run)(int, char **), const char *name, const char *sub, hvf_strbuf *opts,
         const hvf_cli_command **subs, size_t *nsubs)
{
    FILE *cap = cc_introspect(run, name, sub);

    if (!cap)
        return -1;
    if (found_opts) {
        for (const struct option *o = found_opts; o->name; o++) {
            char word[80];
            int n = snprintf(word, sizeof(word), "--%s", o->name);
            cc_add_word(opts, word, (size_t)n);
        }
    } else if (!found_subs) {
        cc_scrape(cap, opts);
    }
    cc_add_word(opts, "--help", 6);
    fclose(cap);
    *subs = found_subs;
    *nsubs = found_nsubs;
    return 0;
}

/* The case arm of one command: its options, or its subcommands and each one's options. */
static int
cc_bash_command(hvf_strbuf *sb, const hvf_cli_command *cmd)
{
    hvf_strbuf opts = HVF_STRBUF_INIT, names = HVF_STRBUF_INIT;
    const hvf_cli_command *subs;
    size_t nsubs;
    int rc = 0;

    if (cc_query(cmd->run, cmd->name, NULL, &opts, &subs, &nsubs) < 0)
        return -1;
    if (!subs) {
        hvf_strbuf_printf(sb, "    %s) opts=\"%s\" ;;\n", cmd->name, opts.buf);
        hvf_strbuf_clear(&opts);
        return 0;
    }
    hvf_strbuf_printf(sb, "    %s)\n        case \"${COMP_WORDS[2]}\" in\n", cmd->name);
    for (size_t s = 0; s < nsubs && rc == 0; s++) {
        hvf_strbuf so = HVF_STRBUF_INIT;
        const hvf_cli_command *ss;
        size_t nss;
        cc_add_word(&names, subs[s].name, strlen(subs[s].name));
        rc = cc_query(cmd->run, cmd->name, subs[s].name, &so, &ss, &nss);
        if (rc == 0)
            hvf_strbuf_printf(sb, "        %s) opts=\"%s\" ;;\n", subs[s].name, so.buf);
        hvf_strbuf_clear(&so);
    }
    hvf_strbuf_printf(sb, "        esac\n        subs=\"%s\"\n        ;;\n",
                      names.buf ? names.buf : "");
    hvf_strbuf_clear(&opts);
    hvf_strbuf_clear(&names);
    return rc;
}

static int
cc_bash(const hvf_cli_command *cmds, size_t ncmds)
{
    hvf_strbuf sb = HVF_STRBUF_INIT, top = HVF_STRBUF_INIT;

    for (size_t i = 0; i < ncmds; i++)
        cc_add_word(&top, cmds[i].name, strlen(cmds[i].name));
    hvf_strbuf_printf(&sb,
                      "# bash completion for hvfleet %s, generated by 'hvfleet completion bash'\n"
                      "# from its command table and each command's option table.\n"
                      "_hvfleet() {\n"
                      "    local cur=${COMP_WORDS[COMP_CWORD]} subs= opts=\n"
                      "    COMPREPLY=()\n"
                      "    if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
                      "        COMPREPLY=($(compgen -W \"%s --help --version\" -- \"$cur\"))\n"
                      "        return 0\n"
                      "    fi\n"
                      "    case \"${COMP_WORDS[1]}\" in\n",
                      HVF_VERSION, top.buf ? top.buf : "");
    hvf_strbuf_clear(&top);
    for (size_t i = 0; i < ncmds; i++) {
        if (cc_bash_command(&sb, &cmds[i]) < 0) {
            hvf_strbuf_clear(&sb);
            fprintf(stderr, "hvfleet: completion: cannot capture 'hvfleet %s --help': %s\n",
                    cmds[i].name, strerror(errno));
            return 2;
        }
    }
    hvf_strbuf_puts(&sb, "    esac\n"
                         "    if [ -n \"$subs\" ] && [ \"$COMP_CWORD\" -eq 2 ]; then\n"
                         "        COMPREPLY=($(compgen -W \"$subs --help\" -- \"$cur\"))\n"
                         "        return 0\n"
                         "    fi\n"
                         "    case \"$cur\" in\n"
                         "    -*) COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\")) ;;\n"
                         "    *) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n"
                         "    esac\n"
                         "    return 0\n"
                         "}\n"
                         "complete -o filenames -F _hvfleet hvfleet\n");
    fputs(sb.buf, stdout);
    hvf_strbuf_clear(&sb);
    return 0;
}

int
hvf_cli_completion(int argc, char **argv)
{
    static const hvf_cli_command shells[] = {{"bash", "a bash completion script", NULL}};

    if (hvf_cli_subcommands_wanted(argc, argv, shells, HVF_ARRAY_LEN(shells)))
        return 0;
    if (argc == 2 && strcmp(argv[1], "bash") == 0)
        return cc_bash(hvf_cli_commands, hvf_cli_ncommands);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: hvfleet completion bash\n"
               "Prints a bash completion script for hvfleet (commands, subcommands, options),\n"
               "derived from the tables behind --help. make install puts it in\n"
               "$PREFIX/share/bash-completion/completions/hvfleet; to try it now:\n"
               "  source <(hvfleet completion bash)\n");
        return 0;
    }
    fprintf(stderr, "hvfleet: completion: expected 'bash'%s%s%s\n", argc >= 2 ? ", got '" : "",
            argc >= 2 ? argv[1] : "", argc >= 2 ? "'" : "");
    return 2;
}
