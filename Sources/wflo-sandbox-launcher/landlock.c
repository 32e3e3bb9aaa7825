// Landlock: the filesystem (and, from ABI 4, TCP ports; from ABI 6, abstract unix sockets and
// signals) as the sandboxed program may use it. seccomp cannot see paths; Landlock can.
//
// The constants are written here because the build machine's headers may predate the
// running kernel's ABI; the ABI is asked at run time and only what it knows is handled.
#include "launcher.h"
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_RULE_NET_PORT 2

#define FS_EXECUTE (1ULL << 0)
#define FS_WRITE_FILE (1ULL << 1)
#define FS_READ_FILE (1ULL << 2)
#define FS_READ_DIR (1ULL << 3)
#define FS_REFER (1ULL << 13)
#define FS_TRUNCATE (1ULL << 14)
#define FS_IOCTL_DEV (1ULL << 15)
#define NET_BIND_TCP (1ULL << 0)
#define NET_CONNECT_TCP (1ULL << 1)
#define SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define SCOPE_SIGNAL (1ULL << 1)

struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

struct ll_net_port_attr {
    uint64_t allowed_access;
    uint64_t port;
};

/// Read-only system paths (those that exist); the scratch directory is the only writable place.
static const char *const system_paths[] = {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"};
/// Device files the program may read (and /dev/null, /dev/full write).
static const char *const read_devices[] = {"/dev/zero", "/dev/urandom", "/dev/random"};
static const char *const write_devices[] = {"/dev/null", "/dev/full"};

int landlock_abi(const struct config *config) {
    if (config && (config->assume_missing & LAYER_LANDLOCK)) return -ENOSYS;
    long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
    return abi < 0 ? -errno : (int)abi;
}

static uint64_t fs_rights(int abi) {
    uint64_t all = (1ULL << 13) - 1; // ABI 1: EXECUTE … MAKE_SYM
    if (abi >= 2) all |= FS_REFER;
    if (abi >= 3) all |= FS_TRUNCATE;
    if (abi >= 5) all |= FS_IOCTL_DEV;
    return all;
}

/// Rights a rule on a non-directory may carry.
static const uint64_t file_rights = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV;

/// Adds a path rule; a path that does not exist is skipped (not every system has /lib32).
static void allow_path(int ruleset, const char *path, uint64_t access, uint64_t handled, bool required) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        if (required) fail("landlock", "cannot open %s for a Landlock rule: %s", path, strerror(errno));
        return;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) access &= file_rights;
    struct ll_path_beneath_attr rule = {.allowed_access = access & handled, .parent_fd = fd};
    if (syscall(__NR_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &rule, 0) != 0)
        fail("landlock", "adding the Landlock rule for %s failed: %s", path, strerror(errno));
    close(fd);
}

static void allow_port(int ruleset, uint16_t port, uint64_t access) {
    struct ll_net_port_attr rule = {.allowed_access = access, .port = port};
    if (syscall(__NR_landlock_add_rule, ruleset, LL_RULE_NET_PORT, &rule, 0) != 0)
        fail("landlock", "adding the Landlock rule for TCP port %u failed: %s", port, strerror(errno));
}

void landlock_apply(const struct config *config, bool filesystem) {
    int abi = landlock_abi(config);
    if (abi < 1) {
        if (config->allow_missing & LAYER_LANDLOCK) return;
        fail("landlock", "Landlock is not available on this kernel (%s); it confines the program's files to its scratch "
             "directory. Enable it (kernel 5.13+, lsm=landlock) or opt out with allow_missing: [landlock]",
             abi == -ENOSYS ? "no such system call" : abi == -EOPNOTSUPP ? "disabled at boot" : strerror(-abi));
    }
    bool ports = config->network == NET_TCP;
    if (ports && abi < 4 && !(config->allow_missing & LAYER_LANDLOCK_NET))
        fail("landlock-net", "this kernel's Landlock ABI is %d; restricting TCP ports needs ABI 4 (Linux 6.7). "
             "Use network: true, or opt out with allow_missing: [landlock-net]", abi);
    if (abi < 6 && !(config->allow_missing & LAYER_LANDLOCK_SCOPE))
        fail("landlock-scope", "this kernel's Landlock ABI is %d; keeping signals and abstract unix sockets inside the "
             "sandbox needs ABI 6 (Linux 6.12). Opt out with allow_missing: [landlock-scope]", abi);

    struct ll_ruleset_attr attr = {0};
    size_t size = sizeof attr.handled_access_fs;
    if (filesystem) attr.handled_access_fs = fs_rights(abi);
    if (abi >= 4) {
        size = offsetof(struct ll_ruleset_attr, scoped);
        // Network off: every TCP bind and connect is refused (seccomp refuses the sockets too).
        // Network any: not handled, so not restricted.
        if (config->network != NET_ANY) attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP;
    }
    if (abi >= 6) {
        size = sizeof attr;
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL;
    }
    if (!attr.handled_access_fs && !attr.handled_access_net && !attr.scoped) return;
    int ruleset = (int)syscall(__NR_landlock_create_ruleset, &attr, size, 0);
    if (ruleset < 0) fail("landlock", "creating the Landlock ruleset failed: %s", strerror(errno));

    if (filesystem) {
        uint64_t handled = attr.handled_access_fs;
        uint64_t read_only = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR;
        for (size_t i = 0; i < sizeof system_paths / sizeof *system_paths; i++) allow_path(ruleset, system_paths[i], read_only, handled, false);
        for (size_t i = 0; i < sizeof read_devices / sizeof *read_devices; i++) allow_path(ruleset, read_devices[i], FS_READ_FILE, handled, false);
        for (size_t i = 0; i < sizeof write_devices / sizeof *write_devices; i++)
            allow_path(ruleset, write_devices[i], FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE, handled, false);
        // --read-only: what a long-lived program (an MCP server and its virtual environment) needs
        // to read beyond the system paths; a path that does not exist fails the launch, naming it.
        for (int i = 0; i < config->read_only_count; i++) allow_path(ruleset, config->read_only[i], read_only, handled, true);
        allow_path(ruleset, config->scratch, handled, handled, true);
    }
    if (attr.handled_access_net && config->network == NET_TCP) {
        for (int i = 0; i < config->tcp_connect_count; i++) allow_port(ruleset, config->tcp_connect[i], NET_CONNECT_TCP);
        for (int i = 0; i < config->tcp_bind_count; i++) allow_port(ruleset, config->tcp_bind[i], NET_BIND_TCP);
    }
    if (syscall(__NR_landlock_restrict_self, ruleset, 0) != 0)
        fail("landlock", "enforcing the Landlock ruleset failed: %s", strerror(errno));
    close(ruleset);
}
