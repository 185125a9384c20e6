/* The other side of the protocol: a driver table served over JSON-RPC, so
 * that a built-in driver is also an external one from the same code
 * (moonbase started as moonbase-driver-NAME serves its built-in NAME: how
 * the parity suites run the test driver as an external driver). Each
 * request goes through the dispatcher, as it does inside moonbase. */
#include "driver/rpc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct server {
    const struct mb_driver *d;
    struct mb_conn *c;
    int fd, out;
    char *buf;
    size_t len, cap;
    int fds[3]; /* the descriptors that came with the last request, or -1 */
};

static void drop_fds(struct server *s)
{
    for (int k = 0; k < 3; k++) {
        if (s->fds[k] >= 0)
            close(s->fds[k]);
        s->fds[k] = -1;
    }
}

/* Reads more of the stream, keeping descriptors that come with it. */
static bool fill(struct server *s)
{
    if (s->cap - s->len < 4096) {
        size_t cap = s->cap ? s->cap * 2 : 65536;
        char *nb = realloc(s->buf, cap + 1);
        if (nb == NULL)
            return false;
        s->buf = nb;
        s->cap = cap;
    }
    union {
        char buf[CMSG_SPACE(3 * sizeof(int))];
        struct cmsghdr align;
    } u;
    struct iovec iov = {s->buf + s->len, s->cap - s->len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                         .msg_controllen = sizeof u.buf};
    ssize_t got;
    do
        got = recvmsg(s->fd, &msg, MSG_CMSG_CLOEXEC);
    while (got < 0 && errno == EINTR);
    if (got < 0 && errno == ENOTSOCK) /* a pipe: no descriptors, still a driver */
        do
            got = read(s->fd, s->buf + s->len, s->cap - s->len);
        while (got < 0 && errno == EINTR);
    if (got <= 0)
        return false;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); got > 0 && cm; cm = CMSG_NXTHDR(&msg, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS
            && cm->cmsg_len == CMSG_LEN(3 * sizeof(int))) {
            drop_fds(s);
            memcpy(s->fds, CMSG_DATA(cm), sizeof s->fds);
        }
    s->len += (size_t)got;
    return true;
}

static bool reply(struct server *s, mbj_t *msg)
{
    char *line = mbj_dumps(msg, MBJ_COMPACT);
    mbj_decref(msg);
    if (line == NULL)
        return false;
    size_t n = strlen(line);
    line[n] = '\n';
    const char *p = line;
    size_t left = n + 1;
    while (left > 0) {
        ssize_t w = write(s->out, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            free(line);
            return false;
        }
        p += w;
        left -= (size_t)w;
    }
    free(line);
    return true;
}

static mbj_t *error_of(mbj_t *id, int code, mb_error *e, const char *text)
{
    mbj_t *err = mbj_pack("{s:i, s:s}", "code", code, "message", e ? e->message : text);
    if (e)
        mbj_object_set_new(err, "data", mbj_pack("{s:s}", "code",
                                                   mb_error_code_name(e->code)));
    mb_error_free(e);
    return mbj_pack("{s:s, s:O?, s:o}", "jsonrpc", "2.0", "id", id, "error", err);
}

static unsigned flags_of(mbj_t *p)
{
    mbj_t *f = mbj_object_get(p, "flags");
    unsigned flags = 0;
    if (mbj_is_true(mbj_object_get(f, "force")))
        flags |= MB_FORCE;
    if (mbj_is_true(mbj_object_get(f, "keep_disks")))
        flags |= MB_KEEP_DISKS;
    if (mbj_is_true(mbj_object_get(f, "own")))
        flags |= MB_STATE_OWN;
    if (mbj_is_true(mbj_object_get(f, "tty")))
        flags |= MB_EXEC_TTY;
    return flags;
}

