/* Unit tests for engine/sftp/sftp_server.c, driven with raw SFTP packets: the
 * confinement to the shared folder (".." , absolute paths, symlinks to an
 * /etc/shadow-like file outside it, for every kind of request), read-only
 * shares, id maps, the operations sshfs uses, malformed input, and the serve
 * loop over a socketpair. Each confinement test runs twice: with openat2 and
 * with the component walk used on kernels without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sftp/sftp_server.h"

enum {
    INIT = 1, VERSION = 2, OPEN = 3, CLOSE = 4, READ = 5, WRITE = 6, LSTAT = 7, FSTAT = 8,
    SETSTAT = 9, FSETSTAT = 10, OPENDIR = 11, READDIR = 12, REMOVE = 13, MKDIR = 14,
    RMDIR = 15, REALPATH = 16, STAT = 17, RENAME = 18, READLINK = 19, SYMLINK = 20,
    STATUS = 101, HANDLE = 102, DATA = 103, NAME = 104, ATTRS = 105, EXTENDED = 200,
    EXTENDED_REPLY = 201,
};
enum { OK = 0, EOF_ = 1, NO_SUCH_FILE = 2, DENIED = 3, FAILURE = 4, BAD_MESSAGE = 5,
       UNSUPPORTED = 8 };
enum { F_READ = 1, F_WRITE = 2, F_APPEND = 4, F_CREAT = 8, F_TRUNC = 0x10, F_EXCL = 0x20 };
enum { A_SIZE = 1, A_UIDGID = 2, A_PERM = 4, A_TIME = 8 };

struct fixture {
    char base[256];  /* base/{shadow, outside-secret, share/...} */
    char share[300];
    char shadow[300];
    char secret[300];
    unsigned flags;  /* MB_SFTP_WALK or 0 */
};

struct client {
    mb_sftp_server *s;
    struct mb_strbuf out;
    uint32_t id;
};

struct reply {
    int type;
    uint32_t id;
    uint32_t status;      /* STATUS */
    char msg[256];
    unsigned char handle[64]; /* HANDLE */
    size_t handle_len;
    unsigned char *data;  /* DATA, and the raw body of NAME / ATTRS / EXTENDED_REPLY */
    size_t len;
};

/* ------------------------------------------------------------ packet plumbing */

struct pkt {
    unsigned char b[1 << 20];
    size_t n;
};

static void p_u8(struct pkt *p, uint8_t v) { p->b[p->n++] = v; }

static void p_u32(struct pkt *p, uint32_t v)
{
    p->b[p->n++] = (unsigned char)(v >> 24);
    p->b[p->n++] = (unsigned char)(v >> 16);
    p->b[p->n++] = (unsigned char)(v >> 8);
    p->b[p->n++] = (unsigned char)v;
}

static void p_u64(struct pkt *p, uint64_t v)
{
    p_u32(p, (uint32_t)(v >> 32));
    p_u32(p, (uint32_t)v);
}

