// wflo-sandbox-launcher — runs one program under wflo's sandbox.
//
//   wflo-sandbox-launcher [options] -- PROGRAM [ARG...]   run it
//   wflo-sandbox-launcher --export-bpf none|tcp|any        print the seccomp filter (BPF)
//   wflo-sandbox-launcher --check                          which layers work here
//
// Protocol with the runtime: fds 0-2 are the program's; fd 3 receives key=value lines (the
// program's exit or signal, why it was stopped, CPU time, or `layer=` and `error=` when it could
// not be started: the launcher then exits 125); fd 4, with --bpf-fd, holds the exported filter
// (compiled once by the runtime, so a launch does not pay for libseccomp's compiler). SIGTERM to
// the launcher stops the program the way the wall limit does: SIGTERM to the whole tree, then
// SIGKILL after the grace period.
#include "launcher.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void usage(const char *problem) {
    fprintf(stderr, "wflo-sandbox-launcher: %s\n"
            "usage: wflo-sandbox-launcher [--backend process|namespaces] [--network none|tcp|any] --scratch DIR\n"
            "       [--newroot DIR] [--rootfs DIR] [--read-only PATH]... [--tcp-connect PORT]... [--tcp-bind PORT]...\n"
            "       [--wall-ms N] [--grace-ms N] [--cpu-seconds N] [--memory BYTES] [--file-size BYTES] [--processes N]\n"
            "       [--open-files N] [--tmpfs BYTES] [--allow-missing LAYER,...] [--assume-missing LAYER,...] [--bpf-fd]\n"
            "       -- PROGRAM [ARG...]\n"
            "       wflo-sandbox-launcher --export-bpf none|tcp|any\n"
            "       wflo-sandbox-launcher --check\n", problem);
    exit(2);
}

static long long number(const char *text, const char *option) {
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno || *end || value < 0) {
        char message[256];
        snprintf(message, sizeof message, "%s needs a whole number, not '%s'", option, text);
        usage(message);
    }
    return value;
}

static enum network_mode network_named(const char *name) {
    if (!strcmp(name, "none")) return NET_NONE;
    if (!strcmp(name, "tcp")) return NET_TCP;
    if (!strcmp(name, "any")) return NET_ANY;
    usage("--network is none, tcp or any");
    return NET_NONE;
}

static unsigned layers_named(const char *list) {
    unsigned bits = 0;
    char copy[256];
    snprintf(copy, sizeof copy, "%s", list);
    for (char *save = NULL, *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        if (!strcmp(name, "landlock")) bits |= LAYER_LANDLOCK | LAYER_LANDLOCK_NET | LAYER_LANDLOCK_SCOPE;
        else if (!strcmp(name, "seccomp")) bits |= LAYER_SECCOMP;
        else if (!strcmp(name, "uid")) bits |= LAYER_UID;
        else if (!strcmp(name, "landlock-net")) bits |= LAYER_LANDLOCK_NET;
        else if (!strcmp(name, "landlock-scope")) bits |= LAYER_LANDLOCK_SCOPE;
        else usage("--allow-missing takes landlock, landlock-net, landlock-scope, seccomp, uid");
    }
    return bits;
}

