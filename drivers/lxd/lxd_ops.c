/* LXD's side of the driver's operations: see lxd_ops.h. */
#include "drivers/lxd/lxd_ops.h"
#include "core/kvm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Long operations: an image unpacks, a container stops its services. */
#define CREATE_TIMEOUT 600.0
#define ACTION_SLACK 60

static bool lxd_installed(void)
{
    const char *path = getenv("PATH");
    char buf[4096];
    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        snprintf(buf, sizeof buf, "%.*s/lxd", (int)n, p);
        if (access(buf, X_OK) == 0)
            return true;
        p += n + (e ? 1 : 0);
    }
    return access("/snap/bin/lxd", X_OK) == 0;
}

char *mb_lxd_default_pool(struct mb_lxd *c, mb_error **err)
{
    mbj_t *p = mb_lxd_request(c, "GET", "/1.0/profiles/default", NULL, NULL, err);
    if (p == NULL)
        return NULL;
    const char *pool = mbj_string_value(mbj_object_get(
        mbj_object_get(mbj_object_get(p, "devices"), "root"), "pool"));
    char *out = pool && pool[0] ? strdup(pool) : NULL;
    if (out == NULL)
        mb_error_set(err, MB_ERR_STATE, "%s is not initialised: its default profile has no "
                     "root disk on a storage pool (run lxd init --auto there, or lxd init "
                     "--preseed with a storage pool)", mb_lxd_where(c));
    mbj_decref(p);
    return out;
}

enum mb_probe_result mb_lxd_probe(struct mb_lxd *c, bool vm, char **reason, mb_error **err)
{
    char msg[1024];
    enum mb_probe_result r = MB_PROBE_DECLINED;
    mb_error *e = NULL;
    char *pool = NULL;
    mbj_t *server = mb_lxd_request(c, "GET", "/1.0", NULL, NULL, &e);
    if (server == NULL) {
        bool local = mb_lxd_is_local(c);
        if (local && e->code == MB_ERR_UNREACHABLE && !lxd_installed())
            snprintf(msg, sizeof msg, "LXD is not installed (install it: apt-get install lxd, "
                     "then lxd init --auto; or use a remote LXD: moonbase enroll TOKEN)");
        else if (local && e->code == MB_ERR_UNREACHABLE)
            snprintf(msg, sizeof msg, "LXD is not running: %s (start it: systemctl start lxd, "
                     "or without systemd: lxd --group lxd &; the first time also lxd init "
                     "--auto; or point moonbase at its socket: moonbase set "
                     "local.lxd.socket=PATH; or use a remote LXD: moonbase enroll TOKEN)",
                     e->message);
        else
            snprintf(msg, sizeof msg, "%s", e->message);
        goto out;
    }
    const char *auth = mbj_string_value(mbj_object_get(server, "auth"));
    if (auth == NULL || strcmp(auth, "trusted") != 0) {
        snprintf(msg, sizeof msg, "%s does not trust moonbase (make a token there with lxc "
                 "config trust add, then: moonbase enroll TOKEN)", mb_lxd_where(c));
        goto out;
    }
    mbj_t *env = mbj_object_get(server, "environment");
    const char *version = mbj_string_value(mbj_object_get(env, "server_version"));
    const char *drivers = mbj_string_value(mbj_object_get(env, "driver"));
    if ((pool = mb_lxd_default_pool(c, &e)) == NULL) {
        snprintf(msg, sizeof msg, "%s", e->message);
        goto out;
    }
    if (vm) {
        bool local = mb_lxd_is_local(c);
        enum mb_kvm_verdict kv = local ? mb_kvm_check_host() : MB_KVM_USABLE;
        if (kv != MB_KVM_USABLE) {
            snprintf(msg, sizeof msg, "LXD virtual machines need KVM, and this host has %s "
                     "(use containers: moonbase set local.lxd.instance-type=container)",
                     mb_kvm_describe(kv));
            goto out;
        }
        if (drivers && strstr(drivers, "qemu") == NULL) {
            snprintf(msg, sizeof msg, "%s cannot run virtual machines (its drivers: %s; use "
                     "containers: moonbase set local.lxd.instance-type=container)",
                     mb_lxd_where(c), drivers);
            goto out;
        }
    }
    snprintf(msg, sizeof msg, "LXD %s at %s, storage pool %s, %s", version ? version : "?",
             mb_lxd_address(c), pool, vm ? "virtual machines" : "containers");
    r = MB_PROBE_OK;
out:
    if (reason)
        *reason = strdup(msg);
    mb_error_free(e);
    mbj_decref(server);
    free(pool);
    return r;
}