static void p_bytes(struct pkt *p, const void *d, size_t n)
{
    p_u32(p, (uint32_t)n);
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void p_str(struct pkt *p, const char *s) { p_bytes(p, s, strlen(s)); }

static uint32_t rd32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint64_t rd64(const unsigned char *b) { return (uint64_t)rd32(b) << 32 | rd32(b + 4); }

/* Builds a request from fmt: s = string, u = uint32, q = uint64, h = handle
 * (struct reply *), b = bytes (ptr, size_t), a = attrs (flags, then the
 * fields the flags ask for, as uint32 / uint64 for the size). */
static struct pkt *build(uint8_t type, uint32_t id, const char *fmt, va_list ap)
{
    static struct pkt p;
    p.n = 0;
    p_u8(&p, type);
    if (type != INIT)
        p_u32(&p, id);
    for (const char *f = fmt; *f; f++) {
        switch (*f) {
        case 's': p_str(&p, va_arg(ap, const char *)); break;
        case 'u': p_u32(&p, va_arg(ap, uint32_t)); break;
        case 'q': p_u64(&p, va_arg(ap, uint64_t)); break;
        case 'h': {
            struct reply *r = va_arg(ap, struct reply *);
            p_bytes(&p, r->handle, r->handle_len);
            break;
        }
        case 'b': {
            const void *d = va_arg(ap, const void *);
            size_t n = va_arg(ap, size_t);
            p_bytes(&p, d, n);
            break;
        }
        case 'a': {
            uint32_t fl = va_arg(ap, uint32_t);
            p_u32(&p, fl);
            if (fl & A_SIZE)
                p_u64(&p, va_arg(ap, uint64_t));
            if (fl & A_UIDGID) {
                p_u32(&p, va_arg(ap, uint32_t));
                p_u32(&p, va_arg(ap, uint32_t));
            }
            if (fl & A_PERM)
                p_u32(&p, va_arg(ap, uint32_t));
            if (fl & A_TIME) {
                p_u32(&p, va_arg(ap, uint32_t));
                p_u32(&p, va_arg(ap, uint32_t));
            }
            break;
        }
        default: fail_msg("bad format %c", *f);
        }
    }
    return &p;
}

static void parse_reply(struct client *c, struct reply *r)
{
    assert_true(c->out.n >= 5);
    uint32_t n = rd32((unsigned char *)c->out.s);
    assert_int_equal(n + 4, c->out.n); /* exactly one reply per request */
    memset(r, 0, sizeof *r);
    const unsigned char *b = (unsigned char *)c->out.s + 4;
    r->type = b[0];
    if (r->type == VERSION) {
        r->data = (unsigned char *)c->out.s + 5;
        r->len = n - 1;
        return;
    }
    r->id = rd32(b + 1);
    assert_int_equal(r->id, c->id);
    const unsigned char *body = b + 5;
    size_t blen = n - 5;
    r->data = (unsigned char *)body;
    r->len = blen;
    if (r->type == STATUS) {
        r->status = rd32(body);
        uint32_t ml = rd32(body + 4);
        snprintf(r->msg, sizeof r->msg, "%.*s", (int)ml, (const char *)body + 8);
    } else if (r->type == HANDLE) {
        r->handle_len = rd32(body);
        assert_true(r->handle_len <= sizeof r->handle);
        memcpy(r->handle, body + 4, r->handle_len);
    } else if (r->type == DATA) {
        r->len = rd32(body);
        r->data = (unsigned char *)body + 4;
    }
}

static struct reply rq(struct client *c, uint8_t type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct pkt *p = build(type, ++c->id, fmt, ap);
    va_end(ap);
    c->out.n = 0;
    mb_error *err = NULL;
    bool ok = mb_sftp_server_handle(c->s, p->b, p->n, &c->out, &err);
    if (!ok)
        fail_msg("handle failed: %s", err ? err->message : "?");
    struct reply r;
    parse_reply(c, &r);
    return r;
}

static void expect_status(struct reply r, uint32_t status)
{
    if (r.type != STATUS || r.status != status)
        fail_msg("expected status %u, got type %d status %u (%s)", status, r.type, r.status,
                 r.msg);
}

static void expect_denied(struct reply r)
{
    expect_status(r, DENIED);
}

static void client_open(struct client *c, struct fixture *fx, bool readonly, unsigned flags,
                        const char *uidmap)
{
    struct mb_sftp_server_opts o = {.root = fx->share, .readonly = readonly};
    mb_error *err = NULL;
    if (uidmap)
        assert_true(mb_sftp_parse_idmap(uidmap, o.uid_map, &o.n_uid_map, &err));
    c->s = mb_sftp_server_new(&o, flags | fx->flags, &err);
    assert_non_null(c->s);
    c->out = (struct mb_strbuf){0};
    c->id = 0;
    struct reply r = rq(c, INIT, "u", 3);
    assert_int_equal(r.type, VERSION);
    assert_int_equal(rd32(r.data), 3);
}

static void client_close(struct client *c)
{
    mb_sftp_server_free(c->s);
    mb_strbuf_free(&c->out);
}

/* ------------------------------------------------------------ fixture */

static void put_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    chmod(path, mode);
}

static char *slurp(const char *path)
{
    static char buf[4096];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static int setup_common(void **state, unsigned flags)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    snprintf(fx->base, sizeof fx->base, "/tmp/mb-sftp-XXXXXX");
    assert_non_null(mkdtemp(fx->base));
    snprintf(fx->share, sizeof fx->share, "%s/share", fx->base);
    snprintf(fx->shadow, sizeof fx->shadow, "%s/shadow", fx->base);
    snprintf(fx->secret, sizeof fx->secret, "%s/outside-secret", fx->base);
    fx->flags = flags;
    char p[600];
    put_file(fx->shadow, "root:$6$TOPSECRETHASH:19000:0:99999:7:::\n", 0640);
    put_file(fx->secret, "TOPSECRET\n", 0644);
    assert_int_equal(mkdir(fx->share, 0755), 0);
    snprintf(p, sizeof p, "%s/sub", fx->share);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/file.txt", fx->share);
    put_file(p, "hello\n", 0644);
    snprintf(p, sizeof p, "%s/sub/inner.txt", fx->share);
    put_file(p, "inner\n", 0644);
    struct { const char *name, *target; } links[] = {
        {"link-in", "file.txt"}, {"link-sub", "sub"}, {"link-up-in", "sub/../file.txt"},
        {"esc-rel", "../shadow"}, {"esc-dir", ".."}, {"sub/esc-deep", "../../outside-secret"},
        {"chain", "link-in"},
    };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", fx->share, links[i].name);
        assert_int_equal(symlink(links[i].target, p), 0);
    }
    snprintf(p, sizeof p, "%s/esc-abs", fx->share);
    assert_int_equal(symlink(fx->shadow, p), 0);
    *state = fx;
    return 0;
}

static int setup_openat2(void **state) { return setup_common(state, 0); }
static int setup_walk(void **state) { return setup_common(state, MB_SFTP_WALK); }

static int teardown(void **state)
{
    struct fixture *fx = *state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->base);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

/* ------------------------------------------------------------ helpers */