static void parse(int argc, char **argv, struct config *config) {
    config->grace_ms = 1000;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--")) {
            if (i + 1 >= argc) usage("no program after --");
            config->argv = argv + i + 1;
            return;
        }
        if (!strcmp(arg, "--bpf-fd")) { config->use_bpf_fd = true; continue; }
        if (i + 1 >= argc) usage("an option is missing its value");
        const char *value = argv[++i];
        if (!strcmp(arg, "--backend")) {
            if (!strcmp(value, "process")) config->backend = BACKEND_PROCESS;
            else if (!strcmp(value, "namespaces")) config->backend = BACKEND_NAMESPACES;
            else usage("--backend is process or namespaces");
        } else if (!strcmp(arg, "--network")) config->network = network_named(value);
        else if (!strcmp(arg, "--scratch")) config->scratch = value;
        else if (!strcmp(arg, "--read-only")) {
            if (config->read_only_count >= MAX_PORTS) usage("too many --read-only paths");
            config->read_only[config->read_only_count++] = value;
        }
        else if (!strcmp(arg, "--newroot")) config->newroot = value;
        else if (!strcmp(arg, "--rootfs")) config->rootfs = value;
        else if (!strcmp(arg, "--tcp-connect") || !strcmp(arg, "--tcp-bind")) {
            long long port = number(value, arg);
            if (port < 1 || port > 65535) usage("a port is 1-65535");
            bool connect = !strcmp(arg, "--tcp-connect");
            int *count = connect ? &config->tcp_connect_count : &config->tcp_bind_count;
            if (*count == MAX_PORTS) usage("too many ports");
            (connect ? config->tcp_connect : config->tcp_bind)[(*count)++] = (uint16_t)port;
        }
        else if (!strcmp(arg, "--wall-ms")) config->wall_ms = (long)number(value, arg);
        else if (!strcmp(arg, "--grace-ms")) config->grace_ms = (long)number(value, arg);
        else if (!strcmp(arg, "--cpu-seconds")) config->cpu_seconds = (long)number(value, arg);
        else if (!strcmp(arg, "--memory")) config->memory_bytes = number(value, arg);
        else if (!strcmp(arg, "--file-size")) config->file_bytes = number(value, arg);
        else if (!strcmp(arg, "--processes")) config->processes = (long)number(value, arg);
        else if (!strcmp(arg, "--open-files")) config->open_files = (long)number(value, arg);
        else if (!strcmp(arg, "--tmpfs")) config->tmpfs_bytes = number(value, arg);
        else if (!strcmp(arg, "--allow-missing")) config->allow_missing = layers_named(value);
        else if (!strcmp(arg, "--assume-missing")) config->assume_missing = layers_named(value);
        else usage("unknown option");
    }
    usage("no program: give it after --");
}

void restrict_and_exec(const struct config *config, bool drop, uid_t uid, gid_t gid, bool filesystem) {
    pid_t supervisor = getppid();
    fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC);
    fcntl(BPF_FD, F_SETFD, FD_CLOEXEC);
    limits_apply(config);
    if (drop) drop_identity(uid, gid, config->backend == BACKEND_PROCESS);
    // After the identity change, which clears the parent-death signal: the program dies with its
    // supervisor. If the supervisor is already gone, stop here.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != supervisor) _exit(125);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("no_new_privs", "PR_SET_NO_NEW_PRIVS failed: %s", strerror(errno));
    landlock_apply(config, filesystem);
    const char *directory = config->backend == BACKEND_NAMESPACES ? "/scratch" : config->scratch;
    if (chdir(directory) != 0) fail("scratch", "cannot enter the scratch directory %s: %s", directory, strerror(errno));
    seccomp_apply(config);
    exec_program(config->argv);
}

