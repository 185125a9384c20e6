/* External drivers: finding moonbase-driver-NAME (and NAME.lua) on
 * MOONBASE_DRIVERS_PATH and in <prefix>/libexec/moonbase/, refusing unsafe
 * ones, and talking to the process: started on first use, one per driver and
 * moonbase process, its stdin and stdout one end of a socket pair (so that
 * exec's descriptors travel with the request), its stderr kept in a
 * file in memory (memfd) whose last line explains a failure. A driver that stays
 * silent past the timeout, dies, or answers something that is not the
 * JSON-RPC reply to the request is killed, and the call fails with one line
 * naming the driver, the method and what went wrong. */
#include "driver/rpc.h"
#include "core/clock.h"
#include "core/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_REPLY (16u << 20) /* one reply line; longer is an attack or a bug */
#define PREFIX "moonbase-driver-"

/* ---------------------------------------------------------------- discovery */

static bool name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > 32 || n[0] < 'a' || n[0] > 'z' || n[len - 1] == '-')
        return false;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    return true;
}

static size_t dirs_of(const char *lua_dir, char dirs[][4096], bool *lua_only, size_t max)
{
    size_t n = 0;
    const char *path = getenv("MOONBASE_DRIVERS_PATH");
    while (path && *path && n < max) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        if (len > 0 && len < 4096) {
            snprintf(dirs[n], 4096, "%.*s", (int)len, path);
            lua_only[n++] = false;
        }
        path = end ? end + 1 : NULL;
    }
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0 && n < max) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            slash = strrchr(exe, '/');
            if (slash) {
                *slash = '\0';
                snprintf(dirs[n], 4096, "%.4000s/libexec/moonbase", exe);
                lua_only[n++] = false;
            }
        }
    }
    if (lua_dir && n < max) {
        snprintf(dirs[n], 4096, "%s", lua_dir);
        lua_only[n++] = true;
    }
    return n;
}

static bool seen(const struct mb_rpc_found *out, size_t n, const char *name)
{
    for (size_t k = 0; k < n; k++)
        if (strcmp(out[k].name, name) == 0)
            return true;
    return false;
}

/* The driver a directory entry is, if it is one. */
static bool entry(const char *dir, const char *file, bool lua_only, struct mb_rpc_found *f)
{
    size_t len = strlen(file);
    memset(f, 0, sizeof *f);
    if (!lua_only && strncmp(file, PREFIX, strlen(PREFIX)) == 0) {
        snprintf(f->name, sizeof f->name, "%s", file + strlen(PREFIX));
        f->kind = MB_RPC_EXTERNAL;
    } else if (len > 4 && strcmp(file + len - 4, ".lua") == 0 && len - 4 < sizeof f->name) {
        snprintf(f->name, sizeof f->name, "%.*s", (int)(len - 4), file);
        f->kind = MB_RPC_LUA;
    } else {
        return false;
    }
    if (!name_ok(f->name))
        return false;
    snprintf(f->path, sizeof f->path, "%.2000s/%.2000s", dir, file);
    const char *why = mb_fs_unsafe_file(f->path, f->kind == MB_RPC_EXTERNAL, f->refused,
                                        sizeof f->refused);
    if (why == NULL)
        f->refused[0] = '\0';
    return true;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t mb_rpc_discover(const char *lua_dir, struct mb_rpc_found *out, size_t max)
{
    char dirs[16][4096];
    bool lua_only[16];
    size_t nd = dirs_of(lua_dir, dirs, lua_only, 16), n = 0;
    for (size_t d = 0; d < nd && n < max; d++) {
        DIR *dp = opendir(dirs[d]);
        if (dp == NULL)
            continue;
        char *names[256];
        size_t nn = 0;
        struct dirent *e;
        while ((e = readdir(dp)) != NULL && nn < 256)
            if (e->d_name[0] != '.')
                names[nn++] = strdup(e->d_name);
        closedir(dp);
        qsort(names, nn, sizeof *names, by_name); /* a stable order for listings */
        for (size_t k = 0; k < nn; k++) {
            struct mb_rpc_found f;
            if (names[k] && n < max && entry(dirs[d], names[k], lua_only[d], &f)
                && !seen(out, n, f.name))
                out[n++] = f;
            free(names[k]);
        }
    }
    return n;
}

bool mb_rpc_find(const char *name, const char *lua_dir, struct mb_rpc_found *out)
{
    if (name == NULL || !name_ok(name))
        return false;
    char dirs[16][4096];
    bool lua_only[16];
    size_t nd = dirs_of(lua_dir, dirs, lua_only, 16);
    for (size_t d = 0; d < nd; d++) {
        char file[128];
        snprintf(file, sizeof file, PREFIX "%s", name);
        char p[8192];
        snprintf(p, sizeof p, "%.4000s/%.100s", dirs[d], file);
        if (!lua_only[d] && access(p, F_OK) == 0 && entry(dirs[d], file, false, out))
            return true;
        snprintf(file, sizeof file, "%s.lua", name);
        snprintf(p, sizeof p, "%.4000s/%.100s", dirs[d], file);
        if (access(p, F_OK) == 0 && entry(dirs[d], file, true, out))
            return true;
    }
    return false;
}

bool mb_rpc_may_replace(const char *name)
{
    const char *s = getenv("MOONBASE_DRIVERS_REPLACE");
    size_t len = strlen(name);
    while (s && *s) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        if (n == len && strncmp(s, name, n) == 0)
            return true;
        s = end ? end + 1 : NULL;
    }
    return false;
}