static char *read_all(struct client *c, const char *path, struct reply *status)
{
    static char buf[65536];
    struct reply h = rq(c, OPEN, "sua", path, F_READ, 0);
    if (h.type != HANDLE) {
        *status = h;
        return NULL;
    }
    size_t n = 0;
    for (;;) {
        struct reply d = rq(c, READ, "hqu", &h, (uint64_t)n, 4096);
        if (d.type == STATUS) {
            expect_status(d, EOF_);
            break;
        }
        memcpy(buf + n, d.data, d.len);
        n += d.len;
    }
    buf[n] = '\0';
    expect_status(rq(c, CLOSE, "h", &h), OK);
    return buf;
}

static void expect_unreadable(struct client *c, const char *path)
{
    struct reply st;
    char *got = read_all(c, path, &st);
    if (got != NULL)
        fail_msg("read \"%s\" through the share: %s", path, got);
    expect_denied(st);
    expect_denied(rq(c, STAT, "s", path));
}

/* ------------------------------------------------------------ tests */

static void test_version_and_extensions(void **state)
{
    struct fixture *fx = *state;
    struct client c;
    client_open(&c, fx, false, 0, NULL);
    struct reply r = rq(&c, INIT, "u", 6);
    assert_int_equal(r.type, VERSION);
    const char *want[] = {"posix-rename@openssh.com", "statvfs@openssh.com",
                          "hardlink@openssh.com", "fsync@openssh.com", "limits@openssh.com"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_non_null(memmem(r.data, r.len, want[i], strlen(want[i])));
    r = rq(&c, EXTENDED, "s", "limits@openssh.com");
    assert_int_equal(r.type, EXTENDED_REPLY);
    assert_true(rd64(r.data + 8) >= 65536); /* max read */
    expect_status(rq(&c, EXTENDED, "s", "nonsense@example.com"), UNSUPPORTED);
    client_close(&c);
}

static void test_reads_inside(void **state)
{
    struct fixture *fx = *state;
    struct client c;
    struct reply st;
    client_open(&c, fx, false, 0, NULL);
    assert_string_equal(read_all(&c, "file.txt", &st), "hello\n");
    assert_string_equal(read_all(&c, "./sub/../file.txt", &st), "hello\n");
    assert_string_equal(read_all(&c, "link-in", &st), "hello\n");
    assert_string_equal(read_all(&c, "chain", &st), "hello\n");
    assert_string_equal(read_all(&c, "link-up-in", &st), "hello\n");
    assert_string_equal(read_all(&c, "link-sub/inner.txt", &st), "inner\n");
    assert_string_equal(read_all(&c, "sub//inner.txt", &st), "inner\n");
    /* LSTAT shows a symlink as one, even an escaping one; READLINK gives its text */
    struct reply r = rq(&c, LSTAT, "s", "esc-abs");
    assert_int_equal(r.type, ATTRS);
    assert_true(S_ISLNK(rd32(r.data + 4 + 8 + 8)));
    r = rq(&c, READLINK, "s", "esc-rel");
    assert_int_equal(r.type, NAME);
    assert_int_equal(rd32(r.data), 1);
    assert_memory_equal(r.data + 8, "../shadow", 9);
    expect_status(rq(&c, STAT, "s", "missing"), NO_SUCH_FILE);
    client_close(&c);
}

static void test_dotdot_refused(void **state)
{
    struct fixture *fx = *state;
    struct client c;
    client_open(&c, fx, false, 0, NULL);
    expect_unreadable(&c, "../outside-secret");
    expect_unreadable(&c, "../shadow");
    expect_unreadable(&c, "sub/../../outside-secret");
    expect_unreadable(&c, "sub/../sub/../../shadow");
    expect_denied(rq(&c, OPENDIR, "s", ".."));
    expect_denied(rq(&c, LSTAT, "s", ".."));
    expect_denied(rq(&c, LSTAT, "s", "../outside-secret"));
    expect_denied(rq(&c, REALPATH, "s", ".."));
    expect_denied(rq(&c, REALPATH, "s", "../nothing-here"));
    expect_denied(rq(&c, READLINK, "s", "../share/esc-abs"));
    expect_denied(rq(&c, EXTENDED, "ss", "statvfs@openssh.com", ".."));
    client_close(&c);
}

static void test_absolute_refused(void **state)
{
    struct fixture *fx = *state;
    struct client c;
    char p[400];
    client_open(&c, fx, false, 0, NULL);
    expect_unreadable(&c, fx->shadow);
    expect_unreadable(&c, "/etc/passwd");
    snprintf(p, sizeof p, "%s/file.txt", fx->share); /* even the share's own path */
    expect_unreadable(&c, p);
    expect_denied(rq(&c, OPENDIR, "s", "/"));
    expect_denied(rq(&c, LSTAT, "s", "/etc/passwd"));
    expect_denied(rq(&c, REALPATH, "s", "/"));
    expect_denied(rq(&c, OPEN, "sua", "/tmp/mb-sftp-created", F_WRITE | F_CREAT, 0));
    assert_int_equal(access("/tmp/mb-sftp-created", F_OK), -1);
    client_close(&c);
}

static void test_symlink_escape_refused(void **state)
{
    struct fixture *fx = *state;
    struct client c;
    client_open(&c, fx, false, 0, NULL);
    expect_unreadable(&c, "esc-abs");
    expect_unreadable(&c, "esc-rel");
    expect_unreadable(&c, "sub/esc-deep");
    expect_unreadable(&c, "esc-dir/shadow");
    expect_unreadable(&c, "esc-dir/share/file.txt"); /* back in, but through the outside */
    expect_denied(rq(&c, OPENDIR, "s", "esc-dir"));
    expect_denied(rq(&c, STAT, "s", "esc-dir"));
    /* nothing outside changes through an escaping link, whatever the request */
    struct stat before, after;
    assert_int_equal(stat(fx->shadow, &before), 0);
    expect_denied(rq(&c, OPEN, "sua", "esc-abs", F_WRITE | F_TRUNC, 0));
    expect_denied(rq(&c, OPEN, "sua", "esc-rel", F_WRITE | F_CREAT | F_TRUNC, 0));
    expect_denied(rq(&c, OPEN, "sua", "esc-dir/shadow", F_WRITE | F_APPEND, 0));
    expect_denied(rq(&c, SETSTAT, "sa", "esc-abs", A_PERM, 0777));
    expect_denied(rq(&c, SETSTAT, "sa", "esc-rel", A_SIZE, (uint64_t)0));
    expect_denied(rq(&c, SETSTAT, "sa", "esc-dir/shadow", A_TIME, 1, 1));
    expect_denied(rq(&c, REMOVE, "s", "esc-dir/shadow"));
    expect_denied(rq(&c, RENAME, "ss", "esc-dir/shadow", "stolen"));
    expect_denied(rq(&c, EXTENDED, "sss", "posix-rename@openssh.com", "esc-dir/shadow",
                     "stolen"));
    expect_denied(rq(&c, EXTENDED, "sss", "hardlink@openssh.com", "esc-dir/shadow", "stolen"));
    expect_denied(rq(&c, RENAME, "ss", "file.txt", "esc-dir/planted"));
    expect_denied(rq(&c, MKDIR, "sa", "esc-dir/newdir", 0));
    expect_denied(rq(&c, SYMLINK, "ss", "x", "esc-dir/newlink"));
    expect_denied(rq(&c, OPEN, "sua", "esc-dir/newfile", F_WRITE | F_CREAT, 0));
    expect_denied(rq(&c, EXTENDED, "ss", "statvfs@openssh.com", "esc-dir"));
    assert_int_equal(stat(fx->shadow, &after), 0);
    assert_int_equal(before.st_mode, after.st_mode);
    assert_int_equal(before.st_size, after.st_size);
    assert_int_equal(before.st_mtime, after.st_mtime);
    char p[400];
    const char *gone[] = {"stolen", "planted", "newdir", "newlink", "newfile"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", fx->base, gone[i]);
        assert_int_equal(access(p, F_OK), -1);
        snprintf(p, sizeof p, "%s/%s", fx->share, gone[i]);
        assert_int_equal(access(p, F_OK), -1);
    }
    assert_string_equal(slurp(fx->secret), "TOPSECRET\n");
    /* a link swapped in after a successful request is refused just the same */
    char sub[400], moved[400];
    snprintf(sub, sizeof sub, "%s/sub", fx->share);
    snprintf(moved, sizeof moved, "%s/sub-moved", fx->share);
    struct reply st;
    assert_string_equal(read_all(&c, "sub/inner.txt", &st), "inner\n");
    assert_int_equal(rename(sub, moved), 0);
    assert_int_equal(symlink(fx->base, sub), 0);
    expect_unreadable(&c, "sub/outside-secret");
    client_close(&c);
}

static void test_readonly(void **state)
{
    struct fixture *fx = *state;
    struct client c;
    struct reply st;
    client_open(&c, fx, true, 0, NULL);
    assert_string_equal(read_all(&c, "file.txt", &st), "hello\n");
    expect_denied(rq(&c, OPEN, "sua", "file.txt", F_READ | F_WRITE, 0));
    expect_denied(rq(&c, OPEN, "sua", "file.txt", F_WRITE | F_TRUNC, 0));
    expect_denied(rq(&c, OPEN, "sua", "file.txt", F_WRITE | F_APPEND, 0));
    expect_denied(rq(&c, OPEN, "sua", "new.txt", F_WRITE | F_CREAT, 0));
    expect_denied(rq(&c, SETSTAT, "sa", "file.txt", A_PERM, 0600));
    expect_denied(rq(&c, SETSTAT, "sa", "file.txt", A_SIZE, (uint64_t)0));
    expect_denied(rq(&c, REMOVE, "s", "file.txt"));
    expect_denied(rq(&c, RMDIR, "s", "sub"));
    expect_denied(rq(&c, MKDIR, "sa", "newdir", 0));
    expect_denied(rq(&c, RENAME, "ss", "file.txt", "moved.txt"));
    expect_denied(rq(&c, SYMLINK, "ss", "file.txt", "newlink"));
    expect_denied(rq(&c, EXTENDED, "sss", "posix-rename@openssh.com", "file.txt", "m"));
    expect_denied(rq(&c, EXTENDED, "sss", "hardlink@openssh.com", "file.txt", "m"));
    struct reply h = rq(&c, OPEN, "sua", "file.txt", F_READ, 0);
    assert_int_equal(h.type, HANDLE);
    expect_denied(rq(&c, WRITE, "hqb", &h, (uint64_t)0, "x", (size_t)1));
    expect_denied(rq(&c, FSETSTAT, "ha", &h, A_SIZE, (uint64_t)0));
    expect_status(rq(&c, CLOSE, "h", &h), OK);
    struct reply v = rq(&c, EXTENDED, "ss", "statvfs@openssh.com", ".");
    assert_int_equal(v.type, EXTENDED_REPLY);
    assert_true(rd64(v.data + 9 * 8) & 1); /* ST_RDONLY */
    char p[400];
    snprintf(p, sizeof p, "%s/file.txt", fx->share);
    assert_string_equal(slurp(p), "hello\n");
    snprintf(p, sizeof p, "%s/new.txt", fx->share);
    assert_int_equal(access(p, F_OK), -1);
    client_close(&c);
}

static void test_write_operations(void **state)
{
    struct fixture *fx = *state;
    struct client c;
    struct reply st;
    char p[400], q[400];
    struct stat sb;
    client_open(&c, fx, false, 0, NULL);
    /* a new file gets exactly the mode asked for, whatever our umask */
    mode_t old = umask(077);
    struct reply h = rq(&c, OPEN, "sua", "new.txt", F_WRITE | F_CREAT | F_TRUNC, A_PERM, 0664);
    umask(old);
    assert_int_equal(h.type, HANDLE);
    expect_status(rq(&c, WRITE, "hqb", &h, (uint64_t)0, "abcdef", (size_t)6), OK);
    expect_status(rq(&c, WRITE, "hqb", &h, (uint64_t)3, "XY", (size_t)2), OK);
    expect_status(rq(&c, EXTENDED, "sh", "fsync@openssh.com", &h), OK);
    struct reply a = rq(&c, FSTAT, "h", &h);
    assert_int_equal(a.type, ATTRS);
    assert_int_equal(rd64(a.data + 4), 6);
    expect_status(rq(&c, FSETSTAT, "ha", &h, A_TIME, 1000000000, 1234567890), OK);
    expect_status(rq(&c, CLOSE, "h", &h), OK);
    expect_status(rq(&c, CLOSE, "h", &h), FAILURE); /* a stale handle */
    snprintf(p, sizeof p, "%s/new.txt", fx->share);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0664);
    assert_int_equal(sb.st_mtime, 1234567890);
    assert_string_equal(slurp(p), "abcXYf");
    /* O_EXCL on an existing file */
    expect_status(rq(&c, OPEN, "sua", "new.txt", F_WRITE | F_CREAT | F_EXCL, 0), FAILURE);
    /* setstat by path: mode, size, times */
    expect_status(rq(&c, SETSTAT, "sa", "new.txt", A_PERM | A_SIZE, (uint64_t)3, 0600), OK);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(sb.st_size, 3);
    /* mkdir with a mode, rename (no replace), posix-rename (replace) */
    expect_status(rq(&c, MKDIR, "sa", "dir", A_PERM, 0750), OK);
    snprintf(q, sizeof q, "%s/dir", fx->share);
    assert_int_equal(stat(q, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0750);
    expect_status(rq(&c, MKDIR, "sa", "dir", 0), FAILURE);
    expect_status(rq(&c, RENAME, "ss", "new.txt", "dir/moved.txt"), OK);
    expect_status(rq(&c, RENAME, "ss", "file.txt", "dir/moved.txt"), FAILURE);
    expect_status(rq(&c, EXTENDED, "sss", "posix-rename@openssh.com", "file.txt",
                     "dir/moved.txt"), OK);
    assert_string_equal(read_all(&c, "dir/moved.txt", &st), "hello\n");
    /* symlink (OpenSSH's order: target, then the link), readlink, hardlink */
    expect_status(rq(&c, SYMLINK, "ss", "moved.txt", "dir/sl"), OK);
    struct reply r = rq(&c, READLINK, "s", "dir/sl");
    assert_int_equal(r.type, NAME);
    assert_memory_equal(r.data + 8, "moved.txt", 9);
    assert_string_equal(read_all(&c, "dir/sl", &st), "hello\n");
    expect_status(rq(&c, EXTENDED, "sss", "hardlink@openssh.com", "dir/moved.txt", "hard"),
                  OK);
    snprintf(q, sizeof q, "%s/hard", fx->share);
    assert_int_equal(stat(q, &sb), 0);
    assert_int_equal(sb.st_nlink, 2);
    /* readdir lists every name, with attributes */
    struct reply d = rq(&c, OPENDIR, "s", "dir");
    assert_int_equal(d.type, HANDLE);
    int seen = 0;
    for (;;) {
        struct reply e = rq(&c, READDIR, "h", &d);
        if (e.type == STATUS) {
            expect_status(e, EOF_);
            break;
        }
        assert_int_equal(e.type, NAME);
        uint32_t n = rd32(e.data);
        const unsigned char *x = e.data + 4;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t l = rd32(x);
            if ((l == 9 && memcmp(x + 4, "moved.txt", 9) == 0) || (l == 2 && !memcmp(x + 4,
                                                                                     "sl", 2)))
                seen++;
            x += 4 + l;
            x += 4 + rd32(x);            /* longname */
            uint32_t fl = rd32(x);
            assert_int_equal(fl, A_SIZE | A_UIDGID | A_PERM | A_TIME);
            x += 4 + 8 + 8 + 4 + 8;
        }
    }
    assert_int_equal(seen, 2);
    expect_status(rq(&c, CLOSE, "h", &d), OK);
    /* remove, rmdir; rmdir of a non-empty directory fails */
    expect_status(rq(&c, RMDIR, "s", "dir"), FAILURE);
    expect_status(rq(&c, REMOVE, "s", "dir/sl"), OK);
    expect_status(rq(&c, REMOVE, "s", "dir/moved.txt"), OK);
    expect_status(rq(&c, RMDIR, "s", "dir"), OK);
    expect_status(rq(&c, REMOVE, "s", "dir"), NO_SUCH_FILE);
    /* the root itself cannot be removed or renamed */
    expect_status(rq(&c, RMDIR, "s", "."), BAD_MESSAGE);
    expect_status(rq(&c, RENAME, "ss", ".", "x"), BAD_MESSAGE);
    /* special files are not opened (a FIFO would block the server) */
    snprintf(q, sizeof q, "%s/fifo", fx->share);
    assert_int_equal(mkfifo(q, 0644), 0);
    expect_status(rq(&c, OPEN, "sua", "fifo", F_READ, 0), FAILURE);
    expect_status(rq(&c, OPEN, "sua", "sub", F_READ, 0), FAILURE);
    client_close(&c);
}

