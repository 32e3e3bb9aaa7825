// rlimits and the unprivileged identity the program runs under.
#include "launcher.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/// The headroom of address space above the memory limit: interpreters reserve address space
/// they never touch (node reserves ~700 MiB at start); RLIMIT_DATA bounds what is written.
#define ADDRESS_SPACE_HEADROOM (1LL << 30)

static void set_limit(int resource, const char *name, rlim_t value) {
    struct rlimit limit = {.rlim_cur = value, .rlim_max = value};
    if (setrlimit(resource, &limit) != 0) fail("rlimits", "setting %s to %llu failed: %s", name, (unsigned long long)value, strerror(errno));
}

/// Processes the real uid already runs (RLIMIT_NPROC counts them too when not root).
static long processes_of(uid_t uid) {
    DIR *proc = opendir("/proc");
    if (!proc) return 0;
    long count = 0;
    struct dirent *entry;
    while ((entry = readdir(proc))) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
        struct stat st;
        char path[300];
        snprintf(path, sizeof path, "/proc/%s", entry->d_name);
        if (stat(path, &st) == 0 && st.st_uid == uid) count++;
    }
    closedir(proc);
    return count;
}

void limits_apply(const struct config *config) {
    set_limit(RLIMIT_CORE, "RLIMIT_CORE", 0);
    if (config->cpu_seconds > 0) {
        // SIGXCPU at the soft limit, SIGKILL one second later.
        struct rlimit cpu = {.rlim_cur = (rlim_t)config->cpu_seconds, .rlim_max = (rlim_t)config->cpu_seconds + 1};
        if (setrlimit(RLIMIT_CPU, &cpu) != 0) fail("rlimits", "setting RLIMIT_CPU failed: %s", strerror(errno));
    }
    if (config->memory_bytes > 0) {
        set_limit(RLIMIT_DATA, "RLIMIT_DATA", (rlim_t)config->memory_bytes);
        set_limit(RLIMIT_AS, "RLIMIT_AS", (rlim_t)(config->memory_bytes + ADDRESS_SPACE_HEADROOM));
    }
    if (config->file_bytes > 0) set_limit(RLIMIT_FSIZE, "RLIMIT_FSIZE", (rlim_t)config->file_bytes);
    if (config->open_files > 0) set_limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", (rlim_t)config->open_files);
    if (config->processes > 0) {
        // Root is exempt from RLIMIT_NPROC: by now the program runs as its own uid (or in its own
        // user namespace, where the count starts at zero); otherwise the user's processes count.
        long base = (getuid() == 0 || config->backend == BACKEND_NAMESPACES) ? 0 : processes_of(getuid());
        set_limit(RLIMIT_NPROC, "RLIMIT_NPROC", (rlim_t)(config->processes + base));
    }
}

uid_t sandbox_uid(void) {
    // One uid per live sandbox (the supervisor's pid is unique while it runs): sandboxes cannot
    // signal or trace each other, and RLIMIT_NPROC counts this sandbox's processes only.
    return (uid_t)(1500000000u + (unsigned)getpid());
}

void drop_identity(uid_t uid, gid_t gid, bool groups) {
    if (groups && setgroups(0, NULL) != 0) fail("uid", "dropping supplementary groups failed: %s", strerror(errno));
    if (setresgid(gid, gid, gid) != 0) fail("uid", "switching to gid %u failed: %s", gid, strerror(errno));
    if (setresuid(uid, uid, uid) != 0) fail("uid", "switching to uid %u failed: %s", uid, strerror(errno));
    if (getuid() != uid || geteuid() != uid) fail("uid", "the uid did not change to %u", uid);
}

/// lchown of `path` and everything beneath it, never following symbolic links.
static void chown_at(int dirfd, const char *name, uid_t uid, gid_t gid, int depth) {
    if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0) fail("uid", "giving %s to the sandbox uid failed: %s", name, strerror(errno));
    if (depth > 64) return;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return; // not a directory
    DIR *dir = fdopendir(fd);
    if (!dir) { close(fd); return; }
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..")) continue;
        chown_at(fd, entry->d_name, uid, gid, depth + 1);
    }
    closedir(dir);
}

void chown_tree(const char *path, uid_t uid, gid_t gid) {
    chown_at(AT_FDCWD, path, uid, gid, 0);
}
