// System calls WfloSandbox needs that Swift cannot call directly (variadic prctl/syscall,
// posix_spawn with fd remapping, openat2), kept small.
#ifndef CWFLO_SANDBOX_H
#define CWFLO_SANDBOX_H

#include <sys/types.h>

/// PR_SET_DUMPABLE on the calling process: 0 keeps other processes of the same uid out of
/// its /proc/PID/mem, environ and fds. Returns 0 or -errno.
int wflo_set_dumpable(int dumpable);

/// posix_spawn of `path` with `fds[i]` (when >= 0) as the child's fd i, for i < count (at most
/// 8), every other fd closed, every signal at its default and none blocked, in `cwd` when not
/// NULL. Returns 0 or an errno.
int wflo_spawn(const char *path, char *const argv[], char *const envp[], const int *fds, int count, const char *cwd, pid_t *pid);

/// A pidfd for `pid` (poll it to learn when the process exits), or -errno.
int wflo_pidfd_open(pid_t pid);

/// Opens `path` (relative) beneath `dirfd` without following any symbolic link and without
/// leaving the directory (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or a walk of
/// O_NOFOLLOW opens on older kernels). Returns an fd or -errno.
int wflo_open_beneath(int dirfd, const char *path, int flags, mode_t mode);

/// Creates the directories of `path` (relative, its last component excluded) beneath `dirfd`,
/// never following links. Returns 0 or -errno.
int wflo_make_parents_beneath(int dirfd, const char *path);

/// Removes `path` and everything beneath it without following symbolic links, making
/// directories writable first. Returns 0 or -errno (the first error met).
int wflo_remove_tree(const char *path);

/// pipe2(O_CLOEXEC). Returns 0 or -errno.
int wflo_pipe(int fds[2]);

/// Non-blocking and close-on-exec flags on `fd`. Returns 0 or -errno.
int wflo_set_nonblocking_cloexec(int fd);

#endif