static void test_realpath(void **state)
{
    struct fixture *fx = *state;
    struct client c;
    client_open(&c, fx, false, 0, NULL);
    struct { const char *in, *out; } cases[] = {
        {".", "."}, {"", "."}, {"sub/..", "."}, {"sub/", "sub"}, {"./sub//inner.txt",
        "sub/inner.txt"}, {"link-sub", "sub"}, {"link-in", "file.txt"},
        {"new/x/../y", "new/y"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct reply r = rq(&c, REALPATH, "s", cases[i].in);
        assert_int_equal(r.type, NAME);
        uint32_t l = rd32(r.data + 4);
        char got[256];
        snprintf(got, sizeof got, "%.*s", (int)l, (const char *)r.data + 8);
        assert_string_equal(got, cases[i].out);
    }
    expect_denied(rq(&c, REALPATH, "s", "esc-dir"));
    client_close(&c);
}

static void test_id_maps(void **state)
{
    struct fixture *fx = *state;
    struct client c;
    char map[64];
    snprintf(map, sizeof map, "%u:4242,77:78", (unsigned)getuid());
    client_open(&c, fx, false, 0, map);
    struct reply r = rq(&c, STAT, "s", "file.txt");
    assert_int_equal(r.type, ATTRS);
    assert_int_equal(rd32(r.data + 4 + 8), 4242);
    /* a chown to the guest id lands on the host id (a no-op chown here) */
    expect_status(rq(&c, SETSTAT, "sa", "file.txt", A_UIDGID, 4242, (uint32_t)getgid()), OK);
    char p[400];
    struct stat sb;
    snprintf(p, sizeof p, "%s/file.txt", fx->share);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_uid, getuid());
    client_close(&c);
    struct mb_sftp_idmap m[MB_SFTP_MAX_MAP];
    size_t n;
    mb_error *err = NULL;
    assert_true(mb_sftp_parse_idmap("", m, &n, &err));
    assert_int_equal(n, 0);
    assert_false(mb_sftp_parse_idmap("1000", m, &n, &err));
    assert_non_null(strstr(err->message, "bad id map"));
    mb_error_free(err);
    err = NULL;
    assert_false(mb_sftp_parse_idmap("1:2,x:3", m, &n, &err));
    mb_error_free(err);
}