static mbj_t *initialize(const struct mb_driver *d)
{
    static const char *const names[] = {
        "probe", "host_info", "networks", "net_backend", "network_ensure", "network_remove",
        "network_list", "create", "start", "shutdown", "suspend", "resume", "state",
        "destroy", "pid", "ssh_address", "exec", "ipv4", "console_log", "snapshot_take",
        "snapshot_restore", "snapshot_delete", "snapshot_list", "clone", "rename",
        "resize_disk", "mount_native", "umount_native"};
    const bool filled[] = {
        d->probe != NULL, d->host_info != NULL, d->networks != NULL, d->net_backend != NULL,
        d->network_ensure != NULL, d->network_remove != NULL, d->network_list != NULL,
        d->create != NULL, d->start != NULL, d->shutdown != NULL, d->suspend != NULL,
        d->resume != NULL, d->state != NULL, d->destroy != NULL, d->pid != NULL,
        d->ssh_address != NULL, d->exec != NULL, d->ipv4 != NULL, d->console_log != NULL,
        d->snapshot_take != NULL, d->snapshot_restore != NULL, d->snapshot_delete != NULL,
        d->snapshot_list != NULL, d->clone != NULL, d->rename != NULL, d->resize_disk != NULL,
        d->mount_native != NULL, d->umount_native != NULL,
    };
    mbj_t *methods = mbj_array();
    mbj_array_append_new(methods, mbj_string("open"));
    for (size_t k = 0; k < sizeof names / sizeof *names; k++)
        if (filled[k])
            mbj_array_append_new(methods, mbj_string(names[k]));
    static const char *const types[] = {"string", "enum", "bool"};
    mbj_t *settings = mbj_array();
    for (const struct mb_setting *s = d->settings; s && s->key; s++) {
        mbj_t *e = mbj_pack("{s:s, s:s, s:s, s:s, s:b}", "key", s->key, "name", s->name,
                              "type", types[s->type], "help", s->help ? s->help : "", "host",
                              (s->flags & MB_SETTING_HOST) != 0);
        if (s->def)
            mbj_object_set_new(e, "default", mbj_string(s->def));
        if (s->values) {
            mbj_t *v = mbj_array();
            for (const char *const *x = s->values; *x; x++)
                mbj_array_append_new(v, mbj_string(*x));
            mbj_object_set_new(e, "values", v);
        }
        mbj_array_append_new(settings, e);
    }
    mbj_t *r = mbj_pack("{s:i, s:s, s:s, s:o, s:o}", "protocol", MB_RPC_PROTOCOL, "name",
                          d->name, "scope", d->scope, "methods", methods, "settings", settings);
    if (d->disk_file)
        mbj_object_set_new(r, "disk_file", mbj_string(d->disk_file));
    return r;
}

static mbj_t *open_conn(struct server *s, mbj_t *p, mb_error **err)
{
    mbj_t *cfg = mbj_object_get(p, "config");
    size_t n = mbj_object_size(cfg);
    char **config = calloc(n + 1, sizeof *config);
    const char *k;
    mbj_t *v;
    size_t i = 0;
    mbj_object_foreach(cfg, k, v) {
        const char *val = mbj_string_value(v);
        if (config && val && asprintf(&config[i], "%s=%s", k, val) > 0)
            i++;
    }
    struct mb_conn *c = config ? mb_driver_open(s->d, (const char *const *)config, 0, err)
                               : NULL;
    mb_strv_free(config);
    if (c == NULL)
        return NULL;
    mb_driver_close(s->c);
    s->c = c;
    return mbj_true();
}

static mbj_t *strv_or_null(char **v)
{
    if (v == NULL)
        return NULL;
    mbj_t *a = mb_rpc_strv_json(v);
    mb_strv_free(v);
    return a;
}

static mbj_t *snapshots_json(struct mb_snapshot *v)
{
    if (v == NULL)
        return NULL;
    mbj_t *a = mbj_array();
    for (size_t k = 0; a && v[k].name; k++)
        mbj_array_append_new(a, mbj_pack("{s:s, s:b, s:I, s:I}", "name", v[k].name, "memory",
                                           v[k].memory, "size", (mbj_int_t)v[k].size,
                                           "created", (mbj_int_t)v[k].created));
    mb_snapshots_free(v);
    return a;
}

static mbj_t *bool_result(bool ok)
{
    return ok ? mbj_true() : NULL;
}

