/* The test driver: instances as files, no hypervisor, so the CLI and recipes
 * can be tested in milliseconds; it enforces the state machine and never
 * changes the host. Its truth is <dir>/test-driver.state.
 *
 * The "guest" is <dir>/rootfs: create puts a static busybox in it (the
 * local.test.busybox setting) and the cloud-init documents where NoCloud
 * reads them (/var/lib/cloud/seed/nocloud). exec runs a command in a
 * bubblewrap sandbox with that directory as / and nothing of the host's: new
 * user, mount, PID, network, IPC and UTS namespaces, no network but loopback,
 * uid 0 inside mapped to the caller outside, all capabilities dropped. NICs
 * are on simulated networks (MB_NET_SIMULATED): moonbase's addresses and
 * names, no bridge, tap or rule on the host. There is no SSH: forwards and
 * ssh-config are refused by the dispatcher.
 *
 * A paused instance (suspend with MB_PAUSE) is "paused" in its state file,
 * shown as suspended. Snapshots are files in <dir>/test-driver.snapshots/<tag>:
 * the state the instance was in and its disk size; restoring one taken while
 * running leaves the instance suspended until it is started, as real drivers
 * do with a snapshot's memory. A clone gets a new guest (rootfs) with its own
 * cloud-init documents and the source's disk size.
 *
 * Test hooks (environment): MOONBASE_TEST_DELAY_MS=N sleeps N ms in create,
 * start and shutdown (to observe parallelism), and in snapshot and clone
 * after their data is written (to kill a command between the driver's step
 * and moonbase's record); MOONBASE_TEST_FAIL=op[:name],... makes that
 * operation fail (for all instances, or the named one). */
#include "driver/driver.h"
#include "core/fs.h"
#include "core/process.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define PATHLEN 4096

/* a/b into buf; "" (an unusable path: every access to it fails) if it does not fit */
static bool join(char *buf, size_t n, const char *a, const char *b)
{
    int len = snprintf(buf, n, "%s/%s", a, b);
    if (len < 0 || (size_t)len >= n) {
        buf[0] = '\0';
        return false;
    }
    return true;
}

static void path_of(char *buf, size_t n, const struct mb_instance *i, const char *file)
{
    join(buf, n, i->dir, file);
}

