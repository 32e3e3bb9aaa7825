#include "launcher.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int status_fd(void) {
    return fcntl(STATUS_FD, F_GETFD) >= 0 ? STATUS_FD : STDERR_FILENO;
}

static void emit(const char *key, const char *fmt, va_list args) {
    char value[1024];
    vsnprintf(value, sizeof value, fmt, args);
    for (char *p = value; *p; p++) {
        if (*p == '\n' || *p == '\r') *p = ' ';
    }
    char line[1200];
    int n = snprintf(line, sizeof line, "%s=%s\n", key, value);
    if (n > (int)sizeof line - 1) n = (int)sizeof line - 1;
    ssize_t ignored = write(status_fd(), line, (size_t)n);
    (void)ignored;
}

void status_line(const char *key, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    emit(key, fmt, args);
    va_end(args);
}

void fail(const char *layer, const char *fmt, ...) {
    int saved = errno;
    va_list args;
    va_start(args, fmt);
    status_line("layer", "%s", layer);
    errno = saved;
    emit("error", fmt, args);
    va_end(args);
    _exit(LAUNCH_FAILED);
}
