// The namespaces backend: a container without an engine. User, pid, mount, ipc, uts (and net,
// when the network is off) namespaces; a read-only root (an image built by sandbox-images/ or
// read-only binds of the host's /usr, /lib, /bin, /etc); tmpfs /tmp; the scratch directory
// bound read-write at /scratch. The namespace's init waits for the program and passes its
// status on; when init ends, the kernel kills every process left in the namespace.
#include "launcher.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define INNER_UID 1000
#define INNER_GID 1000

static const char *const host_dirs[] = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc"};
static const char *const devices[] = {"null", "zero", "full", "random", "urandom"};

/// Why unprivileged user namespaces are off, when a sysctl says so (NULL when none does).
static const char *userns_sysctl_reason(void) {
    static char reason[256];
    struct { const char *file; const char *off; const char *what; } knobs[] = {
        {"/proc/sys/kernel/unprivileged_userns_clone", "0", "kernel.unprivileged_userns_clone = 0 (Debian/Ubuntu); set it to 1"},
        {"/proc/sys/user/max_user_namespaces", "0", "user.max_user_namespaces = 0; set it above 0"},
        {"/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1",
         "kernel.apparmor_restrict_unprivileged_userns = 1 (Ubuntu 24.04+); set it to 0 or give wflo an AppArmor profile with 'userns,'"},
    };
    for (size_t i = 0; i < sizeof knobs / sizeof *knobs; i++) {
        FILE *f = fopen(knobs[i].file, "re");
        if (!f) continue;
        char value[32] = {0};
        if (fgets(value, sizeof value, f)) value[strcspn(value, "\n")] = 0;
        fclose(f);
        if (!strcmp(value, knobs[i].off)) {
            snprintf(reason, sizeof reason, "%s", knobs[i].what);
            return reason;
        }
    }
    return NULL;
}

int userns_probe(char *why, size_t size) {
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS,
                               NULL, NULL, NULL, 0);
    if (pid == 0) _exit(0);
    if (pid < 0) {
        int error = errno;
        const char *sysctl = userns_sysctl_reason();
        snprintf(why, size, "creating user namespaces failed (%s)%s%s", strerror(error), sysctl ? ": " : "", sysctl ? sysctl : "");
        return 0;
    }
    int status;
    waitpid(pid, &status, 0);
    return 1;
}

static void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        fail("namespaces", "writing '%s' to %s failed: %s", text, path, strerror(errno));
    close(fd);
}

static void path_join(char *out, size_t size, const char *a, const char *b) {
    if ((size_t)snprintf(out, size, "%s/%s", a, b) >= size) fail("namespaces", "path too long: %s/%s", a, b);
}

static void mount_or_fail(const char *source, const char *target, const char *type, unsigned long flags, const char *data) {
    if (mount(source, target, type, flags, data) != 0)
        fail("namespaces", "mounting %s on %s failed: %s", source ? source : type, target, strerror(errno));
}

/// A read-only bind: mount flags the kernel locked (nosuid, nodev, noexec, atime) must be kept.
static void bind_read_only(const char *source, const char *target) {
    mount_or_fail(source, target, NULL, MS_BIND | MS_REC, NULL);
    struct statvfs st;
    unsigned long locked = 0;
    if (statvfs(target, &st) == 0) {
        if (st.f_flag & ST_NOSUID) locked |= MS_NOSUID;
        if (st.f_flag & ST_NODEV) locked |= MS_NODEV;
        if (st.f_flag & ST_NOEXEC) locked |= MS_NOEXEC;
        if (st.f_flag & ST_NOATIME) locked |= MS_NOATIME;
        if (st.f_flag & ST_NODIRATIME) locked |= MS_NODIRATIME;
        if (st.f_flag & ST_RELATIME) locked |= MS_RELATIME;
    }
    mount_or_fail(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | locked, NULL);
}