static void delay(void)
{
    const char *ms = getenv("MOONBASE_TEST_DELAY_MS");
    long v = ms ? strtol(ms, NULL, 10) : 0;
    if (v > 0) {
        struct timespec ts = {v / 1000, (v % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* MOONBASE_TEST_FAIL="start,create:web1" */
static bool injected_failure(const char *op, const struct mb_instance *i, mb_error **err)
{
    const char *spec = getenv("MOONBASE_TEST_FAIL");
    if (spec == NULL)
        return false;
    char *copy = strdup(spec), *save = NULL;
    bool hit = false;
    for (char *tok = strtok_r(copy, ",", &save); tok && !hit; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        if (colon)
            *colon = '\0';
        hit = strcmp(tok, op) == 0 && (colon == NULL || (i && strcmp(colon + 1, i->name) == 0));
    }
    free(copy);
    if (hit)
        mb_error_set(err, MB_ERR_FAILED, "test driver: %s of \"%s\" failed (injected by "
                     "MOONBASE_TEST_FAIL)", op, i ? i->name : "");
    return hit;
}

static void log_line(const struct mb_instance *i, const char *what)
{
    char p[PATHLEN];
    path_of(p, sizeof p, i, "serial.log");
    FILE *f = fopen(p, "a");
    if (f) {
        fprintf(f, "[test driver] %s %s\n", i->name, what);
        fclose(f);
    }
}

static enum mb_state read_state(const struct mb_instance *i)
{
    char p[PATHLEN], s[16];
    path_of(p, sizeof p, i, "test-driver.state");
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return MB_STATE_ABSENT;
    ssize_t n = read(fd, s, sizeof s - 1);
    close(fd);
    s[n > 0 ? n : 0] = '\0';
    if (strncmp(s, "stopped", 7) == 0)
        return MB_STATE_STOPPED;
    if (strncmp(s, "running", 7) == 0)
        return MB_STATE_RUNNING;
    if (strncmp(s, "suspended", 9) == 0 || strncmp(s, "paused", 6) == 0)
        return MB_STATE_SUSPENDED;
    return MB_STATE_UNKNOWN;
}

static bool is_paused(const struct mb_instance *i)
{
    char p[PATHLEN];
    path_of(p, sizeof p, i, "test-driver.state");
    char *s = mb_fs_read(p, NULL, NULL);
    bool paused = s && strncmp(s, "paused", 6) == 0;
    free(s);
    return paused;
}

static bool write_state_word(const struct mb_instance *i, const char *name, mb_error **err)
{
    char p[PATHLEN];
    path_of(p, sizeof p, i, "test-driver.state");
    if (!mb_fs_write_atomic(p, name, strlen(name), 0644, err))
        return false;
    log_line(i, name);
    return true;
}

static bool write_state(const struct mb_instance *i, enum mb_state st, mb_error **err)
{
    return write_state_word(i, mb_state_name(st), err);
}

/* The state machine: `op` needs the instance in state `want`. */
static bool expect(const struct mb_instance *i, enum mb_state want, const char *op,
                   mb_error **err)
{
    enum mb_state st = read_state(i);
    if (st == want)
        return true;
    if (st == MB_STATE_ABSENT)
        mb_error_set(err, MB_ERR_NOT_FOUND, "test driver: %s: no instance \"%s\"", op, i->name);
    else
        mb_error_set(err, MB_ERR_STATE, "test driver: cannot %s \"%s\": it is %s, not %s", op,
                     i->name, mb_state_name(st), mb_state_name(want));
    return false;
}

/* ---------------------------------------------------------------- host */

static enum mb_probe_result t_probe(struct mb_conn *c, char **reason, unsigned flags,
                                    mb_error **err)
{
    return MB_PROBE_OK;
}

static char **t_host_info(struct mb_conn *c, unsigned flags, mb_error **err)
{
    char **v = mb_strv_new();
    mb_strv_push(&v, "driver=test");
    mb_strv_push(&v, "hypervisor=none (instances are files, exec a bubblewrap sandbox)");
    return v;
}

static char **t_networks(struct mb_conn *c, unsigned flags, mb_error **err)
{
    return mb_strv_new(); /* no host networks: the test driver's are simulated */
}

static enum mb_net_backend t_net_backend(struct mb_conn *c, const char *host, unsigned flags,
                                         mb_error **err)
{
    return MB_NET_SIMULATED;
}

/* ---------------------------------------------------------------- the guest's files */

/* The busybox applets the guest has, as /bin/<name> -> busybox. */
static const char *const applets[] = {
    "sh", "ash", "awk", "basename", "cat", "chmod", "chown", "cp", "cut", "date", "dd", "df",
    "dirname", "du", "echo", "env", "expr", "false", "find", "grep", "gunzip", "gzip", "head",
    "hostname", "id", "kill", "ln", "ls", "md5sum", "mkdir", "mktemp", "mv", "nproc", "od",
    "printenv", "printf", "ps", "pwd", "readlink", "realpath", "rm", "rmdir", "sed", "seq",
    "sha256sum", "sleep", "sort", "stat", "sync", "tail", "tar", "tee", "test", "[", "timeout",
    "touch", "tr", "true", "uname", "uniq", "wc", "which", "whoami", "xargs", "yes", NULL,
};

static bool write_file(const char *dir, const char *rel, const char *text, mb_error **err)
{
    char p[PATHLEN];
    if (!join(p, sizeof p, dir, rel)) {
        mb_error_set(err, MB_ERR_USAGE, "test driver: the path %s/%s is too long", dir, rel);
        return false;
    }
    return mb_fs_write_atomic(p, text, strlen(text), 0644, err);
}

/* Whether fd is an ELF executable that needs a program interpreter (a
 * dynamically linked one cannot run in a guest that has no libc). */
static bool needs_interpreter(int fd)
{
    Elf64_Ehdr eh;
    if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG)
        || eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr))
        return false;
    for (unsigned k = 0; k < eh.e_phnum; k++) {
        Elf64_Phdr ph;
        off_t at = (off_t)eh.e_phoff + (off_t)k * (off_t)sizeof ph;
        if (pread(fd, &ph, sizeof ph, at) != (ssize_t)sizeof ph)
            return false;
        if (ph.p_type == PT_INTERP)
            return true;
    }
    return false;
}

/* Copies the static busybox at src into the guest's /bin (a copy: the guest
 * may write its own files), with its applets. */
static bool install_busybox(const char *root, const char *src, mb_error **err)
{
    char dst[PATHLEN], link[PATHLEN];
    join(dst, sizeof dst, root, "bin/busybox");
    int in = open(src, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    bool found = in >= 0 && fstat(in, &sb) == 0 && S_ISREG(sb.st_mode);
    if (!found || needs_interpreter(in)) {
        if (in >= 0)
            close(in);
        mb_error_set(err, MB_ERR_NOT_FOUND, "test driver: %s %s to put in the guest (install "
                     "busybox-static, or: moonbase set local.test.busybox=PATH of a static "
                     "busybox)", found ? "a dynamically linked busybox at" : "no busybox at",
                     src);
        return false;
    }
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    off_t left = sb.st_size;
    while (out >= 0 && left > 0) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
        if (n <= 0)
            break;
        left -= n;
    }
    int e = errno;
    close(in);
    if (out < 0 || left > 0) {
        if (out >= 0)
            close(out);
        mb_error_set_errno(err, out < 0 ? e : (e ? e : EIO), "test driver: cannot copy %s "
                           "into %s", src, dst);
        return false;
    }
    close(out);
    for (const char *const *a = applets; *a; a++) {
        char rel[64];
        snprintf(rel, sizeof rel, "bin/%s", *a);
        join(link, sizeof link, root, rel);
        if (symlink("busybox", link) != 0 && errno != EEXIST) {
            mb_error_set_errno(err, errno, "test driver: cannot make %s", link);
            return false;
        }
    }
    return true;
}

/* The guest's root: directories, busybox, hostname, cloud-init's seed. */
static bool make_rootfs(struct mb_conn *c, const struct mb_instance *i, mb_error **err)
{
    static const char *const dirs[] = {"bin", "dev", "etc", "proc", "root", "tmp", "usr",
                                       "var/lib/cloud/seed/nocloud", NULL};
    char root[PATHLEN], p[PATHLEN];
    path_of(root, sizeof root, i, "rootfs");
    for (const char *const *d = dirs; *d; d++) {
        join(p, sizeof p, root, *d);
        if (!mb_fs_mkdirs(p, 0755, err))
            return false;
    }
    join(p, sizeof p, root, "tmp");
    chmod(p, 01777);
    join(p, sizeof p, root, "root");
    chmod(p, 0700);
    char hostname[300];
    snprintf(hostname, sizeof hostname, "%s\n", i->name);
    const struct mb_cloud_init *ci = &i->cloud_init;
    return install_busybox(root, mb_conn_config(c, "busybox"), err)
           && write_file(root, "etc/hostname", hostname, err)
           && write_file(root, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", err)
           && write_file(root, "etc/group", "root:x:0:\n", err)
           && (ci->meta_data == NULL
               || write_file(root, "var/lib/cloud/seed/nocloud/meta-data", ci->meta_data, err))
           && (ci->user_data == NULL
               || write_file(root, "var/lib/cloud/seed/nocloud/user-data", ci->user_data, err))
           && (ci->network_config == NULL
               || write_file(root, "var/lib/cloud/seed/nocloud/network-config",
                             ci->network_config, err));
}

/* ---------------------------------------------------------------- lifecycle */

static void disk_path(char *buf, size_t n, const struct mb_instance *i)
{
    path_of(buf, n, i, "disk.img");
}

static bool t_create(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                     mb_error **err)
{
    delay();
    if (injected_failure("create", i, err))
        return false;
    if (read_state(i) != MB_STATE_ABSENT) {
        mb_error_set(err, MB_ERR_EXISTS, "test driver: instance \"%s\" already exists", i->name);
        return false;
    }
    struct stat sb;
    if (i->image.path != NULL && stat(i->image.path, &sb) != 0) {
        mb_error_set_errno(err, errno, "test driver: the image %s of \"%s\" is not there",
                           i->image.path, i->name);
        return false;
    }
    char p[PATHLEN];
    disk_path(p, sizeof p, i);
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || ftruncate(fd, (off_t)i->disk_size) != 0) {
        mb_error_set_errno(err, errno, "test driver: cannot create disk %s", p);
        if (fd >= 0)
            close(fd);
        return false;
    }
    close(fd);
    return make_rootfs(c, i, err) && write_state(i, MB_STATE_STOPPED, err);
}

static bool t_start(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                    mb_error **err)
{
    char resume[PATHLEN];
    delay();
    path_of(resume, sizeof resume, i, "test-driver.resume");
    if (read_state(i) == MB_STATE_SUSPENDED && access(resume, F_OK) == 0) {
        unlink(resume); /* a restored snapshot's memory: the guest runs on */
        return !injected_failure("start", i, err) && write_state(i, MB_STATE_RUNNING, err);
    }
    if (injected_failure("start", i, err) || !expect(i, MB_STATE_STOPPED, "start", err))
        return false;
    char p[PATHLEN], now[64];
    path_of(p, sizeof p, i, "test-driver.boot");
    snprintf(now, sizeof now, "%ld", (long)time(NULL));
    return mb_fs_write_atomic(p, now, strlen(now), 0644, err)
           && write_state(i, MB_STATE_RUNNING, err);
}

static bool t_shutdown(struct mb_conn *c, const struct mb_instance *i, double timeout,
                       unsigned flags, mb_error **err)
{
    delay();
    if (injected_failure("shutdown", i, err))
        return false;
    enum mb_state st = read_state(i);
    if (!(st == MB_STATE_RUNNING || (st == MB_STATE_SUSPENDED && (flags & MB_FORCE)))
        && !expect(i, MB_STATE_RUNNING, "stop", err))
        return false;
    char p[PATHLEN];
    path_of(p, sizeof p, i, "test-driver.resume");
    unlink(p);
    return write_state(i, MB_STATE_STOPPED, err);
}

static bool t_suspend(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                      mb_error **err)
{
    if (injected_failure("suspend", i, err) || !expect(i, MB_STATE_RUNNING, "suspend", err))
        return false;
    return (flags & MB_PAUSE) ? write_state_word(i, "paused", err)
                              : write_state(i, MB_STATE_SUSPENDED, err);
}

static bool t_resume(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                     mb_error **err)
{
    if (injected_failure("resume", i, err) || !expect(i, MB_STATE_SUSPENDED, "resume", err))
        return false;
    char p[PATHLEN];
    path_of(p, sizeof p, i, "test-driver.resume");
    unlink(p);
    return write_state(i, MB_STATE_RUNNING, err);
}

static enum mb_state t_state(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                             mb_error **err)
{
    return read_state(i);
}

static bool t_destroy(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                      mb_error **err)
{
    if (injected_failure("destroy", i, err))
        return false;
    char p[PATHLEN];
    path_of(p, sizeof p, i, "test-driver.state");
    unlink(p);
    path_of(p, sizeof p, i, "test-driver.resume");
    unlink(p);
    if (!(flags & MB_KEEP_DISKS)) {
        disk_path(p, sizeof p, i);
        unlink(p);
        path_of(p, sizeof p, i, "rootfs");
        mb_fs_rmtree(p, NULL);
    }
    return true;
}

/* The NICs' addresses on their (simulated) networks, as the guest has them. */
static char **t_ipv4(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                     mb_error **err)
{
    char **v = mb_strv_new();
    for (size_t k = 0; v && k < i->n_nics; k++)
        if (i->nics[k].ipv4 && *i->nics[k].ipv4) {
            char a[64];
            snprintf(a, sizeof a, "%.*s", (int)strcspn(i->nics[k].ipv4, "/"), i->nics[k].ipv4);
            mb_strv_push(&v, a);
        }
    return v;
}

static char *t_console_log(struct mb_conn *c, const struct mb_instance *i, size_t max,
                           unsigned flags, mb_error **err)
{
    char p[PATHLEN];
    path_of(p, sizeof p, i, "serial.log");
    size_t len;
    char *s = mb_fs_read(p, &len, NULL);
    if (s == NULL)
        return strdup("");
    if (len > max)
        memmove(s, s + len - max, max + 1);
    return s;
}

/* Simulated figures, a function of how long the instance has run (its state
 * file's age): a fifth of one CPU, and three eighths of its memory plus a
 * wobble, so a plot of them moves. */
static bool t_usage(struct mb_conn *c, const struct mb_instance *i, struct mb_usage *u,
                    unsigned flags, mb_error **err)
{
    if (injected_failure("usage", i, err) || !expect(i, MB_STATE_RUNNING, "usage", err))
        return false;
    char p[PATHLEN];
    path_of(p, sizeof p, i, "test-driver.state");
    struct stat st;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double up = 0;
    if (stat(p, &st) == 0)
        up = (double)(now.tv_sec - st.st_mtim.tv_sec) +
             (double)(now.tv_nsec - st.st_mtim.tv_nsec) / 1e9;
    if (up < 0)
        up = 0;
    u->cpu_ns = (uint64_t)(up * 0.2 * 1e9);
    u->memory_bytes = i->memory / 8 * 3 + (uint64_t)((long)up % 16) * 1024 * 1024;
    return true;
}

/* ---------------------------------------------------------------- exec: the sandbox */

static char *find_on_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[PATHLEN];
    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        size_t n = strcspn(p, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, prog);
        if (n > 0 && access(buf, X_OK) == 0)
            return strdup(buf);
        p += n + (p[n] == ':');
    }
    return NULL;
}

