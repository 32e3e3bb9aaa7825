// The supervisor: waits for the program, enforces the wall limit (SIGTERM, grace, SIGKILL), and
// leaves nothing behind. As a child subreaper it inherits every orphan of the tree — processes
// that called setsid or double-forked included — so the whole tree stays its descendants.
#include "launcher.h"
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/// Appends the children of every thread of `pid` to `list`.
static void children_of(pid_t pid, pid_t **list, size_t *count, size_t *capacity) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *tasks = opendir(path);
    if (!tasks) return;
    struct dirent *task;
    while ((task = readdir(tasks))) {
        if (task->d_name[0] < '0' || task->d_name[0] > '9') continue;
        char file[320];
        snprintf(file, sizeof file, "/proc/%d/task/%s/children", pid, task->d_name);
        FILE *f = fopen(file, "re");
        if (!f) continue;
        int child;
        while (fscanf(f, "%d", &child) == 1) {
            if (*count == *capacity) {
                *capacity = *capacity ? *capacity * 2 : 64;
                pid_t *bigger = realloc(*list, *capacity * sizeof(pid_t));
                if (!bigger) { fclose(f); closedir(tasks); return; }
                *list = bigger;
            }
            (*list)[(*count)++] = child;
        }
        fclose(f);
    }
    closedir(tasks);
}

void kill_descendants(int sig, int *count) {
    pid_t *list = NULL;
    size_t n = 0, capacity = 0;
    children_of(getpid(), &list, &n, &capacity);
    // Breadth first: the list grows while it is walked.
    for (size_t i = 0; i < n; i++) children_of(list[i], &list, &n, &capacity);
    for (size_t i = 0; i < n; i++) {
        if (kill(list[i], sig) == 0 && count) (*count)++;
        if (sig == SIGTERM) kill(list[i], SIGCONT); // a stopped process would not see the TERM
    }
    free(list);
}

int supervise(pid_t main_child, const struct config *config, int inner_status_fd) {
    sigset_t set;
    sigemptyset(&set);
    int watched[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof watched / sizeof *watched; i++) sigaddset(&set, watched[i]);

    long long start = now_ms();
    long long wall_deadline = config->wall_ms > 0 ? start + config->wall_ms : 0;
    long long kill_deadline = 0;
    const char *reason = NULL;
    bool main_done = false, hard_killed = false;
    int main_status = 0, leftovers = 0;
    struct rusage main_usage = {0};

    for (;;) {
        // Reap whatever ended; stop when no child is left (then no descendant is left either:
        // the orphans of a dead child are re-parented to us).
        int status;
        struct rusage usage;
        pid_t pid;
        while ((pid = wait4(-1, &status, WNOHANG, &usage)) > 0) {
            if (pid == main_child) {
                main_done = true;
                main_status = status;
                main_usage = usage;
            }
        }
        if (pid < 0 && errno == ECHILD) break;
        if (main_done) {
            // The program is gone: whatever it left running dies now.
            int killed = 0;
            kill_descendants(SIGKILL, &killed);
            leftovers += killed;
        }

        long long now = now_ms();
        long long deadline = kill_deadline ? kill_deadline : wall_deadline;
        struct timespec timeout, *wait_for = NULL;
        if (deadline && !main_done) {
            long long left = deadline - now;
            if (left < 0) left = 0;
            timeout.tv_sec = left / 1000;
            timeout.tv_nsec = (left % 1000) * 1000000;
            wait_for = &timeout;
        } else if (main_done) {
            timeout.tv_sec = 0;
            timeout.tv_nsec = 20 * 1000000;
            wait_for = &timeout;
        }
        siginfo_t info;
        int sig = sigtimedwait(&set, &info, wait_for);
        if (sig < 0 && errno == EINTR) continue;
        bool expired = sig < 0 && errno == EAGAIN && deadline && now_ms() >= deadline && !main_done;
        bool asked = sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGQUIT;
        if ((expired && !kill_deadline) || (asked && !reason)) {
            reason = asked ? "terminated" : "wall";
            kill_descendants(SIGTERM, NULL);
            kill_deadline = now_ms() + config->grace_ms;
        } else if (expired && kill_deadline && !hard_killed) {
            hard_killed = true;
            kill_descendants(SIGKILL, NULL);
        }
    }

    struct rusage all;
    getrusage(RUSAGE_CHILDREN, &all);
    long long cpu_ms = (long long)(all.ru_utime.tv_sec + all.ru_stime.tv_sec) * 1000
        + (all.ru_utime.tv_usec + all.ru_stime.tv_usec) / 1000;
    (void)main_usage;
    if (inner_status_fd >= 0) {
        // Namespaces: the program's status as the namespace's init saw it.
        int inner;
        if (read(inner_status_fd, &inner, sizeof inner) == (ssize_t)sizeof inner) main_status = inner;
        else if (WIFEXITED(main_status) && WEXITSTATUS(main_status) == 0) main_status = SIGKILL; // init died first: killed
    }
    if (WIFEXITED(main_status)) status_line("exit", "%d", WEXITSTATUS(main_status));
    else if (WIFSIGNALED(main_status)) status_line("signal", "%d", WTERMSIG(main_status));
    if (reason) status_line("reason", "%s", reason);
    if (hard_killed) status_line("hard_killed", "1");
    status_line("leftovers", "%d", leftovers);
    status_line("cpu_ms", "%lld", cpu_ms);
    status_line("maxrss_kb", "%ld", all.ru_maxrss);
    status_line("wall_ms", "%lld", now_ms() - start);
    return 0;
}