/* ------------------------------------------------------------------ images */

bool mb_lxd_has_image(struct mb_lxd *c, const char *fingerprint, bool *has, mb_error **err)
{
    char path[256];
    snprintf(path, sizeof path, "/1.0/images/%s", fingerprint);
    mb_error *e = NULL;
    mbj_t *img = mb_lxd_request(c, "GET", path, NULL, NULL, &e);
    *has = img != NULL;
    mbj_decref(img);
    if (e && e->code != MB_ERR_NOT_FOUND) {
        *err = e;
        return false;
    }
    mb_error_free(e);
    return true;
}

bool mb_lxd_image_ensure(struct mb_lxd *c, const char *fingerprint, const char *metadata,
                         const char *rootfs, bool vm, mb_lxd_progress_fn progress, void *ud,
                         mb_error **err)
{
    bool has = false;
    if (!mb_lxd_has_image(c, fingerprint, &has, err))
        return false;
    if (has)
        return true;
    mb_error *e = NULL;
    char *fp = mb_lxd_upload_image(c, metadata, rootfs, vm, fingerprint, CREATE_TIMEOUT,
                                   progress, ud, &e);
    if (fp == NULL) {
        /* a concurrent launch may have uploaded it meanwhile */
        if (mb_lxd_has_image(c, fingerprint, &has, err) && has) {
            mb_error_free(e);
            return true;
        }
        mb_error_free(*err);
        *err = e;
        return false;
    }
    bool same = strcmp(fp, fingerprint) == 0;
    if (!same)
        mb_error_set(err, MB_ERR_FAILED, "%s imported the image as %s, not %s (the files do "
                     "not match their manifest)", mb_lxd_where(c), fp, fingerprint);
    free(fp);
    return same;
}

/* ------------------------------------------------------------------ instances */

static void inst_path(char *buf, size_t n, const char *name, const char *tail)
{
    snprintf(buf, n, "/1.0/instances/%s%s", name, tail ? tail : "");
}

bool mb_lxd_instance_create(struct mb_lxd *c, const struct mb_lxd_spec *s,
                            mb_lxd_progress_fn progress, void *ud, mb_error **err)
{
    mbj_t *body = mb_lxd_instance_json(s, err);
    if (body == NULL)
        return false;
    return mb_lxd_do(c, "POST", "/1.0/instances", body, CREATE_TIMEOUT, progress, ud, err);
}

bool mb_lxd_instance_rename(struct mb_lxd *c, const char *name, const char *to,
                            mb_error **err)
{
    char path[256];
    inst_path(path, sizeof path, name, NULL);
    return mb_lxd_do(c, "POST", path, mbj_pack("{s:s}", "name", to), CREATE_TIMEOUT, NULL,
                     NULL, err);
}

bool mb_lxd_instance_action(struct mb_lxd *c, const char *name, const char *action,
                            int timeout, bool force, mb_error **err)
{
    char path[256];
    inst_path(path, sizeof path, name, "/state");
    mbj_t *body = mbj_pack("{s:s, s:i, s:b}", "action", action, "timeout", timeout, "force",
                             force);
    return mb_lxd_do(c, "PUT", path, body, (double)(timeout > 0 ? timeout : 0) + ACTION_SLACK,
                     NULL, NULL, err);
}