static bool push_all(char ***v, const char *const *words)
{
    for (; *words; words++)
        if (!mb_strv_push(v, *words))
            return false;
    return true;
}

/* A guest's terminal cooks what is typed (echo, lines, ^C) itself; a daemon's
 * worker hands over a raw one (its client's terminal is raw, for a real
 * guest's own), so the sandbox's shell gets a guest's settings. */
static void cook(int fd)
{
    struct termios t;
    if (!isatty(fd) || tcgetattr(fd, &t) != 0)
        return;
    t.c_iflag |= ICRNL | IXON;
    t.c_oflag |= OPOST | ONLCR;
    t.c_lflag |= ISIG | ICANON | ECHO | ECHOE | ECHOK | IEXTEN | ECHOCTL | ECHOKE;
    tcsetattr(fd, TCSANOW, &t);
}

static bool t_exec(struct mb_conn *c, const struct mb_instance *i, const struct mb_exec *x,
                   int *status, unsigned flags, mb_error **err)
{
    char root[PATHLEN], sh[PATHLEN];
    if (!expect(i, MB_STATE_RUNNING, "exec in", err))
        return false;
    path_of(root, sizeof root, i, "rootfs");
    join(sh, sizeof sh, root, "bin/sh");
    if (access(sh, F_OK) != 0) {
        mb_error_set(err, MB_ERR_FAILED, "test driver: \"%s\" has no /bin/sh in its guest "
                     "(%s)", i->name, root);
        return false;
    }
    if (x->workdir) {
        /* the guest's answer, as a real guest's shell would give it */
        char wd[PATHLEN];
        struct stat st;
        if (!join(wd, sizeof wd, root, x->workdir) || stat(wd, &st) != 0
            || !S_ISDIR(st.st_mode)) {
            mb_error_set(err, MB_ERR_NOT_FOUND, "working directory %s does not exist in \"%s\"",
                         x->workdir, i->name);
            return false;
        }
    }
    char *bwrap = find_on_path("bwrap");
    if (bwrap == NULL) {
        mb_error_set(err, MB_ERR_UNSUPPORTED, "test driver: exec runs commands in a bubblewrap "
                     "sandbox, and bwrap is not installed (apt-get install bubblewrap)");
        return false;
    }
    char **argv = mb_strv_new();
    bool ok = argv != NULL;
    const char *const head[] = {bwrap, "--unshare-all", "--unshare-user", "--uid", "0",
                                "--gid", "0", "--cap-drop", "ALL", "--die-with-parent",
                                "--bind", root, "/", "--proc", "/proc", "--dev", "/dev",
                                "--hostname", i->name, "--clearenv",
                                "--setenv", "PATH", "/bin:/usr/bin:/sbin:/usr/sbin",
                                "--setenv", "HOME", "/root", "--setenv", "USER", "root",
                                "--setenv", "MOONBASE_INSTANCE", i->name, NULL};
    ok = ok && push_all(&argv, head);
    if (ok && !(flags & MB_EXEC_TTY))
        ok = mb_strv_push(&argv, "--new-session"); /* no TIOCSTI into the caller's terminal */
    if (ok && (flags & MB_EXEC_TTY)) {
        const char *term = getenv("TERM");
        const char *const t[] = {"--setenv", "TERM", term ? term : "vt100", NULL};
        ok = push_all(&argv, t);
    }
    for (const char *const *e = x->env; ok && e && *e; e++) {
        const char *eq = strchr(*e, '=');
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(eq - *e), *e);
        const char *const s[] = {"--setenv", name, eq + 1, NULL};
        ok = push_all(&argv, s);
    }
    const char *const cd[] = {"--chdir", x->workdir ? x->workdir : "/root", "--", NULL};
    ok = ok && push_all(&argv, cd);
    if (ok && x->argv) {
        /* through the guest's shell, as SSH runs it: a missing command is
         * the shell's 127 with its message, not bwrap's exit 1 */
        const char *const sh_exec[] = {"/bin/sh", "-c", "exec \"$@\"", "sh", NULL};
        ok = push_all(&argv, sh_exec) && push_all(&argv, x->argv);
    }
    else if (ok) {
        const char *const login[] = {"/bin/sh", "-l", NULL};
        ok = push_all(&argv, login);
    }
    free(bwrap);
    if (!ok) {
        mb_strv_free(argv);
        mb_error_set(err, MB_ERR_FAILED, "test driver: out of memory");
        return false;
    }
    /* the shared clean start: nothing of moonbase's (locks, sockets, files
     * opened without O_CLOEXEC) reaches the guest but its three streams */
    if (flags & MB_EXEC_TTY)
        cook(x->fds[0]);
    int px[2];
    if (pipe2(px, O_CLOEXEC) != 0) {
        mb_strv_free(argv);
        mb_error_set_errno(err, errno, "test driver: cannot start the sandbox");
        return false;
    }
    pid_t pid = fork();
    if (pid == 0) {
        for (int k = 0; k < 3; k++)
            if (x->fds[k] != k)
                dup2(x->fds[k], k);
        mb_process_child_reset(px[1]);
        execv(argv[0], argv);
        int e = errno;
        (void)!write(px[1], &e, sizeof e);
        _exit(127);
    }
    int rc = pid < 0 ? errno : 0;
    close(px[1]);
    mb_strv_free(argv);
    if (pid > 0)
        rc = mb_process_exec_errno(px[0]);
    close(px[0]);
    if (rc != 0) {
        if (pid > 0)
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        mb_error_set_errno(err, rc, "test driver: cannot start the sandbox");
        return false;
    }
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR) {
            mb_error_set_errno(err, errno, "test driver: waiting for the sandbox");
            return false;
        }
    *status = mb_process_exit_code(ws);
    return true;
}