/* The result of method, or NULL with *err set. */
static mbj_t *dispatch(struct server *s, const char *m, mbj_t *p, mb_error **err)
{
    struct mb_conn *c = s->c;
    unsigned flags = flags_of(p);
    const char *host = mbj_string_value(mbj_object_get(p, "host"));
    if (strcmp(m, "open") == 0)
        return open_conn(s, p, err);
    if (strcmp(m, "probe") == 0) {
        char *reason = NULL;
        enum mb_probe_result r = mb_driver_probe(c, &reason, 0, err);
        mbj_t *res = *err ? NULL : mbj_pack("{s:b, s:s}", "ok", r == MB_PROBE_OK, "reason",
                                              reason ? reason : "");
        free(reason);
        return res;
    }
    if (strcmp(m, "host_info") == 0)
        return strv_or_null(mb_driver_host_info(c, 0, err));
    if (strcmp(m, "networks") == 0)
        return strv_or_null(mb_driver_networks(c, 0, err));
    if (strcmp(m, "net_backend") == 0) {
        enum mb_net_backend b = mb_driver_net_backend(c, host, 0, err);
        return *err ? NULL : mbj_string(mb_net_backend_name(b));
    }
    if (strcmp(m, "network_remove") == 0) {
        int n = mb_driver_network_remove(c, host, mbj_string_value(mbj_object_get(p, "name")),
                                         0, err);
        return n < 0 ? NULL : mbj_integer(n);
    }
    if (strcmp(m, "network_ensure") == 0 || strcmp(m, "network_list") == 0) {
        mb_error_set(err, MB_ERR_UNSUPPORTED, "unsupported: %s is not served for the %s driver",
                     m, s->d->name);
        return NULL;
    }

    struct mb_instance inst, target;
    struct mb_nic *nics = NULL, *tnics = NULL;
    struct mb_mount_spec *mounts = NULL, *tmounts = NULL;
    mbj_t *res = NULL;
    if (!mb_rpc_instance_from(mbj_object_get(p, "instance"), &inst, &nics, &mounts, err))
        goto cleanup;
    const char *snap = mbj_string_value(mbj_object_get(p, "snapshot"));
    if (strcmp(m, "create") == 0)
        res = bool_result(mb_driver_create(c, &inst, flags, err));
    else if (strcmp(m, "start") == 0)
        res = bool_result(mb_driver_start(c, &inst, flags, err));
    else if (strcmp(m, "shutdown") == 0)
        res = bool_result(mb_driver_shutdown(
            c, &inst, mbj_number_value(mbj_object_get(p, "timeout")), flags, err));
    else if (strcmp(m, "suspend") == 0)
        res = bool_result(mb_driver_suspend(c, &inst, flags, err));
    else if (strcmp(m, "resume") == 0)
        res = bool_result(mb_driver_resume(c, &inst, flags, err));
    else if (strcmp(m, "destroy") == 0)
        res = bool_result(mb_driver_destroy(c, &inst, flags, err));
    else if (strcmp(m, "state") == 0) {
        /* this driver's own view: the client's dispatcher asks the scope */
        enum mb_state st = mb_driver_state(c, &inst, NULL, flags | MB_STATE_OWN, err);
        res = *err ? NULL : mbj_string(mb_state_name(st));
    } else if (strcmp(m, "pid") == 0) {
        pid_t pid = mb_driver_pid(c, &inst, 0, err);
        res = pid < 0 ? NULL : mbj_integer(pid);
    } else if (strcmp(m, "ssh_address") == 0) {
        struct mb_address a;
        if (mb_driver_ssh_address(c, &inst, &a, 0, err)) {
            res = mbj_pack("{s:s, s:i}", "host", a.host, "port", a.port);
            if (a.proxy[0])
                mbj_object_set_new(res, "proxy", mbj_string(a.proxy));
        }
    } else if (strcmp(m, "exec") == 0) {
        mbj_t *argvp = mbj_object_get(p, "argv"), *envp = mbj_object_get(p, "env");
        char **argv = argvp ? mb_rpc_strv_from(argvp, err) : NULL;
        char **env = envp ? mb_rpc_strv_from(envp, err) : NULL;
        struct mb_exec x = {(const char *const *)argv, (const char *const *)env,
                            mbj_string_value(mbj_object_get(p, "workdir")),
                            {s->fds[0], s->fds[1], s->fds[2]}};
        int status = 0;
        if (*err == NULL && (s->fds[0] < 0 || s->fds[1] < 0 || s->fds[2] < 0))
            mb_error_set(err, MB_ERR_USAGE, "exec: the descriptors did not come with it");
        else if (*err == NULL && mb_driver_exec(c, &inst, &x, &status, flags, err))
            res = mbj_pack("{s:i}", "status", status);
        mb_strv_free(argv);
        mb_strv_free(env);
    } else if (strcmp(m, "ipv4") == 0)
        res = strv_or_null(mb_driver_ipv4(c, &inst, 0, err));
    else if (strcmp(m, "snapshot_list") == 0)
        res = snapshots_json(mb_driver_snapshot_list(c, &inst, 0, err));
    else if (strcmp(m, "console_log") == 0) {
        mbj_int_t max = mbj_integer_value(mbj_object_get(p, "max_bytes"));
        char *log = mb_driver_console_log(c, &inst, max > 0 ? (size_t)max : 4096, 0, err);
        if (log) {
            for (char *q = log; *q; q++) /* JSON strings are UTF-8 */
                if ((unsigned char)*q >= 0x80)
                    *q = '?';
            res = mbj_string(log);
        }
        free(log);
    } else if (strcmp(m, "snapshot_take") == 0)
        res = bool_result(mb_driver_snapshot_take(c, &inst, snap, 0, err));
    else if (strcmp(m, "snapshot_restore") == 0)
        res = bool_result(mb_driver_snapshot_restore(c, &inst, snap, 0, err));
    else if (strcmp(m, "snapshot_delete") == 0)
        res = bool_result(mb_driver_snapshot_delete(c, &inst, snap, 0, err));
    else if (strcmp(m, "resize_disk") == 0)
        res = bool_result(mb_driver_resize_disk(
            c, &inst, (uint64_t)mbj_integer_value(mbj_object_get(p, "bytes")), 0, err));
    else if (strcmp(m, "clone") == 0 || strcmp(m, "rename") == 0) {
        if (mb_rpc_instance_from(mbj_object_get(p, "target"), &target, &tnics, &tmounts, err))
            res = bool_result(m[0] == 'c' ? mb_driver_clone(c, &inst, &target, 0, err)
                                          : mb_driver_rename(c, &inst, &target, 0, err));
    } else if (strcmp(m, "mount_native") == 0 || strcmp(m, "umount_native") == 0) {
        mbj_t *mo = mbj_object_get(p, "mount");
        struct mb_mount_spec ms = {mbj_string_value(mbj_object_get(mo, "source")),
                                   mbj_string_value(mbj_object_get(mo, "tag")),
                                   mbj_is_true(mbj_object_get(mo, "readonly")),
                                   mbj_is_true(mbj_object_get(mo, "mapped")),
                                   mbj_string_value(mbj_object_get(mo, "target"))};
        res = bool_result(m[0] == 'm' ? mb_driver_mount_native(c, &inst, &ms, 0, err)
                                      : mb_driver_umount_native(c, &inst, &ms, 0, err));
    } else {
        mb_error_set(err, MB_ERR_UNSUPPORTED, "method not found: %s", m);
    }
cleanup:
    free(nics);
    free(mounts);
    free(tnics);
    free(tmounts);
    if (res == NULL && *err == NULL)
        mb_error_set(err, MB_ERR_FAILED, "%s failed", m);
    return res;
}