/* ---------------------------------------------------------------- the process */

struct proc {
    char name[64];
    char path[4096];
    pid_t pid;
    int sock;       /* -1 once the process is gone */
    int errfd;      /* its stderr (a memfd) */
    char dead[512]; /* why it is gone */
    long long next_id;
    char *buf;      /* what it wrote after the last reply */
    size_t len, cap;
    pthread_mutex_t lock;
};

/* The last non-empty line the driver wrote to stderr, for the error. */
static void last_words(struct proc *p, char *out, size_t n)
{
    out[0] = '\0';
    off_t end = lseek(p->errfd, 0, SEEK_END);
    if (end <= 0)
        return;
    char tail[512];
    off_t from = end > (off_t)sizeof tail - 1 ? end - (off_t)sizeof tail + 1 : 0;
    ssize_t got = pread(p->errfd, tail, (size_t)(end - from), from);
    if (got <= 0)
        return;
    tail[got] = '\0';
    while (got > 0 && (tail[got - 1] == '\n' || tail[got - 1] == '\r'))
        tail[--got] = '\0';
    char *line = strrchr(tail, '\n');
    line = line ? line + 1 : tail;
    for (char *c = line; *c; c++)
        if ((unsigned char)*c < 0x20)
            *c = ' ';
    if (*line)
        snprintf(out, n, " (it said: %.200s)", line);
}

/* Ends the process and says why. A driver that failed (what != NULL: it hung,
 * or answered garbage) is killed with its process group at once; one that
 * exited, or is told to (its input closed), gets 100 ms first. */
static void bury(struct proc *p, const char *method, const char *what)
{
    if (p->sock < 0)
        return;
    close(p->sock);
    p->sock = -1;
    if (what)
        kill(-p->pid, SIGKILL);
    int ws = 0;
    pid_t r = 0;
    for (int k = 0; k < 20 && (r = waitpid(p->pid, &ws, WNOHANG)) == 0; k++) {
        mb_clock_sleep(0.005);
    }
    if (r == 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &ws, 0);
    }
    char said[256];
    last_words(p, said, sizeof said);
    char how[64] = "";
    if (what == NULL) {
        if (r > 0 && WIFEXITED(ws))
            snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(ws));
        else if (r > 0 && WIFSIGNALED(ws))
            snprintf(how, sizeof how, "was killed by signal %d", WTERMSIG(ws));
        else
            snprintf(how, sizeof how, "stopped answering");
        what = how;
    }
    snprintf(p->dead, sizeof p->dead, "driver \"%s\" (%.200s) %s during %s%s", p->name, p->path,
             what, method, said);
}

static void fail(struct proc *p, const char *method, const char *what, mb_error **err)
{
    bury(p, method, what);
    mb_error_set(err, MB_ERR_FAILED, "%s", p->dead);
}