/* ---------------------------------------------------------------- storage */

static void snapshot_path(char *buf, size_t n, const struct mb_instance *i, const char *snap)
{
    snprintf(buf, n, "%s/test-driver.snapshots/%s", i->dir, snap);
}

static long long disk_bytes(const struct mb_instance *i)
{
    char p[PATHLEN];
    struct stat st;
    disk_path(p, sizeof p, i);
    return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

/* A snapshot file: "<running|stopped> <disk bytes> <epoch seconds>". */
static bool read_snapshot(const struct mb_instance *i, const char *snap, struct mb_snapshot *s,
                          long long *bytes, mb_error **err)
{
    char p[PATHLEN], word[16];
    snapshot_path(p, sizeof p, i, snap);
    char *text = mb_fs_read(p, NULL, NULL);
    long long b = 0, t = 0;
    if (text == NULL || sscanf(text, "%15s %lld %lld", word, &b, &t) != 3) {
        free(text);
        mb_error_set(err, MB_ERR_NOT_FOUND, "no snapshot \"%s\" of \"%s\"", snap, i->name);
        return false;
    }
    free(text);
    s->name = NULL;
    s->memory = strcmp(word, "running") == 0;
    s->size = s->memory ? i->memory : 0;
    s->created = t;
    if (bytes)
        *bytes = b;
    return true;
}

static bool t_snapshot_take(struct mb_conn *c, const struct mb_instance *i, const char *snap,
                            unsigned flags, mb_error **err)
{
    char p[PATHLEN], line[128];
    if (injected_failure("snapshot", i, err))
        return false;
    enum mb_state st = read_state(i);
    if (st == MB_STATE_ABSENT || (st == MB_STATE_SUSPENDED && !is_paused(i))) {
        expect(i, MB_STATE_RUNNING, "snapshot", err);
        return false;
    }
    path_of(p, sizeof p, i, "test-driver.snapshots");
    if (!mb_fs_mkdirs(p, 0755, err))
        return false;
    snapshot_path(p, sizeof p, i, snap);
    if (access(p, F_OK) == 0) {
        mb_error_set(err, MB_ERR_EXISTS, "snapshot \"%s\" of \"%s\" already exists", snap,
                     i->name);
        return false;
    }
    int n = snprintf(line, sizeof line, "%s %lld %ld\n", st == MB_STATE_STOPPED ? "stopped"
                     : "running", disk_bytes(i), (long)time(NULL));
    bool ok = mb_fs_write_atomic(p, line, (size_t)n, 0644, err);
    delay();
    return ok;
}

static bool t_snapshot_restore(struct mb_conn *c, const struct mb_instance *i, const char *snap,
                               unsigned flags, mb_error **err)
{
    struct mb_snapshot s;
    long long bytes;
    char p[PATHLEN];
    if (injected_failure("restore", i, err) || !read_snapshot(i, snap, &s, &bytes, err)
        || !expect(i, MB_STATE_STOPPED, "restore", err))
        return false;
    disk_path(p, sizeof p, i);
    if (bytes >= 0 && truncate(p, (off_t)bytes) != 0) {
        mb_error_set_errno(err, errno, "test driver: cannot restore %s", p);
        return false;
    }
    if (!s.memory)
        return true;
    /* the snapshot's memory: the next start resumes it */
    path_of(p, sizeof p, i, "test-driver.resume");
    return mb_fs_write_atomic(p, snap, strlen(snap), 0644, err)
           && write_state(i, MB_STATE_SUSPENDED, err);
}

static bool t_snapshot_delete(struct mb_conn *c, const struct mb_instance *i, const char *snap,
                              unsigned flags, mb_error **err)
{
    char p[PATHLEN];
    path_of(p, sizeof p, i, "test-driver.resume");
    char *pending = mb_fs_read(p, NULL, NULL);
    bool needed = pending && strcmp(pending, snap) == 0;
    free(pending);
    if (needed) {
        mb_error_set(err, MB_ERR_STATE, "snapshot delete: \"%s\" resumes from snapshot \"%s\" "
                     "at its next start (try: moonbase start %s first, or moonbase stop "
                     "--force %s to discard that)", i->name, snap, i->name, i->name);
        return false;
    }
    snapshot_path(p, sizeof p, i, snap);
    if (unlink(p) != 0) {
        mb_error_set(err, MB_ERR_NOT_FOUND, "no snapshot \"%s\" of \"%s\"", snap, i->name);
        return false;
    }
    return true;
}

static struct mb_snapshot *t_snapshot_list(struct mb_conn *c, const struct mb_instance *i,
                                           unsigned flags, mb_error **err)
{
    char p[PATHLEN];
    path_of(p, sizeof p, i, "test-driver.snapshots");
    size_t n = 0, cap = 8;
    struct mb_snapshot *v = calloc(cap + 1, sizeof *v);
    DIR *d = opendir(p);
    struct dirent *de;
    while (v && d && (de = readdir(d)) != NULL) {
        struct mb_snapshot s;
        if (de->d_name[0] == '.' || !read_snapshot(i, de->d_name, &s, NULL, NULL))
            continue;
        if (n == cap) {
            struct mb_snapshot *nv = realloc(v, (2 * cap + 1) * sizeof *v);
            if (nv == NULL)
                break;
            v = nv;
            cap *= 2;
        }
        s.name = strdup(de->d_name);
        v[n++] = s;
        v[n].name = NULL;
    }
    if (d)
        closedir(d);
    if (v == NULL)
        mb_error_set(err, MB_ERR_FAILED, "test driver: out of memory");
    return v;
}

static bool t_clone(struct mb_conn *c, const struct mb_instance *i, const struct mb_instance *t,
                    unsigned flags, mb_error **err)
{
    if (injected_failure("clone", i, err) || !expect(i, MB_STATE_STOPPED, "clone", err))
        return false;
    struct mb_instance sized = *t;
    long long bytes = disk_bytes(i);
    if (bytes >= 0)
        sized.disk_size = (uint64_t)bytes;
    bool ok = mb_fs_mkdirs(t->dir, 0700, err) && t_create(c, &sized, flags, err);
    delay();
    return ok;
}

static bool t_rename(struct mb_conn *c, const struct mb_instance *i, const struct mb_instance *t,
                     unsigned flags, mb_error **err)
{
    return !injected_failure("rename", i, err) && expect(i, MB_STATE_STOPPED, "rename", err);
}

static bool t_resize_disk(struct mb_conn *c, const struct mb_instance *i, uint64_t bytes,
                          unsigned flags, mb_error **err)
{
    char p[PATHLEN];
    disk_path(p, sizeof p, i);
    struct stat st;
    if (stat(p, &st) != 0) {
        mb_error_set_errno(err, errno, "test driver: cannot resize %s", p);
        return false;
    }
    if ((uint64_t)st.st_size > bytes) {
        mb_error_set(err, MB_ERR_USAGE, "disk of \"%s\" can only grow", i->name);
        return false;
    }
    if (truncate(p, (off_t)bytes) != 0) {
        mb_error_set_errno(err, errno, "test driver: cannot resize %s", p);
        return false;
    }
    return true;
}

/* Native mounts are recorded (the console log says so); the sandbox shows
 * no host folder. */
static bool t_mount_native(struct mb_conn *c, const struct mb_instance *i,
                           const struct mb_mount_spec *m, unsigned flags, mb_error **err)
{
    char line[4200];
    snprintf(line, sizeof line, "mount %s %s", m->tag, m->source);
    log_line(i, line);
    return true;
}

static bool t_umount_native(struct mb_conn *c, const struct mb_instance *i,
                            const struct mb_mount_spec *m, unsigned flags, mb_error **err)
{
    char line[4200];
    snprintf(line, sizeof line, "umount %s", m->tag);
    log_line(i, line);
    return true;
}

static const struct mb_setting settings[] = {
    {"local.test.busybox", "busybox", MB_SETTING_STRING, "/bin/busybox", NULL,
     "the static busybox the test driver copies into its guests (package busybox-static)", 0},
    {0},
};

const struct mb_driver mb_driver_test = {
    .name = "test",
    .scope = "test",
    .disk_file = "disk.img",
    .settings = settings,
    .probe = t_probe,
    .host_info = t_host_info,
    .networks = t_networks,
    .net_backend = t_net_backend,
    .create = t_create,
    .start = t_start,
    .shutdown = t_shutdown,
    .suspend = t_suspend,
    .resume = t_resume,
    .state = t_state,
    .destroy = t_destroy,
    .exec = t_exec,
    .ipv4 = t_ipv4,
    .console_log = t_console_log,
    .usage = t_usage,
    .snapshot_take = t_snapshot_take,
    .snapshot_restore = t_snapshot_restore,
    .snapshot_delete = t_snapshot_delete,
    .snapshot_list = t_snapshot_list,
    .clone = t_clone,
    .rename = t_rename,
    .resize_disk = t_resize_disk,
    .mount_native = t_mount_native,
    .umount_native = t_umount_native,
};
