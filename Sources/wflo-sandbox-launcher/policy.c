// The seccomp policy of wflo's sandbox, in one place: an allowlist.
//
// Everything not listed fails with EPERM, so programs fail politely. Facts it is built on:
// - A rule that *denies* on an argument value can be bypassed (the kernel truncates `int`
//   arguments, so `1<<32 | AF_INET` passes a deny rule for AF_INET): arguments are only ever
//   *allowed* on values, or compared under a mask of their low 32 bits.
// - clone3 and io_uring_* return ENOSYS (not EPERM) so glibc falls back to clone, whose flags
//   are checkable (clone3 passes them in memory, out of seccomp's sight).
// - The wrong architecture (x32, i386 on x86_64) kills the whole process.
#include "launcher.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/// Allowed whatever their arguments. Not here, on purpose: ptrace, process_vm_readv/writev,
/// mount, umount2, pivot_root, chroot, bpf, perf_event_open, kexec_*, init/finit/delete_module,
/// keyctl, add_key, request_key, userfaultfd, unshare, setns, personality, pidfd_getfd, kcmp,
/// fanotify_*, open_by_handle_at, name_to_handle_at, iopl, ioperm, modify_ldt, swapon/off,
/// reboot, syslog, acct, quotactl, settimeofday/clock_settime/adjtimex, sethostname, the new
/// mount API (fsopen, fsmount, move_mount, open_tree, …), SysV IPC (shared with the host in the
/// process backend), and socket/socketpair/clone/ioctl (conditional, below).
static const char *const allowed[] = {
    "accept", "accept4", "access", "alarm", "arch_prctl", "bind", "brk", "capget", "capset", "chdir",
    "chmod", "chown", "clock_getres", "clock_gettime", "clock_nanosleep", "close", "close_range",
    "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1",
    "epoll_ctl", "epoll_pwait", "epoll_pwait2", "epoll_wait", "eventfd", "eventfd2", "execve",
    "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fallocate", "fchdir",
    "fchmod", "fchmodat", "fchmodat2", "fchown", "fchownat", "fcntl", "fdatasync", "fgetxattr",
    "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstatfs", "fsync",
    "ftruncate", "futex", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue", "futimesat",
    "get_mempolicy", "get_robust_list", "get_thread_area", "getcpu", "getcwd", "getdents",
    "getdents64", "getegid", "geteuid", "getgid", "getgroups", "getuid", "getitimer", "getpeername", "getpgid",
    "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid", "getresuid", "getrlimit",
    "getrusage", "getsid", "getsockname", "getsockopt", "gettid", "gettimeofday", "getxattr",
    "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel",
    "io_destroy", "io_getevents", "io_pgetevents", "io_setup", "io_submit", "ioprio_get", "kill",
    "lchown", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "lremovexattr",
    "lseek", "lsetxattr", "lstat", "madvise", "map_shadow_stack", "membarrier", "memfd_create", "mincore", "mkdir",
    "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mprotect", "mremap",
    "mseal", "msync", "munlock", "munlockall", "munmap", "nanosleep", "newfstatat", "open", "openat",
    "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "poll", "ppoll", "prctl",
    "pread64", "preadv", "preadv2", "prlimit64", "pselect6", "pwrite64", "pwritev", "pwritev2",
    "read", "readahead", "readlink", "readlinkat", "readv", "recvfrom", "recvmmsg", "recvmsg",
    "remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir",
    "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
    "rt_sigsuspend", "rt_sigtimedwait", "rt_tgsigqueueinfo", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam",
    "sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity", "sched_yield", "seccomp",
    "select", "sendfile", "sendmmsg", "sendmsg", "sendto", "set_robust_list", "set_thread_area",
    "set_tid_address", "setfsgid", "setfsuid", "setgid", "setgroups", "setitimer", "setpgid",
    "setpriority", "setregid", "setresgid", "setresuid", "setreuid", "setrlimit", "setsid",
    "setsockopt", "setuid", "setxattr", "shutdown", "sigaltstack", "signalfd", "signalfd4", "splice",
    "stat", "statfs", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo",
    "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
    "timer_settime", "timerfd_create", "timerfd_gettime", "timerfd_settime", "times", "tkill",
    "truncate", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat", "utimes", "vfork", "vmsplice",
    "wait4", "waitid", "write", "writev",
};

/// ENOSYS, so libc falls back to a call seccomp can inspect (clone3) or does without (io_uring).
static const char *const not_implemented[] = {
    "clone3", "io_uring_setup", "io_uring_enter", "io_uring_register",
};

#define NAMESPACE_FLAGS (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)

int seccomp_available(const struct config *config) {
    if (config && (config->assume_missing & LAYER_SECCOMP)) return 0;
    // PR_GET_SECCOMP fails with EINVAL when the kernel has no seccomp.
    return prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0;
}

static struct scmp_arg_cmp arg(unsigned index, enum scmp_compare op, uint64_t a, uint64_t b) {
    struct scmp_arg_cmp cmp = {.arg = index, .op = op, .datum_a = a, .datum_b = b};
    return cmp;
}

static int add(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned count, const struct scmp_arg_cmp *cmp) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) return 0; // not on this architecture
    return seccomp_rule_add_array(ctx, action, nr, count, cmp);
}