/* A guest never plants setuid, setgid or sticky files on the host, and never
 * gives host files to an owner outside the id maps (root above all): what
 * moonbase running as root would otherwise do for it. */
static void test_no_setuid_no_giveaway(void **state)
{
    struct fixture *fx = *state;
    struct client c;
    char map[64], p[400];
    struct stat sb;
    snprintf(map, sizeof map, "%u:4242", (unsigned)getuid());
    client_open(&c, fx, false, 0, map);
    snprintf(p, sizeof p, "%s/file.txt", fx->share);
    /* SETSTAT and FSETSTAT: the mode without its special bits */
    expect_status(rq(&c, SETSTAT, "sa", "file.txt", A_PERM, 04755), OK);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0755);
    struct reply h = rq(&c, OPEN, "sua", "file.txt", F_READ, 0);
    assert_int_equal(h.type, HANDLE);
    expect_status(rq(&c, FSETSTAT, "ha", &h, A_PERM, 06777), OK);
    expect_status(rq(&c, CLOSE, "h", &h), OK);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0777);
    /* a new file, a new directory */
    h = rq(&c, OPEN, "sua", "suid", F_WRITE | F_CREAT | F_EXCL, A_PERM, 04755);
    assert_int_equal(h.type, HANDLE);
    expect_status(rq(&c, CLOSE, "h", &h), OK);
    snprintf(p, sizeof p, "%s/suid", fx->share);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0755);
    expect_status(rq(&c, MKDIR, "sa", "sticky", A_PERM, 03777), OK);
    snprintf(p, sizeof p, "%s/sticky", fx->share);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0777);
    /* a setuid file of the host that the guest opens for writing loses the bit */
    snprintf(p, sizeof p, "%s/sub/inner.txt", fx->share);
    assert_int_equal(chmod(p, 04755), 0);
    h = rq(&c, OPEN, "sua", "sub/inner.txt", F_WRITE, 0);
    assert_int_equal(h.type, HANDLE);
    expect_status(rq(&c, CLOSE, "h", &h), OK);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0755);
    /* ownership: to a mapped id or unchanged only; a refused request changes
     * nothing, not even the mode it also asked for */
    snprintf(p, sizeof p, "%s/file.txt", fx->share);
    expect_denied(rq(&c, SETSTAT, "sa", "file.txt", A_UIDGID, 12345, (uint32_t)getgid()));
    expect_denied(rq(&c, SETSTAT, "sa", "file.txt", A_UIDGID | A_PERM, 4242, 12345, 0600));
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_uid, getuid());
    assert_int_equal(sb.st_gid, getgid());
    assert_int_equal(sb.st_mode & 07777, 0777);
    expect_status(rq(&c, SETSTAT, "sa", "file.txt", A_UIDGID, 4242, (uint32_t)getgid()), OK);
    expect_status(rq(&c, SETSTAT, "sa", "file.txt", A_UIDGID, UINT32_MAX, UINT32_MAX), OK);
    if (getuid() == 0) {
        /* as root (moonbase's case): a file of another user is not given to root */
        snprintf(p, sizeof p, "%s/sub/inner.txt", fx->share);
        assert_int_equal(chown(p, 4321, 4321), 0);
        expect_denied(rq(&c, SETSTAT, "sa", "sub/inner.txt", A_UIDGID, 0u, 0u));
        expect_denied(rq(&c, SETSTAT, "sa", "sub/inner.txt", A_UIDGID, UINT32_MAX, 0u));
        assert_int_equal(stat(p, &sb), 0);
        assert_int_equal(sb.st_uid, 4321);
        assert_int_equal(sb.st_gid, 4321);
    }
    client_close(&c);
}