static enum mb_state state_of(struct mb_lxd *c, const char *name, const char *owner,
                              long *pid, bool listing, mb_error **err)
{
    char path[256];
    inst_path(path, sizeof path, name, NULL);
    if (pid)
        *pid = 0;
    mb_error *e = NULL;
    mbj_t *inst = listing ? mbj_incref(mb_lxd_listed(c, name, &e))
                           : mb_lxd_request(c, "GET", path, NULL, NULL, &e);
    if (inst == NULL) {
        if (e->code == MB_ERR_NOT_FOUND) {
            mb_error_free(e);
            return MB_STATE_ABSENT;
        }
        *err = e;
        return MB_STATE_UNKNOWN;
    }
    const char *mark = mbj_string_value(
        mbj_object_get(mbj_object_get(inst, "config"), MB_LXD_OWNER_KEY));
    enum mb_state s;
    switch (mbj_integer_value(mbj_object_get(inst, "status_code"))) {
    case 103: s = MB_STATE_RUNNING; break;
    case 102: s = MB_STATE_STOPPED; break;
    case 110: s = MB_STATE_SUSPENDED; break; /* Frozen */
    case 106: s = MB_STATE_STARTING; break;
    default: s = MB_STATE_UNKNOWN; break;
    }
    if (owner && (mark == NULL || strcmp(mark, owner) != 0))
        s = MB_STATE_ABSENT;
    mbj_decref(inst);
    if (pid && (s == MB_STATE_RUNNING || s == MB_STATE_SUSPENDED)) {
        inst_path(path, sizeof path, name, "/state");
        mbj_t *st = mb_lxd_request(c, "GET", path, NULL, NULL, err);
        if (st == NULL)
            return MB_STATE_UNKNOWN;
        *pid = (long)mbj_integer_value(mbj_object_get(st, "pid"));
        mbj_decref(st);
    }
    return s;
}

enum mb_state mb_lxd_instance_state(struct mb_lxd *c, const char *name, const char *owner,
                                    long *pid, mb_error **err)
{
    return state_of(c, name, owner, pid, false, err);
}

enum mb_state mb_lxd_listed_state(struct mb_lxd *c, const char *name, const char *owner,
                                  mb_error **err)
{
    return state_of(c, name, owner, NULL, true, err);
}

