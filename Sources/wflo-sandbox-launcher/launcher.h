// wflo-sandbox-launcher: shared declarations.
//
// The launcher is exec'd by wflo's runtime (posix_spawn; the multi-threaded Swift process never
// forks). It stays as a small supervisor — session leader, child subreaper — and forks the
// sandboxed program, which restricts itself layer by layer (rlimits, unprivileged uid,
// no_new_privs, Landlock, seccomp) and execs. See main.c for the protocol with the runtime.
#ifndef WFLO_SANDBOX_LAUNCHER_H
#define WFLO_SANDBOX_LAUNCHER_H

#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/// fds the runtime hands over (anything above them is closed at start).
#define STATUS_FD 3
#define BPF_FD 4

/// Exit status of the launcher when it could not start the program (the status fd says why).
#define LAUNCH_FAILED 125

enum network_mode { NET_NONE, NET_TCP, NET_ANY };
enum backend_kind { BACKEND_PROCESS, BACKEND_NAMESPACES };

/// Layers the user opted out of: a missing one is then skipped instead of failing the launch.
enum layer_bits {
    LAYER_LANDLOCK = 1 << 0,
    LAYER_SECCOMP = 1 << 1,
    LAYER_UID = 1 << 2,
    LAYER_LANDLOCK_NET = 1 << 3,
    LAYER_LANDLOCK_SCOPE = 1 << 4,
};

#define MAX_PORTS 64

struct config {
    enum backend_kind backend;
    enum network_mode network;
    const char *scratch;          // read-write, the program's working directory
    const char *newroot;          // namespaces: empty directory to build the root in
    const char *rootfs;           // namespaces: a root filesystem image (else host binds)
    uint16_t tcp_connect[MAX_PORTS];
    int tcp_connect_count;
    uint16_t tcp_bind[MAX_PORTS];
    int tcp_bind_count;
    long wall_ms;                 // 0: none (the runtime enforces it too)
    long grace_ms;
    long cpu_seconds;             // RLIMIT_CPU; 0: unlimited
    long long memory_bytes;       // RLIMIT_DATA (+ RLIMIT_AS headroom); 0: unlimited
    long long file_bytes;         // RLIMIT_FSIZE
    long processes;               // RLIMIT_NPROC
    long open_files;              // RLIMIT_NOFILE
    long long tmpfs_bytes;        // namespaces: size of /tmp
    unsigned allow_missing;       // layer_bits
    unsigned assume_missing;      // layer_bits treated as absent (--assume-missing: tests the refusal path)
    bool use_bpf_fd;
    const char *read_only[MAX_PORTS]; // extra paths readable and executable (process backend: Landlock rules)
    int read_only_count;
    char **argv;                  // program and arguments
};

// status.c — the report to the runtime, key=value lines on STATUS_FD.
void status_line(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/// Reports a launch failure naming the layer and exits LAUNCH_FAILED (from the program's child too).
void fail(const char *layer, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

// policy.c — the seccomp allowlist, in one place.
int seccomp_available(const struct config *config);
/// Builds the filter for `network` and writes its BPF to `fd`. Returns 0 or -errno.
int seccomp_export(enum network_mode network, int fd);
/// Loads the filter: the BPF read from BPF_FD when `use_bpf_fd`, else compiled here.
void seccomp_apply(const struct config *config);

// landlock.c
int landlock_abi(const struct config *config);
/// Restricts the calling process: read-only system paths, read-write scratch, TCP ports.
void landlock_apply(const struct config *config, bool filesystem);

// limits.c
void limits_apply(const struct config *config);
/// The uid/gid the program runs as when the launcher is root.
uid_t sandbox_uid(void);
/// `groups`: also clear supplementary groups (not possible, nor needed, in a user namespace).
void drop_identity(uid_t uid, gid_t gid, bool groups);
void chown_tree(const char *path, uid_t uid, gid_t gid);

// supervise.c — waits for the program, enforces the wall limit, kills the whole tree.
/// `inner_status_fd`: where the namespace's init writes the program's wait status (-1: none).
int supervise(pid_t main_child, const struct config *config, int inner_status_fd);
void kill_descendants(int sig, int *count);

// namespaces.c
int userns_probe(char *why, size_t size);
/// Starts the namespace's init, which starts the program; `inner_status_fd` receives its status.
pid_t spawn_namespaced(const struct config *config, uid_t host_uid, gid_t host_gid, int *inner_status_fd);
/// The program's side of either backend: limits, identity, no_new_privs, Landlock, seccomp, exec.
void restrict_and_exec(const struct config *config, bool drop, uid_t uid, gid_t gid, bool filesystem) __attribute__((noreturn));

// exec.c
/// Execs argv[0] (searched in the PATH of the environment when it has no '/'). Never returns.
void exec_program(char **argv) __attribute__((noreturn));

#endif