static void test_malformed(void **state)
{
    struct fixture *fx = *state;
    struct client c;
    client_open(&c, fx, false, 0, NULL);
    /* a truncated request: answered, the stream goes on */
    unsigned char shortpkt[] = {OPEN, 0, 0, 0, 9, 0, 0, 0, 50, 'x'};
    c.out.n = 0;
    c.id = 9;
    mb_error *err = NULL;
    assert_true(mb_sftp_server_handle(c.s, shortpkt, sizeof shortpkt, &c.out, &err));
    struct reply r;
    parse_reply(&c, &r);
    expect_status(r, BAD_MESSAGE);
    /* a path with a NUL inside */
    expect_status(rq(&c, STAT, "b", "file.txt\0../../shadow", (size_t)20), BAD_MESSAGE);
    expect_status(rq(&c, 99, ""), UNSUPPORTED);
    struct reply fake = {.handle_len = 8};
    memcpy(fake.handle, "\0\0\0\1\0\0\0\1", 8);
    expect_status(rq(&c, READ, "hqu", &fake, (uint64_t)0, 10), FAILURE);
    client_close(&c);
    /* before INIT: the connection is broken */
    struct mb_sftp_server_opts o = {.root = fx->share};
    mb_sftp_server *s = mb_sftp_server_new(&o, 0, &err);
    unsigned char early[] = {STAT, 0, 0, 0, 1, 0, 0, 0, 1, '.'};
    struct mb_strbuf out = {0};
    assert_false(mb_sftp_server_handle(s, early, sizeof early, &out, &err));
    assert_non_null(err);
    mb_error_free(err);
    err = NULL;
    mb_sftp_server_free(s);
    mb_strbuf_free(&out);
    /* a root that is not a directory */
    o.root = fx->secret;
    assert_null(mb_sftp_server_new(&o, 0, &err));
    assert_non_null(err);
    mb_error_free(err);
}