static scmp_filter_ctx build(enum network_mode network, int *error) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (!ctx) { *error = -ENOMEM; return NULL; }
    int rc = 0;
    rc = rc ? rc : seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    rc = rc ? rc : seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0); // the launcher sets it itself
    // A binary tree instead of a list: fewer instructions per system call.
    if (!rc && seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) != 0) { /* older libseccomp: keep the list */ }
    for (size_t i = 0; !rc && i < sizeof allowed / sizeof *allowed; i++) rc = add(ctx, SCMP_ACT_ALLOW, allowed[i], 0, NULL);
    for (size_t i = 0; !rc && i < sizeof not_implemented / sizeof *not_implemented; i++)
        rc = add(ctx, SCMP_ACT_ERRNO(ENOSYS), not_implemented[i], 0, NULL);

    // clone: only without namespace flags (fork, vfork, threads).
    struct scmp_arg_cmp no_namespaces = arg(0, SCMP_CMP_MASKED_EQ, NAMESPACE_FLAGS, 0);
    if (!rc) rc = add(ctx, SCMP_ACT_ALLOW, "clone", 1, &no_namespaces);

    // ioctl: anything but TIOCSTI (faking terminal input), compared on the low 32 bits the kernel
    // reads. "Not equal" written as an allowlist: the request differs from TIOCSTI in some bit.
    for (int bit = 0; !rc && bit < 32; bit++) {
        uint64_t mask = 1ULL << bit;
        struct scmp_arg_cmp differs = arg(1, SCMP_CMP_MASKED_EQ, mask, (~(uint64_t)TIOCSTI) & mask);
        rc = add(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &differs);
    }

    // Sockets: an allowlist of domains. socketpair(AF_UNIX) (pipes between threads, asyncio)
    // always; socket() only when the network is on: AF_UNIX sockets could reach the host's
    // pathname sockets, which Landlock does not see.
    // Stream pairs only: a datagram socket of a pair can still sendto() a host's pathname socket
    // (/dev/log, journald), a lookup Landlock does not check.
    struct scmp_arg_cmp unix_pair[2] = {arg(0, SCMP_CMP_EQ, AF_UNIX, 0), arg(1, SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM)};
    if (!rc) rc = add(ctx, SCMP_ACT_ALLOW, "socketpair", 2, unix_pair);
    if (!rc && network == NET_TCP) {
        // TCP only (Landlock restricts the ports): stream sockets of AF_INET and AF_INET6 whose
        // protocol is 0 or IPPROTO_TCP. Landlock's port rules do not cover MPTCP (protocol 262),
        // so any other protocol would connect anywhere.
        int domains[] = {AF_INET, AF_INET6};
        int protocols[] = {0, IPPROTO_TCP};
        for (int i = 0; !rc && i < 2; i++) {
            for (int j = 0; !rc && j < 2; j++) {
                struct scmp_arg_cmp cmp[3] = {arg(0, SCMP_CMP_EQ, (uint64_t)domains[i], 0), arg(1, SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM),
                                              arg(2, SCMP_CMP_MASKED_EQ, 0xffffffff, (uint64_t)protocols[j])};
                rc = add(ctx, SCMP_ACT_ALLOW, "socket", 3, cmp);
            }
        }
    } else if (!rc && network == NET_ANY) {
        int domains[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK};
        for (int i = 0; !rc && i < 4; i++) {
            struct scmp_arg_cmp cmp = arg(0, SCMP_CMP_EQ, (uint64_t)domains[i], 0);
            rc = add(ctx, SCMP_ACT_ALLOW, "socket", 1, &cmp);
        }
    }
    if (rc) {
        seccomp_release(ctx);
        *error = rc;
        return NULL;
    }
    return ctx;
}

int seccomp_export(enum network_mode network, int fd) {
    int error = 0;
    scmp_filter_ctx ctx = build(network, &error);
    if (!ctx) return error;
    int rc = seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    return rc;
}

/// Reads the exported program from BPF_FD (a pipe or file, read to its end).
static int read_bpf(struct sock_fprog *program) {
    size_t capacity = 64 * 1024, used = 0;
    unsigned char *buffer = malloc(capacity);
    if (!buffer) return -ENOMEM;
    for (;;) {
        if (used == capacity) {
            capacity *= 2;
            unsigned char *bigger = realloc(buffer, capacity);
            if (!bigger) { free(buffer); return -ENOMEM; }
            buffer = bigger;
        }
        ssize_t n = read(BPF_FD, buffer + used, capacity - used);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { int e = errno; free(buffer); return -e; }
        if (n == 0) break;
        used += (size_t)n;
    }
    if (used == 0 || used % sizeof(struct sock_filter) != 0) { free(buffer); return -EINVAL; }
    program->len = (unsigned short)(used / sizeof(struct sock_filter));
    program->filter = (struct sock_filter *)buffer;
    return 0;
}

void seccomp_apply(const struct config *config) {
    if (!seccomp_available(config)) {
        if (config->allow_missing & LAYER_SECCOMP) return;
        fail("seccomp", "this kernel has no seccomp filter support; the sandbox needs it to restrict system calls "
             "(opt out with allow_missing: [seccomp] to run without it)");
    }
    if (config->use_bpf_fd) {
        struct sock_fprog program;
        int rc = read_bpf(&program);
        if (rc < 0) fail("seccomp", "cannot read the exported filter from fd %d: %s", BPF_FD, strerror(-rc));
        close(BPF_FD);
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0)
            fail("seccomp", "loading the seccomp filter failed: %s", strerror(errno));
        return;
    }
    int error = 0;
    scmp_filter_ctx ctx = build(config->network, &error);
    if (!ctx) fail("seccomp", "building the seccomp filter failed: %s", strerror(-error));
    int rc = seccomp_load(ctx);
    if (rc != 0) fail("seccomp", "loading the seccomp filter failed: %s", strerror(-rc));
    seccomp_release(ctx);
}