static bool send_line(struct proc *p, const char *line, size_t len, const int *fds)
{
    struct iovec iov = {(void *)line, len};
    union {
        char buf[CMSG_SPACE(3 * sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fds) {
        msg.msg_control = u.buf;
        msg.msg_controllen = sizeof u.buf;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(3 * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, 3 * sizeof(int));
    }
    while (iov.iov_len > 0) {
        ssize_t w = sendmsg(p->sock, &msg, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        iov.iov_base = (char *)iov.iov_base + w;
        iov.iov_len -= (size_t)w;
        msg.msg_control = NULL; /* the descriptors went with the first bytes */
        msg.msg_controllen = 0;
    }
    return true;
}

/* The next line the driver wrote (without its newline, NUL-terminated in
 * p->buf; *used is its length + 1), or NULL with *why set. */
static char *read_line(struct proc *p, double deadline, size_t *used, const char **why)
{
    for (;;) {
        char *nl = p->len ? memchr(p->buf, '\n', p->len) : NULL;
        if (nl) {
            *nl = '\0';
            *used = (size_t)(nl - p->buf) + 1;
            return p->buf;
        }
        if (p->len >= MAX_REPLY) {
            *why = "wrote a line longer than 16 MiB";
            return NULL;
        }
        int wait = -1;
        if (deadline > 0) {
            double left = deadline - mb_clock_now();
            if (left <= 0) {
                *why = "was silent too long (killed; try: MOONBASE_DRIVER_TIMEOUT=SECONDS)";
                return NULL;
            }
            wait = (int)(left * 1000) + 1;
        }
        struct pollfd pf = {p->sock, POLLIN, 0};
        int r = poll(&pf, 1, wait);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            continue; /* the deadline check above says so */
        if (p->cap - p->len < 65536) {
            size_t cap = p->cap ? p->cap * 2 : 65536;
            char *nb = realloc(p->buf, cap + 1);
            if (nb == NULL) {
                *why = "sent more than moonbase could hold";
                return NULL;
            }
            p->buf = nb;
            p->cap = cap;
        }
        ssize_t got = read(p->sock, p->buf + p->len, p->cap - p->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            *why = NULL; /* exited: bury says how */
            return NULL;
        }
        p->len += (size_t)got;
    }
}

static void consume(struct proc *p, size_t used)
{
    memmove(p->buf, p->buf + used, p->len - used);
    p->len -= used;
}

/* A driver's words in an error: one line, bounded. */
static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20)
            *s = ' ';
}

void mb_rpc_progress(const char *driver, const char *message)
{
    if (message && isatty(2)) {
        char line[256];
        snprintf(line, sizeof line, "%s", message);
        one_line(line);
        fprintf(stderr, "%s: %s\n", driver, line);
    }
}

static void progress(struct proc *p, mbj_t *params)
{
    mb_rpc_progress(p->name, mbj_string_value(mbj_object_get(params, "message")));
}

static mbj_t *proc_call_locked(struct proc *p, const char *method, mbj_t *params,
                               const int *fds, double timeout, mb_error **err)
{
    if (p->sock < 0) {
        mb_error_set(err, MB_ERR_FAILED, "%s (not started again in this command)", p->dead);
        return NULL;
    }
    long long id = ++p->next_id;
    mbj_t *req = mbj_pack("{s:s, s:I, s:s, s:O?}", "jsonrpc", "2.0", "id", (mbj_int_t)id,
                          "method", method, "params", params);
    char *line = req ? mbj_dumps(req, MBJ_COMPACT) : NULL;
    mbj_decref(req);
    if (line == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "driver \"%s\": %s: its arguments are not valid "
                     "JSON (not UTF-8?)", p->name, method);
        return NULL;
    }
    size_t len = strlen(line);
    line[len] = '\n';
    bool sent = send_line(p, line, len + 1, fds);
    free(line);
    if (!sent) {
        fail(p, method, NULL, err);
        return NULL;
    }
    for (;;) {
        size_t used = 0;
        const char *why = NULL;
        double deadline = timeout > 0 ? mb_clock_now() + timeout : 0;
        char *l = read_line(p, deadline, &used, &why);
        if (l == NULL) {
            fail(p, method, why, err);
            return NULL;
        }
        mbj_t *msg = mbj_loads(l);
        consume(p, used);
        const char *ver = mbj_string_value(mbj_object_get(msg, "jsonrpc"));
        if (msg == NULL || !mbj_is_object(msg) || ver == NULL || strcmp(ver, "2.0") != 0) {
            mbj_decref(msg);
            fail(p, method, "answered something that is not JSON-RPC 2.0", err);
            return NULL;
        }
        mbj_t *mid = mbj_object_get(msg, "id");
        const char *note = mbj_string_value(mbj_object_get(msg, "method"));
        if (!mbj_object_has(msg, "id") && note) {
            if (strcmp(note, "progress") == 0)
                progress(p, mbj_object_get(msg, "params"));
            mbj_decref(msg);
            continue;
        }
        mbj_t *res = mbj_object_get(msg, "result");
        mbj_t *e = mbj_object_get(msg, "error");
        bool has_res = mbj_object_has(msg, "result");
        if (!mbj_is_integer(mid) || mbj_integer_value(mid) != id ||
            has_res == mbj_object_has(msg, "error") || (!has_res && !mbj_is_object(e))) {
            mbj_decref(msg);
            fail(p, method, "answered something else than the reply to its request", err);
            return NULL;
        }
        if (has_res) { /* a null result: an empty object, which only done() takes */
            res = res ? mbj_incref(res) : mbj_object();
            mbj_decref(msg);
            return res;
        }
        mbj_int_t code = mbj_integer_value(mbj_object_get(e, "code"));
        const char *m = mbj_string_value(mbj_object_get(e, "message"));
        const char *kind = mbj_string_value(mbj_object_get(mbj_object_get(e, "data"),
                                                             "code"));
        char text[1024];
        snprintf(text, sizeof text, "%s", m ? m : "");
        one_line(text);
        if (code == -32601)
            mb_error_set(err, MB_ERR_UNSUPPORTED, "unsupported: %s is not supported by the %s "
                         "driver (%s)", method, p->name, p->path);
        else if (*text == '\0')
            mb_error_set(err, MB_ERR_FAILED, "driver \"%s\": %s failed (error %lld)", p->name,
                         method, (long long)code);
        else
            mb_error_set(err, mb_rpc_code_of(kind), "%s", text);
        mbj_decref(msg);
        return NULL;
    }
}