/* The serve loop: pipelined requests written in one go, replies in order,
 * a clean end at EOF. */
static void test_serve_loop(void **state)
{
    struct fixture *fx = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        struct mb_sftp_server_opts o = {.root = fx->share};
        mb_error *err = NULL;
        _exit(mb_sftp_serve_fds(&o, sv[1], sv[1], fx->flags, &err) ? 0 : 1);
    }
    close(sv[1]);
    static unsigned char wire[1 << 16];
    size_t n = 0;
    const char *paths[] = {"file.txt", "../shadow", "sub/inner.txt", "esc-abs"};
    unsigned char init[] = {0, 0, 0, 5, INIT, 0, 0, 0, 3};
    memcpy(wire, init, sizeof init);
    n = sizeof init;
    static struct pkt q;
    for (int i = 0; i < 4; i++) {
        q.n = 0;
        p_u8(&q, STAT);
        p_u32(&q, (uint32_t)(100 + i));
        p_str(&q, paths[i]);
        wire[n] = (unsigned char)(q.n >> 24), wire[n + 1] = (unsigned char)(q.n >> 16);
        wire[n + 2] = (unsigned char)(q.n >> 8), wire[n + 3] = (unsigned char)q.n;
        memcpy(wire + n + 4, q.b, q.n);
        n += 4 + q.n;
    }
    assert_int_equal(write(sv[0], wire, n), (ssize_t)n);
    shutdown(sv[0], SHUT_WR);
    static unsigned char got[1 << 16];
    size_t g = 0;
    ssize_t r;
    while ((r = read(sv[0], got + g, sizeof got - g)) > 0)
        g += (size_t)r;
    close(sv[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* VERSION, then ATTRS, STATUS(denied), ATTRS, STATUS(denied) */
    size_t off = 0;
    int want[] = {VERSION, ATTRS, STATUS, ATTRS, STATUS};
    for (int i = 0; i < 5; i++) {
        assert_true(off + 5 <= g);
        uint32_t len = rd32(got + off);
        assert_int_equal(got[off + 4], want[i]);
        if (i > 0)
            assert_int_equal(rd32(got + off + 5), 100 + i - 1);
        if (want[i] == STATUS)
            assert_int_equal(rd32(got + off + 9), DENIED);
        off += 4 + len;
    }
    assert_int_equal(off, g);
}

/* A client that writes all its requests before reading any reply (40 MB of
 * READ replies, then 8 MB of WRITEs): the server must keep taking requests
 * while its replies wait, or both sides block for ever. */
static void test_serve_no_deadlock(void **state)
{
    struct fixture *fx = *state;
    char p[400];
    snprintf(p, sizeof p, "%s/big", fx->share);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 4 << 20), 0);
    close(fd);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        alarm(60);
        struct mb_sftp_server_opts o = {.root = fx->share};
        mb_error *err = NULL;
        _exit(mb_sftp_serve_fds(&o, sv[1], sv[1], fx->flags, &err) ? 0 : 1);
    }
    close(sv[1]);
    alarm(60); /* a deadlock fails the test instead of hanging it */
    static struct pkt q;
    unsigned char init[] = {0, 0, 0, 5, INIT, 0, 0, 0, 3};
    assert_int_equal(write(sv[0], init, sizeof init), (ssize_t)sizeof init);
    q.n = 0;
    p_u8(&q, OPEN);
    p_u32(&q, 1);
    p_str(&q, "big");
    p_u32(&q, F_READ | F_WRITE);
    p_u32(&q, 0);
    unsigned char len[4] = {0, 0, 0, (unsigned char)q.n};
    assert_int_equal(write(sv[0], len, 4), 4);
    assert_int_equal(write(sv[0], q.b, q.n), (ssize_t)q.n);
    /* the handle of the first OPEN on a new server is index 0, generation 1 */
    unsigned char handle[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    static unsigned char chunk[1 << 20];
    int nreq = 0;
    for (int i = 0; i < 160 + 8; i++) {
        q.n = 0;
        if (i < 160) {
            p_u8(&q, READ);
            p_u32(&q, (uint32_t)(10 + i));
            p_bytes(&q, handle, 8);
            p_u64(&q, (uint64_t)(i % 16) << 18);
            p_u32(&q, 1 << 18);
        } else {
            p_u8(&q, WRITE);
            p_u32(&q, (uint32_t)(10 + i));
            p_bytes(&q, handle, 8);
            p_u64(&q, (uint64_t)(i - 160) << 20);
            p_bytes(&q, chunk, sizeof chunk - 1024);
        }
        unsigned char l[4] = {q.n >> 24, q.n >> 16, q.n >> 8, q.n};
        size_t off = 0;
        assert_int_equal(write(sv[0], l, 4), 4);
        while (off < q.n) {
            ssize_t w = write(sv[0], q.b + off, q.n - off);
            assert_true(w > 0);
            off += (size_t)w;
        }
        nreq++;
    }
    shutdown(sv[0], SHUT_WR);
    /* now read: VERSION, HANDLE, 160 DATA, 8 STATUS */
    size_t total = 0;
    int replies = 0, data = 0;
    static unsigned char buf[1 << 20];
    size_t have = 0;
    for (;;) {
        ssize_t r = read(sv[0], buf + have, sizeof buf - have);
        if (r <= 0)
            break;
        have += (size_t)r;
        total += (size_t)r;
        size_t off = 0;
        while (have - off >= 5 && have - off >= 4 + rd32(buf + off)) {
            if (buf[off + 4] == DATA)
                data++;
            replies++;
            off += 4 + rd32(buf + off);
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    close(sv[0]);
    alarm(0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(replies, 2 + nreq);
    assert_int_equal(data, 160);
    assert_true(total > 40u << 20);
}

#define BOTH(t)                                                                  \
    cmocka_unit_test_setup_teardown(t, setup_openat2, teardown),                 \
        cmocka_unit_test_setup_teardown(t, setup_walk, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_version_and_extensions), BOTH(test_reads_inside),
        BOTH(test_dotdot_refused),         BOTH(test_absolute_refused),
        BOTH(test_symlink_escape_refused), BOTH(test_readonly),
        BOTH(test_write_operations),       BOTH(test_realpath),
        BOTH(test_id_maps),                BOTH(test_no_setuid_no_giveaway),
        BOTH(test_malformed),
        BOTH(test_serve_loop),             BOTH(test_serve_no_deadlock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