bool mb_lxd_instance_delete(struct mb_lxd *c, const char *name, mb_error **err)
{
    char path[256];
    inst_path(path, sizeof path, name, NULL);
    /* an operation of LXD's own may still hold it (a stop finishing): wait */
    for (int k = 0;; k++) {
        mb_error *e = NULL;
        mbj_t *r = mb_lxd_call(c, "DELETE", path, NULL, CREATE_TIMEOUT, NULL, NULL, &e);
        mbj_decref(r);
        if (r || e->code == MB_ERR_NOT_FOUND) {
            mb_error_free(e);
            return true;
        }
        if (k >= 60 || strstr(e->message, "is busy") == NULL) {
            *err = e;
            return false;
        }
        mb_error_free(e);
        usleep(500 * 1000);
    }
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **mb_lxd_instance_ipv4(struct mb_lxd *c, const char *name, mb_error **err)
{
    char path[256];
    inst_path(path, sizeof path, name, "/state");
    mbj_t *st = mb_lxd_request(c, "GET", path, NULL, NULL, err);
    if (st == NULL)
        return NULL;
    char **v = mb_strv_new();
    mbj_t *net = mbj_object_get(st, "network");
    /* the NICs by name (eth0, eth1, ...; LXD's map has no order), not lo */
    const char *key;
    mbj_t *nic;
    char **names = mb_strv_new();
    mbj_object_foreach(net, key, nic)
        if (strcmp(key, "lo") != 0)
            mb_strv_push(&names, key);
    size_t nn = 0;
    while (names && names[nn])
        nn++;
    if (names)
        qsort(names, nn, sizeof *names, by_name);
    for (size_t k = 0; k < nn && v; k++) {
        size_t i;
        mbj_t *a;
        mbj_array_foreach(mbj_object_get(mbj_object_get(net, names[k]), "addresses"), i, a) {
            const char *fam = mbj_string_value(mbj_object_get(a, "family"));
            const char *scope = mbj_string_value(mbj_object_get(a, "scope"));
            const char *addr = mbj_string_value(mbj_object_get(a, "address"));
            if (fam && addr && strcmp(fam, "inet") == 0 &&
                (scope == NULL || strcmp(scope, "global") == 0) && !mb_strv_contains(v, addr))
                mb_strv_push(&v, addr);
        }
    }
    mbj_decref(st);
    mb_strv_free(names);
    if (v == NULL)
        mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
    return v;
}

char *mb_lxd_instance_console(struct mb_lxd *c, const char *name, size_t max, mb_error **err)
{
    char path[256];
    inst_path(path, sizeof path, name, "/console");
    return mb_lxd_get_raw(c, path, max, NULL, err);
}

/* ------------------------------------------------------------------ devices, config */

bool mb_lxd_device_set(struct mb_lxd *c, const char *name, const char *device, mbj_t *dev,
                       mb_error **err)
{
    char path[256];
    inst_path(path, sizeof path, name, NULL);
    return mb_lxd_do(c, "PATCH", path, mbj_pack("{s:{s:O}}", "devices", device, dev),
                     CREATE_TIMEOUT, NULL, NULL, err);
}

/* GET the instance, let edit change it, PUT it back (PATCH cannot remove). */
static bool instance_edit(struct mb_lxd *c, const char *name,
                          bool (*edit)(mbj_t *inst, const void *arg), const void *arg,
                          mb_error **err)
{
    char path[256];
    inst_path(path, sizeof path, name, NULL);
    mbj_t *inst = mb_lxd_request(c, "GET", path, NULL, NULL, err);
    if (inst == NULL)
        return false;
    bool ok = true;
    if (edit(inst, arg)) {
        mbj_t *body = mbj_pack("{s:O, s:O, s:O, s:O, s:O, s:O}",
                                 "architecture", mbj_object_get(inst, "architecture"),
                                 "config", mbj_object_get(inst, "config"),
                                 "devices", mbj_object_get(inst, "devices"),
                                 "ephemeral", mbj_object_get(inst, "ephemeral"),
                                 "profiles", mbj_object_get(inst, "profiles"),
                                 "description", mbj_object_get(inst, "description"));
        mbj_t *r = body ? mb_lxd_call(c, "PUT", path, body, CREATE_TIMEOUT, NULL, NULL, err)
                         : NULL;
        if (body == NULL)
            mb_error_set(err, MB_ERR_FAILED, "%s: instance %s has an unexpected shape",
                         mb_lxd_where(c), name);
        ok = r != NULL;
        mbj_decref(body);
        mbj_decref(r);
    }
    mbj_decref(inst);
    return ok;
}

static bool drop_device(mbj_t *inst, const void *device)
{
    return mbj_object_del(mbj_object_get(inst, "devices"), device) == 0;
}

bool mb_lxd_device_remove(struct mb_lxd *c, const char *name, const char *device,
                          mb_error **err)
{
    return instance_edit(c, name, drop_device, device, err);
}

char *mb_lxd_config_get(struct mb_lxd *c, const char *name, const char *key, mb_error **err)
{
    char path[256];
    inst_path(path, sizeof path, name, NULL);
    mbj_t *inst = mb_lxd_request(c, "GET", path, NULL, NULL, err);
    if (inst == NULL)
        return NULL;
    const char *v = mbj_string_value(mbj_object_get(mbj_object_get(inst, "config"), key));
    char *out = v ? strdup(v) : NULL;
    mbj_decref(inst);
    return out;
}

struct kv {
    const char *key, *value;
};

static bool unset_key(mbj_t *inst, const void *arg)
{
    const struct kv *kv = arg;
    return mbj_object_del(mbj_object_get(inst, "config"), kv->key) == 0;
}

bool mb_lxd_config_set(struct mb_lxd *c, const char *name, const char *key, const char *value,
                       mb_error **err)
{
    if (value == NULL) {
        struct kv kv = {key, NULL};
        return instance_edit(c, name, unset_key, &kv, err);
    }
    char path[256];
    inst_path(path, sizeof path, name, NULL);
    return mb_lxd_do(c, "PATCH", path, mbj_pack("{s:{s:s}}", "config", key, value),
                     CREATE_TIMEOUT, NULL, NULL, err);
}

char *mb_lxd_file_get(struct mb_lxd *c, const char *name, const char *path, size_t max,
                      mb_error **err)
{
    char url[512];
    /* the path is ours (/etc/passwd, ...): no escaping needed */
    snprintf(url, sizeof url, "/1.0/instances/%s/files?path=%s", name, path);
    return mb_lxd_get_raw(c, url, max, NULL, err);
}
