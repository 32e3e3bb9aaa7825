#include "launcher.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

void exec_program(char **argv) {
    const char *name = argv[0];
    if (strchr(name, '/')) {
        execve(name, argv, environ);
        fail("exec", "cannot run %s: %s", name, strerror(errno));
    }
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    int first_error = ENOENT;
    for (const char *p = path; *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char candidate[PATH_MAX];
        if (len > 0 && len + strlen(name) + 2 < sizeof candidate) {
            memcpy(candidate, p, len);
            candidate[len] = '/';
            strcpy(candidate + len + 1, name);
            execve(candidate, argv, environ);
            if (errno != ENOENT && errno != ENOTDIR && first_error == ENOENT) first_error = errno;
        }
        if (!end) break;
        p = end + 1;
    }
    errno = first_error;
    fail("exec", "cannot run %s: %s (searched PATH=%s)", name, strerror(first_error), path);
}