static void build_root(const struct config *config) {
    const char *root = config->newroot;
    char path[4096];
    mount_or_fail(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    if (config->rootfs) {
        bind_read_only(config->rootfs, root);
        const char *needed[] = {"proc", "dev", "tmp", "scratch"};
        for (size_t i = 0; i < 4; i++) {
            struct stat st;
            path_join(path, sizeof path, root, needed[i]);
            if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
                fail("namespaces", "the root filesystem %s has no /%s directory; rebuild it with sandbox-images/build-rootfs.sh", config->rootfs, needed[i]);
        }
        // /dev of an image holds no usable nodes in a user namespace: bind the host's few.
        path_join(path, sizeof path, root, "dev");
        mount_or_fail("tmpfs", path, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k");
    } else {
        mount_or_fail("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k");
        for (size_t i = 0; i < sizeof host_dirs / sizeof *host_dirs; i++) {
            char host[64];
            snprintf(host, sizeof host, "/%s", host_dirs[i]);
            path_join(path, sizeof path, root, host_dirs[i]);
            struct stat st;
            if (lstat(host, &st) != 0) continue;
            if (S_ISLNK(st.st_mode)) {
                char target[4096];
                ssize_t n = readlink(host, target, sizeof target - 1);
                if (n < 0) continue;
                target[n] = 0;
                if (symlink(target, path) != 0) fail("namespaces", "symlink %s failed: %s", path, strerror(errno));
            } else if (S_ISDIR(st.st_mode)) {
                if (mkdir(path, 0755) != 0) fail("namespaces", "mkdir %s failed: %s", path, strerror(errno));
                bind_read_only(host, path);
            }
        }
        const char *dirs[] = {"dev", "proc", "tmp", "scratch"};
        for (size_t i = 0; i < 4; i++) {
            path_join(path, sizeof path, root, dirs[i]);
            if (mkdir(path, 0755) != 0) fail("namespaces", "mkdir %s failed: %s", path, strerror(errno));
        }
    }
    for (size_t i = 0; i < sizeof devices / sizeof *devices; i++) {
        char host[64], inner[96];
        snprintf(host, sizeof host, "/dev/%s", devices[i]);
        snprintf(inner, sizeof inner, "dev/%s", devices[i]);
        path_join(path, sizeof path, root, inner);
        int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
        if (fd < 0) fail("namespaces", "creating %s failed: %s", path, strerror(errno));
        close(fd);
        mount_or_fail(host, path, NULL, MS_BIND, NULL);
    }
    const char *links[][2] = {{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}};
    for (size_t i = 0; i < 4; i++) {
        char inner[64];
        snprintf(inner, sizeof inner, "dev/%s", links[i][0]);
        path_join(path, sizeof path, root, inner);
        if (symlink(links[i][1], path) != 0 && errno != EEXIST) fail("namespaces", "symlink %s failed: %s", path, strerror(errno));
    }
    path_join(path, sizeof path, root, "proc");
    mount_or_fail("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    char options[64];
    snprintf(options, sizeof options, "mode=1777,size=%lld", config->tmpfs_bytes > 0 ? config->tmpfs_bytes : 64LL << 20);
    path_join(path, sizeof path, root, "tmp");
    mount_or_fail("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, options);
    path_join(path, sizeof path, root, "scratch");
    mount_or_fail(config->scratch, path, NULL, MS_BIND, NULL);
    // The skeleton tmpfs (the image's /dev, or the whole root of host binds) becomes read-only too.
    if (config->rootfs) {
        path_join(path, sizeof path, root, "dev");
        mount_or_fail(NULL, path, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL);
    } else {
        mount_or_fail(NULL, root, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
    }
    if (chdir(root) != 0) fail("namespaces", "chdir %s failed: %s", root, strerror(errno));
    if (syscall(SYS_pivot_root, ".", ".") != 0) fail("namespaces", "pivot_root failed: %s", strerror(errno));
    if (umount2(".", MNT_DETACH) != 0) fail("namespaces", "detaching the host's root failed: %s", strerror(errno));
    if (chdir("/") != 0) fail("namespaces", "chdir / failed: %s", strerror(errno));
    if (sethostname("sandbox", 7) != 0) fail("namespaces", "sethostname failed: %s", strerror(errno));
}

/// Takes the namespace's one mapped uid and gid (files created for the root need a mapped
/// owner), keeping the capabilities the namespace gives for building the root. The program
/// loses them at exec: it runs as a non-root uid, without file capabilities.
static void become_inner_user(void) {
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fail("namespaces", "PR_SET_KEEPCAPS failed: %s", strerror(errno));
    if (setresgid(INNER_GID, INNER_GID, INNER_GID) != 0) fail("namespaces", "setresgid in the namespace failed: %s", strerror(errno));
    if (setresuid(INNER_UID, INNER_UID, INNER_UID) != 0) fail("namespaces", "setresuid in the namespace failed: %s", strerror(errno));
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &header, data) != 0) fail("namespaces", "capget failed: %s", strerror(errno));
    data[0].effective = data[0].permitted;
    data[1].effective = data[1].permitted;
    if (syscall(SYS_capset, &header, data) != 0) fail("namespaces", "capset failed: %s", strerror(errno));
}

pid_t spawn_namespaced(const struct config *config, uid_t host_uid, gid_t host_gid, int *inner_status_fd) {
    int go[2], report[2];
    if (pipe2(go, O_CLOEXEC) != 0 || pipe2(report, O_CLOEXEC) != 0) fail("namespaces", "pipe failed: %s", strerror(errno));
    unsigned long flags = SIGCHLD | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS;
    if (config->network == NET_NONE) flags |= CLONE_NEWNET;
    pid_t init = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, 0);
    if (init < 0) {
        char why[512];
        const char *sysctl = userns_sysctl_reason();
        snprintf(why, sizeof why, "%s%s%s", strerror(errno), sysctl ? ": " : "", sysctl ? sysctl : "");
        fail("namespaces", "creating the namespaces failed (%s); use backend: process, or enable unprivileged user namespaces", why);
    }
    if (init > 0) {
        close(go[0]);
        close(report[1]);
        char path[64], map[64];
        snprintf(path, sizeof path, "/proc/%d/setgroups", init);
        write_file(path, "deny");
        snprintf(path, sizeof path, "/proc/%d/uid_map", init);
        snprintf(map, sizeof map, "%d %u 1", INNER_UID, host_uid);
        write_file(path, map);
        snprintf(path, sizeof path, "/proc/%d/gid_map", init);
        snprintf(map, sizeof map, "%d %u 1", INNER_GID, host_gid);
        write_file(path, map);
        close(go[1]);
        *inner_status_fd = report[0];
        return init;
    }

    // The namespace's init (pid 1).
    close(go[1]);
    close(report[0]);
    pid_t supervisor = getppid();
    char byte;
    while (read(go[0], &byte, 1) < 0 && errno == EINTR) {}
    close(go[0]);
    become_inner_user();
    // After the identity change, which clears it: init dies with the supervisor, and the whole
    // pid namespace with init.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != supervisor) _exit(125);
    build_root(config);
    // SIGTERM is for the program (the grace period); init ends only with it, or by SIGKILL.
    signal(SIGTERM, SIG_IGN);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    pid_t program = fork();
    if (program < 0) fail("namespaces", "fork failed: %s", strerror(errno));
    if (program == 0) {
        signal(SIGTERM, SIG_DFL);
        close(report[1]);
        restrict_and_exec(config, true, INNER_UID, INNER_GID, false);
    }
    for (;;) {
        int status;
        pid_t pid = wait(&status);
        if (pid < 0 && errno == EINTR) continue;
        if (pid < 0) _exit(0);
        if (pid == program) {
            ssize_t ignored = write(report[1], &status, sizeof status);
            (void)ignored;
            _exit(0);
        }
    }
}
