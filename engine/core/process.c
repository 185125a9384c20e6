/* Running other programs (see process.h). */
#include "core/process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void mb_process_child_reset(int keep_fd)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL);
    int max = (int)sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    bool closed = keep_fd <= 3 || close_range(3, (unsigned)keep_fd - 1, 0) == 0;
    if (!closed || close_range(keep_fd >= 3 ? (unsigned)keep_fd + 1 : 3, ~0U, 0) != 0) {
        for (int fd = 3; fd < max; fd++)
            if (fd != keep_fd)
                close(fd);
    }
}

int mb_process_exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 255;
}

int mb_process_exec_errno(int fd)
{
    int e = 0;
    ssize_t r;
    while ((r = read(fd, &e, sizeof e)) < 0 && errno == EINTR)
        ;
    return r == (ssize_t)sizeof e ? e : 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

int mb_process_run(char *const argv[], const struct mb_process_io *io, mb_error **err)
{
    static const struct mb_process_io defaults;
    if (io == NULL)
        io = &defaults;
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1}, px[2] = {-1, -1};
    int status = -1, e = 0;
    if ((io->input && pipe2(pin, O_CLOEXEC)) || (io->out && pipe2(pout, O_CLOEXEC))
        || (io->err && !io->inherit_err && pipe2(perr, O_CLOEXEC)) || pipe2(px, O_CLOEXEC)) {
        e = errno;
        goto cleanup;
    }
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(io->input ? pin[0] : null, 0);
        dup2(io->out ? pout[1] : null, 1);
        if (!io->inherit_err)
            dup2(io->err ? perr[1] : null, 2);
        mb_process_child_reset(px[1]);
        if (io->child_setup)
            io->child_setup();
        int ce = 0;
        if (io->cwd && chdir(io->cwd) != 0)
            ce = -errno; /* negative: the directory, not the program */
        else if (io->envp)
            execvpe(argv[0], argv, io->envp);
        else
            execvp(argv[0], argv);
        ce = ce ? ce : errno;
        (void)!write(px[1], &ce, sizeof ce);
        _exit(127);
    }
    if (pid < 0) {
        e = errno;
        goto cleanup;
    }
    close_fd(&pin[0]);
    close_fd(&pout[1]);
    close_fd(&perr[1]);
    close_fd(&px[1]);
    e = mb_process_exec_errno(px[0]);
    if (e != 0) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        goto cleanup;
    }
    size_t inoff = 0;
    if (pin[1] >= 0 && io->input_len == 0)
        close_fd(&pin[1]);
    /* a program that exits without reading its input must not take this
     * process down with SIGPIPE: held while writing, then discarded */
    sigset_t pipe_set, old_mask;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    bool held = pin[1] >= 0 && pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask) == 0;
    if (pin[1] >= 0)
        fcntl(pin[1], F_SETFL, O_NONBLOCK);
    struct pollfd fds[3] = {{pout[0], POLLIN, 0}, {perr[0], POLLIN, 0}, {pin[1], POLLOUT, 0}};
    struct mb_strbuf *bufs[2] = {io->out, io->err};
    while (fds[0].fd >= 0 || fds[1].fd >= 0 || fds[2].fd >= 0) {
        if (poll(fds, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[2].fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(pin[1], io->input + inoff, io->input_len - inoff);
            if (w > 0)
                inoff += (size_t)w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || inoff >= io->input_len) {
                close_fd(&pin[1]); /* done, or the program stopped reading */
                fds[2].fd = -1;
            }
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char chunk[65536];
            ssize_t r = read(fds[i].fd, chunk, sizeof chunk);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                close_fd(i == 0 ? &pout[0] : &perr[0]);
                fds[i].fd = -1;
                continue;
            }
            mb_strbuf_addn(bufs[i], chunk, (size_t)r); /* keeps reading on oom */
        }
    }
    close_fd(&pin[1]);
    if (held) {
        sigset_t pending;
        struct timespec now = {0, 0};
        if (!sigismember(&old_mask, SIGPIPE) && sigpending(&pending) == 0
            && sigismember(&pending, SIGPIPE))
            sigtimedwait(&pipe_set, NULL, &now);
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    status = st;
cleanup:
    for (int i = 0; i < 2; i++) {
        close_fd(&pin[i]);
        close_fd(&pout[i]);
        close_fd(&perr[i]);
        close_fd(&px[i]);
    }
    if (status < 0 && e < 0) {
        mb_error_set_errno(err, -e, "cannot run %s in %s", argv[0], io->cwd);
        errno = -e;
    } else if (status < 0) {
        mb_error_set_errno(err, e, "cannot run %s", argv[0]);
        errno = e;
    }
    return status;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = '\0';
}

bool mb_process_capture(char *const argv[], char **out, mb_error **err)
{
    struct mb_strbuf o = {0}, e = {0};
    struct mb_process_io io = {.out = &o, .err = &e};
    bool ok = false;
    int status = mb_process_run(argv, &io, err);
    if (status < 0)
        goto cleanup;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char cmd[256] = "";
        for (int i = 0; argv[i] && i < 2; i++)
            snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), "%s%s", i ? " " : "", argv[i]);
        char *text = e.s ? e.s : "";
        trim(text);
        mb_error_set(err, MB_ERR_FAILED, "`%s` failed (%s %d)%s%s", cmd,
                     WIFEXITED(status) ? "exit status" : "signal",
                     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                     *text ? ": " : "", text);
        goto cleanup;
    }
    if (out) {
        if ((*out = mb_strbuf_finish(&o)) == NULL) {
            mb_error_set(err, MB_ERR_FAILED, "%s: out of memory for its output", argv[0]);
            goto cleanup;
        }
        o = (struct mb_strbuf){0};
    }
    ok = true;
cleanup:
    mb_strbuf_free(&o);
    mb_strbuf_free(&e);
    return ok;
}

const char *mb_process_stat(pid_t pid, char *buf, size_t size)
{
    char p[64];
    if (pid <= 0 || size < 2)
        return NULL;
    snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && rp[2] != '\0' ? rp + 2 : NULL;
}