static mbj_t *proc_call(void *self, const char *method, mbj_t *params, const int *fds,
                        double timeout, mb_error **err)
{
    struct proc *p = self;
    pthread_mutex_lock(&p->lock);
    mbj_t *r = proc_call_locked(p, method, params, fds, timeout, err);
    pthread_mutex_unlock(&p->lock);
    return r;
}

static void proc_free(void *self)
{
    struct proc *p = self;
    if (p == NULL)
        return;
    if (p->sock >= 0)
        bury(p, "exit", NULL);
    if (p->errfd >= 0)
        close(p->errfd);
    free(p->buf);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static const struct mb_rpc_backend proc_backend = {proc_call, proc_free};

static struct proc *proc_start(const struct mb_rpc_found *f, mb_error **err)
{
    struct proc *p = calloc(1, sizeof *p);
    int sv[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (p == NULL) {
        mb_error_set(err, MB_ERR_IO, "out of memory");
        goto fail;
    }
    pthread_mutex_init(&p->lock, NULL);
    p->sock = p->errfd = -1;
    snprintf(p->name, sizeof p->name, "%s", f->name);
    snprintf(p->path, sizeof p->path, "%s", f->path);
    /* its stderr: a file in memory, never on disk */
    p->errfd = memfd_create("moonbase-driver-stderr", MFD_CLOEXEC);
    if (p->errfd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        mb_error_set_errno(err, errno, "driver \"%s\": cannot start %s", f->name, f->path);
        goto fail;
    }
    posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
    posix_spawn_file_actions_adddup2(&fa, p->errfd, 2);
    char *argv[] = {p->path, NULL};
    /* its own process group: a driver killed for hanging takes its children along */
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&at, 0);
    int rc = posix_spawn(&p->pid, p->path, &fa, &at, argv, environ);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
        mb_error_set_errno(err, rc, "driver \"%s\": cannot start %s", f->name, f->path);
        goto fail;
    }
    close(sv[1]);
    p->sock = sv[0];
    posix_spawn_file_actions_destroy(&fa);
    return p;
fail:
    posix_spawn_file_actions_destroy(&fa);
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    proc_free(p);
    return NULL;
}

/* One process per driver for the life of this moonbase process. */
static struct mb_rpc_driver *started[16];
static size_t n_started;
static pthread_mutex_t started_lock = PTHREAD_MUTEX_INITIALIZER;

static void stop_all(void)
{
    for (size_t k = 0; k < n_started; k++)
        mb_rpc_driver_free(started[k]);
    n_started = 0;
}

const struct mb_driver *mb_rpc_external(const struct mb_rpc_found *f, mb_error **err)
{
    if (f->refused[0]) {
        mb_error_set(err, MB_ERR_USAGE, "driver \"%s\" (%s) refused: %s", f->name, f->path,
                     f->refused);
        return NULL;
    }
    pthread_mutex_lock(&started_lock);
    const struct mb_driver *d = NULL;
    for (size_t k = 0; k < n_started && d == NULL; k++)
        if (strcmp(started[k]->origin, f->path) == 0)
            d = &started[k]->d;
    if (d == NULL && n_started < sizeof started / sizeof *started) {
        struct proc *p = proc_start(f, err);
        struct mb_rpc_driver *r = p ? mb_rpc_driver_new(f->name, f->path, MB_RPC_EXTERNAL,
                                                        &proc_backend, p, err)
                                    : NULL;
        if (r) {
            if (n_started == 0)
                atexit(stop_all);
            started[n_started++] = r;
            d = &r->d;
        }
    } else if (d == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "too many external drivers in one command");
    }
    pthread_mutex_unlock(&started_lock);
    return d;
}