static bool handle(struct server *s, char *line)
{
    mbj_t *msg = mbj_loads(line);
    mbj_t *id = mbj_object_get(msg, "id");
    const char *m = mbj_string_value(mbj_object_get(msg, "method"));
    if (msg == NULL || m == NULL || !mbj_object_has(msg, "id")) {
        mbj_decref(msg);
        return reply(s, error_of(NULL, -32600, NULL, "invalid request"));
    }
    mbj_t *p = mbj_object_get(msg, "params");
    mb_error *err = NULL;
    mbj_t *res = NULL;
    if (strcmp(m, "initialize") == 0)
        res = initialize(s->d);
    else
        res = dispatch(s, m, p, &err);
    if (strcmp(m, "exec") == 0)
        drop_fds(s);
    mbj_t *out = res ? mbj_pack("{s:s, s:O?, s:o}", "jsonrpc", "2.0", "id", id, "result", res)
              : err && strncmp(err->message, "method not found", 16) == 0
                  ? error_of(id, -32601, err, NULL)
                  : error_of(id, -32000, err, NULL);
    mbj_decref(msg);
    return reply(s, out);
}

int mb_rpc_serve(const struct mb_driver *d, int in, int out)
{
    struct server s = {.d = d, .fd = in, .out = out, .fds = {-1, -1, -1}};
    mb_error *err = NULL;
    s.c = mb_driver_open(d, NULL, 0, &err);
    if (s.c == NULL) {
        fprintf(stderr, "%s\n", err ? err->message : "cannot open the driver");
        mb_error_free(err);
        return 1;
    }
    int status = 0;
    for (;;) {
        char *nl = s.len ? memchr(s.buf, '\n', s.len) : NULL;
        if (nl == NULL) {
            if (!fill(&s))
                break; /* moonbase closed its end: done */
            continue;
        }
        *nl = '\0';
        size_t used = (size_t)(nl - s.buf) + 1;
        if (!handle(&s, s.buf)) {
            status = 1;
            break;
        }
        memmove(s.buf, s.buf + used, s.len - used);
        s.len -= used;
    }
    drop_fds(&s);
    mb_driver_close(s.c);
    free(s.buf);
    return status;
}
