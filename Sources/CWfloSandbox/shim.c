#define _GNU_SOURCE
#include "CWfloSandbox.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int wflo_set_dumpable(int dumpable) {
    return prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0) == 0 ? 0 : -errno;
}

int wflo_spawn(const char *path, char *const argv[], char *const envp[], const int *fds, int count, const char *cwd, pid_t *pid) {
    if (count > 8) return EINVAL;
    // Move the sources out of the way first, so dup2(a, 3) cannot clobber a source that is 3.
    int moved[8];
    for (int i = 0; i < count; i++) {
        moved[i] = fds[i] >= 0 ? fcntl(fds[i], F_DUPFD_CLOEXEC, 64) : -1;
        if (fds[i] >= 0 && moved[i] < 0) {
            int error = errno;
            for (int j = 0; j < i; j++) if (moved[j] >= 0) close(moved[j]);
            return error;
        }
    }
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    for (int i = 0; i < count; i++) if (moved[i] >= 0) posix_spawn_file_actions_adddup2(&actions, moved[i], i);
    // Nothing else of ours reaches the child, close-on-exec or not (close_range; no directory read).
    posix_spawn_file_actions_addclosefrom_np(&actions, count);
    if (cwd) posix_spawn_file_actions_addchdir_np(&actions, cwd);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawn(pid, path, &actions, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    for (int i = 0; i < count; i++) if (moved[i] >= 0) close(moved[i]);
    return rc;
}

int wflo_pidfd_open(pid_t pid) {
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
}

/// The walk for kernels without openat2: every component opened with O_NOFOLLOW; "..", "." and
/// empty components are refused.
static int walk_beneath(int dirfd, const char *path, int flags, mode_t mode) {
    char *copy = strdup(path);
    if (!copy) return -ENOMEM;
    int current = dup(dirfd);
    char *save = NULL;
    char *part = strtok_r(copy, "/", &save);
    int result = -EINVAL;
    while (part && current >= 0) {
        char *next = strtok_r(NULL, "/", &save);
        if (!strcmp(part, "..") || !strcmp(part, ".")) { result = -EXDEV; break; }
        if (next) {
            int fd = openat(current, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            close(current);
            current = fd;
            if (fd < 0) { result = -errno; break; }
        } else {
            int fd = openat(current, part, flags | O_NOFOLLOW | O_CLOEXEC, mode);
            result = fd < 0 ? -errno : fd;
        }
        part = next;
    }
    if (current >= 0) close(current);
    free(copy);
    return result;
}

int wflo_open_beneath(int dirfd, const char *path, int flags, mode_t mode) {
    if (path[0] == '/') return -EXDEV;
    struct open_how how = {
        .flags = (unsigned long long)(flags | O_CLOEXEC | O_NOFOLLOW),
        .mode = (flags & O_CREAT) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    if (fd >= 0) return (int)fd;
    if (errno != ENOSYS) return -errno;
    return walk_beneath(dirfd, path, flags, mode);
}

int wflo_make_parents_beneath(int dirfd, const char *path) {
    char *copy = strdup(path);
    if (!copy) return -ENOMEM;
    char *slash = strrchr(copy, '/');
    int result = 0;
    if (slash) {
        *slash = 0;
        int current = dup(dirfd);
        char *save = NULL;
        for (char *part = strtok_r(copy, "/", &save); part && current >= 0; part = strtok_r(NULL, "/", &save)) {
            if (!strcmp(part, "..") || !strcmp(part, ".")) { result = -EXDEV; break; }
            if (mkdirat(current, part, 0755) != 0 && errno != EEXIST) { result = -errno; break; }
            int fd = openat(current, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            close(current);
            current = fd;
            if (fd < 0) { result = -errno; break; }
        }
        if (current >= 0) close(current);
    }
    free(copy);
    return result;
}

static int remove_at(int dirfd, const char *name, int depth) {
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode)) return unlinkat(dirfd, name, 0) == 0 || errno == ENOENT ? 0 : -errno;
    int first = 0;
    if (depth < 256) {
        fchmodat(dirfd, name, 0700, 0);
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) return -errno;
        DIR *dir = fdopendir(fd);
        if (!dir) { close(fd); return -errno; }
        struct dirent *entry;
        while ((entry = readdir(dir))) {
            if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..")) continue;
            int rc = remove_at(fd, entry->d_name, depth + 1);
            if (rc && !first) first = rc;
        }
        closedir(dir);
    }
    if (unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT && !first) first = -errno;
    return first;
}

int wflo_remove_tree(const char *path) {
    return remove_at(AT_FDCWD, path, 0);
}

int wflo_set_nonblocking_cloexec(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return -errno;
    return fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 ? 0 : -errno;
}

int wflo_pipe(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno;
}