/// `--check`: tries each layer in a throwaway child and prints what works, key=value per line.
static int check(void) {
    int abi = landlock_abi(NULL);
    if (abi >= 1) printf("landlock=ok ABI %d%s%s\n", abi, abi >= 4 ? ", TCP port rules" : "", abi >= 6 ? ", signal and abstract-socket scoping" : "");
    else printf("landlock=missing %s\n", abi == -ENOSYS ? "the kernel has no Landlock system calls" : abi == -EOPNOTSUPP ? "Landlock is disabled at boot (add landlock to lsm=)" : strerror(-abi));
    struct config trial = {.network = NET_NONE, .scratch = "/", .grace_ms = 0};
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STATUS_FD);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(3);
        seccomp_apply(&trial);
        _exit(syscall(SYS_ptrace, 0, 0, 0, 0) == -1 && errno == EPERM ? 0 : 4);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) printf("seccomp=ok allowlist filter loads; ptrace fails with EPERM\n");
    else printf("seccomp=missing the filter did not load or did not hold (status %d)\n", status);
    if (getuid() == 0) {
        pid = fork();
        if (pid == 0) {
            int devnull = open("/dev/null", O_WRONLY);
            dup2(devnull, STATUS_FD);
            drop_identity(sandbox_uid(), sandbox_uid(), true);
            _exit(setresuid(0, 0, 0) == 0 ? 5 : 0);
        }
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) printf("uid=ok started as root: programs run as a uid of their own (1500000000 + pid), RLIMIT_NPROC applies\n");
        else printf("uid=missing switching to an unprivileged uid failed\n");
    } else {
        printf("uid=ok not root: programs run as uid %u (RLIMIT_NPROC counts that user's processes)\n", getuid());
    }
    char why[512];
    if (userns_probe(why, sizeof why)) printf("namespaces=ok user, pid, mount, net, ipc and uts namespaces can be created\n");
    else printf("namespaces=missing %s\n", why);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "--check")) return check();
    if (argc == 3 && !strcmp(argv[1], "--export-bpf")) {
        int rc = seccomp_export(network_named(argv[2]), STDOUT_FILENO);
        if (rc) { fprintf(stderr, "wflo-sandbox-launcher: exporting the filter failed: %s\n", strerror(-rc)); return 1; }
        return 0;
    }
    struct config config = {0};
    parse(argc, argv, &config);
    if (!config.scratch) usage("--scratch DIR is required");
    if (config.backend == BACKEND_NAMESPACES && !config.newroot) usage("--newroot DIR is required with --backend namespaces");

    // Nothing of the runtime's leaks in: fds above the protocol's are closed.
    syscall(SYS_close_range, config.use_bpf_fd ? BPF_FD + 1 : STATUS_FD + 1, ~0U, 0);
    if (!config.use_bpf_fd) close(BPF_FD);
    // Our own session and process group; orphans of the tree are re-parented to us.
    if (setsid() < 0) fail("session", "setsid failed: %s", strerror(errno));
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) fail("subreaper", "PR_SET_CHILD_SUBREAPER failed: %s", strerror(errno));
    // If the runtime dies, stop the program as if the wall limit had passed.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1) fail("session", "the runtime exited before the sandbox started");

    // Check the layers before starting anything.
    int abi = landlock_abi(&config);
    if (abi < 1 && !(config.allow_missing & LAYER_LANDLOCK) && config.backend == BACKEND_PROCESS)
        landlock_apply(&config, true); // fails with the message naming the layer
    if (!seccomp_available(&config) && !(config.allow_missing & LAYER_SECCOMP)) seccomp_apply(&config);

    sigset_t blocked;
    sigemptyset(&blocked);
    int watched[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof watched / sizeof *watched; i++) sigaddset(&blocked, watched[i]);
    sigset_t original;
    sigprocmask(SIG_BLOCK, &blocked, &original);

    bool root = getuid() == 0;
    uid_t uid = root ? sandbox_uid() : getuid();
    gid_t gid = root ? (gid_t)uid : getgid();
    int inner_status = -1;
    pid_t child;
    if (config.backend == BACKEND_NAMESPACES) {
        if (root) chown_tree(config.scratch, uid, gid);
        child = spawn_namespaced(&config, uid, gid, &inner_status);
    } else {
        if (root) chown_tree(config.scratch, uid, gid);
        child = fork();
        if (child < 0) fail("fork", "fork failed: %s", strerror(errno));
        if (child == 0) {
            sigprocmask(SIG_SETMASK, &original, NULL);
            restrict_and_exec(&config, root, uid, gid, true);
        }
    }
    if (config.use_bpf_fd) close(BPF_FD);
    return supervise(child, &config, inner_status);
}
