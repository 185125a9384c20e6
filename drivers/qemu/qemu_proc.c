/* Process plumbing for the QEMU driver. Children get a clean slate: default
 * signal dispositions, an empty signal mask and no inherited descriptors, so
 * QEMU never keeps an instance lock (an flock'ed fd) or a pipe of ours open.
 * Exec failures come back over a close-on-exec pipe as an errno. */
#include "drivers/qemu/qemu_proc.h"
#include "core/clock.h"
#include "core/process.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char *mb_qemu_which(const char *prog)
{
    if (strchr(prog, '/'))
        return access(prog, X_OK) == 0 ? strdup(prog) : NULL;
    const char *path = getenv("PATH");
    if (path == NULL || *path == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    char *copy = strdup(path), *save = NULL, *found = NULL;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char full[4096];
        struct stat st;
        snprintf(full, sizeof full, "%s/%s", *d ? d : ".", prog);
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0)
            found = strdup(full);
    }
    free(copy);
    return found;
}

pid_t mb_qemu_spawn(char *const argv[], const char *cwd, const char *log, mb_error **err)
{
    int px[2];
    if (pipe2(px, O_CLOEXEC) != 0) {
        mb_error_set_errno(err, errno, "cannot start %s", argv[0]);
        return -1;
    }
    int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (logfd < 0) {
        mb_error_set_errno(err, errno, "cannot create %s", log);
        close(px[0]);
        close(px[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        mb_process_child_reset(px[1]);
        int e = 0;
        if (chdir(cwd) != 0)
            e = errno;
        else
            execvp(argv[0], argv);
        e = e ? e : errno;
        (void)!write(px[1], &e, sizeof e);
        _exit(127);
    }
    int fork_errno = errno;
    close(logfd);
    close(px[1]);
    if (pid < 0) {
        close(px[0]);
        mb_error_set_errno(err, fork_errno, "cannot start %s", argv[0]);
        return -1;
    }
    int e = mb_process_exec_errno(px[0]);
    close(px[0]);
    if (e != 0) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        mb_error_set_errno(err, e, "cannot run %s (install qemu-system-x86)", argv[0]);
        return -1;
    }
    return pid;
}

/* The state letter of /proc/<pid>/stat ('Z' for a zombie), or 0 if gone. */
static char proc_state(pid_t pid)
{
    char buf[512];
    const char *f = mb_process_stat(pid, buf, sizeof buf);
    return f ? f[0] : 0;
}

bool mb_qemu_pid_usage(pid_t pid, uint64_t *cpu_ns, uint64_t *rss_bytes, mb_error **err)
{
    char p[64], buf[1024];
    unsigned long long utime = 0, stime = 0, pages = 0;
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
     * (fields 3 to 15 of proc(5)) */
    const char *fields = mb_process_stat(pid, buf, sizeof buf);
    if (fields == NULL || sscanf(fields, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                             &utime, &stime) != 2) {
        mb_error_set(err, MB_ERR_STATE, "usage: QEMU (pid %d) is not running", (int)pid);
        return false;
    }
    snprintf(p, sizeof p, "/proc/%d/statm", (int)pid);
    FILE *f = fopen(p, "re");
    if (f == NULL || fscanf(f, "%*u %llu", &pages) != 1) {
        if (f)
            fclose(f);
        mb_error_set(err, MB_ERR_STATE, "usage: QEMU (pid %d) is not running", (int)pid);
        return false;
    }
    fclose(f);
    long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    *cpu_ns = (utime + stime) * (1000000000ULL / (unsigned long long)(hz > 0 ? hz : 100));
    *rss_bytes = pages * (unsigned long long)(page > 0 ? page : 4096);
    return true;
}

/* True if /proc/<pid>/cmdline is empty: the process has dropped its memory and is exiting. */
static bool cmdline_empty(pid_t pid)
{
    char p[64], c;
    snprintf(p, sizeof p, "/proc/%d/cmdline", (int)pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true;
    ssize_t n = read(fd, &c, 1);
    close(fd);
    return n <= 0;
}

void mb_qemu_reap_zombie(pid_t pid, const char *comm_prefix)
{
    char buf[512];
    const char *f = mb_process_stat(pid, buf, sizeof buf);
    const char *lp = f ? strchr(buf, '(') : NULL;
    if (lp == NULL || strncmp(lp + 1, comm_prefix, strlen(comm_prefix)) != 0)
        return;
    char state = f[0];
    long ppid = 0;
    if (sscanf(f + 1, " %ld", &ppid) != 1 || (pid_t)ppid != getpid())
        return; /* not our child: its parent reaps it */
    if (state != 'Z' && !cmdline_empty(pid))
        return; /* alive */
    /* Our child, dead or dying (a SIGKILLed process drops its cmdline before it turns
     * zombie): reap it, waiting a little for the exit to finish. */
    double deadline = mb_clock_now() + 2;
    for (;;) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR) || mb_clock_now() >= deadline)
            return;
        if (r == 0)
            mb_clock_sleep(0.01);
    }
}

bool mb_qemu_pid_gone(pid_t pid, int *status)
{
    int st;
    if (status)
        *status = -1;
    if (pid <= 0)
        return true;
    pid_t r;
    while ((r = waitpid(pid, &st, WNOHANG)) < 0 && errno == EINTR)
        ;
    if (r == pid) {
        if (status)
            *status = st;
        return true;
    }
    if (r == 0)
        return false; /* our child, still running */
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return true;
    char s = proc_state(pid);
    return s == 0 || s == 'Z' || s == 'X';
}

bool mb_qemu_wait_gone(pid_t pid, double timeout)
{
    double deadline = mb_clock_now() + timeout;
    for (;;) {
        if (mb_qemu_pid_gone(pid, NULL))
            return true;
        if (mb_clock_now() >= deadline)
            return false;
        mb_clock_sleep(0.05);
    }
}

bool mb_qemu_pid_matches(pid_t pid, const char *marker)
{
    if (pid <= 0)
        return false;
    char s = proc_state(pid);
    if (s == 0 || s == 'Z' || s == 'X')
        return false;
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/cmdline", (int)pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t cap = 16384, len = 0;
    char *buf = malloc(cap + 1);
    ssize_t r = 0;
    while (buf && (r = read(fd, buf + len, cap - len)) > 0) {
        len += (size_t)r;
        if (len == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (nb == NULL)
                break;
            buf = nb;
            cap *= 2;
        }
    }
    close(fd);
    bool hit = false;
    if (buf) {
        buf[len] = '\0';
        for (size_t off = 0; off < len && !hit; off += strlen(buf + off) + 1)
            hit = strcmp(buf + off, marker) == 0;
    }
    free(buf);
    return hit;
}

int mb_qemu_children(pid_t pid)
{
    DIR *d = opendir("/proc");
    if (d == NULL)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        char buf[512], state;
        const char *f = mb_process_stat((pid_t)atol(de->d_name), buf, sizeof buf);
        int ppid;
        if (f && sscanf(f, "%c %d", &state, &ppid) == 2 && ppid == pid)
            n++;
    }
    closedir(d);
    return n;
}

