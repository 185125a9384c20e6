/* The driver protocol's data: an instance, a list of strings and an error
 * code as JSON, both ways (the client, rpc_driver.c, and the server,
 * rpc_serve.c, use the same). */
#include "driver/rpc.h"

#include <stdlib.h>
#include <string.h>

static void set_str(mbj_t *o, const char *k, const char *v)
{
    if (v)
        mbj_object_set_new(o, k, mbj_string(v));
}

static const char *const attach_names[] = {"user", "tap", "network", "bridge"};

mbj_t *mb_rpc_instance_json(const struct mb_instance *i)
{
    mbj_t *o = mbj_object();
    set_str(o, "name", i->name);
    set_str(o, "dir", i->dir);
    set_str(o, "host", i->host);
    mbj_t *img = mbj_object();
    set_str(img, "path", i->image.path);
    set_str(img, "kernel", i->image.kernel);
    set_str(img, "initrd", i->image.initrd);
    set_str(img, "cmdline", i->image.cmdline);
    mbj_object_set_new(o, "image", img);
    mbj_object_set_new(o, "cpus", mbj_integer(i->cpus));
    mbj_object_set_new(o, "memory", mbj_integer((mbj_int_t)i->memory));
    mbj_object_set_new(o, "disk_size", mbj_integer((mbj_int_t)i->disk_size));
    if (i->cloud_init.meta_data || i->cloud_init.user_data || i->cloud_init.network_config) {
        mbj_t *ci = mbj_object();
        set_str(ci, "meta_data", i->cloud_init.meta_data);
        set_str(ci, "user_data", i->cloud_init.user_data);
        set_str(ci, "network_config", i->cloud_init.network_config);
        mbj_object_set_new(o, "cloud_init", ci);
    }
    mbj_t *nics = mbj_array();
    for (size_t k = 0; k < i->n_nics; k++) {
        const struct mb_nic *n = &i->nics[k];
        mbj_t *e = mbj_object();
        set_str(e, "network", n->network);
        set_str(e, "mac", n->mac);
        set_str(e, "ipv4", n->ipv4);
        set_str(e, "attach", attach_names[n->attach]);
        set_str(e, "device", n->device);
        if (n->host_port)
            mbj_object_set_new(e, "host_port", mbj_integer(n->host_port));
        mbj_array_append_new(nics, e);
    }
    mbj_object_set_new(o, "nics", nics);
    mbj_t *mounts = mbj_array();
    for (size_t k = 0; k < i->n_mounts; k++) {
        mbj_t *e = mbj_object();
        set_str(e, "source", i->mounts[k].source);
        set_str(e, "tag", i->mounts[k].tag);
        set_str(e, "target", i->mounts[k].target);
        mbj_object_set_new(e, "readonly", mbj_boolean(i->mounts[k].readonly));
        mbj_object_set_new(e, "mapped", mbj_boolean(i->mounts[k].mapped));
        mbj_array_append_new(mounts, e);
    }
    mbj_object_set_new(o, "mounts", mounts);
    return o;
}

static const char *get_str(mbj_t *o, const char *k)
{
    return mbj_string_value(mbj_object_get(o, k));
}

bool mb_rpc_instance_from(mbj_t *j, struct mb_instance *i, struct mb_nic **nics,
                          struct mb_mount_spec **mounts, mb_error **err)
{
    memset(i, 0, sizeof *i);
    *nics = NULL;
    *mounts = NULL;
    if (!mbj_is_object(j) || !get_str(j, "name") || !get_str(j, "dir")) {
        mb_error_set(err, MB_ERR_USAGE, "an instance needs a name and a dir");
        return false;
    }
    i->name = get_str(j, "name");
    i->dir = get_str(j, "dir");
    i->host = get_str(j, "host");
    mbj_t *img = mbj_object_get(j, "image");
    i->image.path = get_str(img, "path");
    i->image.kernel = get_str(img, "kernel");
    i->image.initrd = get_str(img, "initrd");
    i->image.cmdline = get_str(img, "cmdline");
    i->cpus = (int)mbj_integer_value(mbj_object_get(j, "cpus"));
    i->memory = (uint64_t)mbj_integer_value(mbj_object_get(j, "memory"));
    i->disk_size = (uint64_t)mbj_integer_value(mbj_object_get(j, "disk_size"));
    mbj_t *ci = mbj_object_get(j, "cloud_init");
    i->cloud_init.meta_data = get_str(ci, "meta_data");
    i->cloud_init.user_data = get_str(ci, "user_data");
    i->cloud_init.network_config = get_str(ci, "network_config");
    mbj_t *a = mbj_object_get(j, "nics");
    size_t n = mbj_array_size(a);
    *nics = calloc(n + 1, sizeof **nics);
    a = mbj_object_get(j, "mounts");
    size_t m = mbj_array_size(a);
    *mounts = calloc(m + 1, sizeof **mounts);
    if (*nics == NULL || *mounts == NULL) {
        mb_error_set(err, MB_ERR_IO, "out of memory");
        return false;
    }
    mbj_t *e;
    size_t k;
    mbj_array_foreach(mbj_object_get(j, "nics"), k, e) {
        struct mb_nic *x = &(*nics)[k];
        x->network = get_str(e, "network");
        x->mac = get_str(e, "mac");
        x->ipv4 = get_str(e, "ipv4");
        x->device = get_str(e, "device");
        x->host_port = (int)mbj_integer_value(mbj_object_get(e, "host_port"));
        const char *at = get_str(e, "attach");
        for (int t = 0; at && t < 4; t++)
            if (strcmp(at, attach_names[t]) == 0)
                x->attach = (enum mb_nic_attach)t;
    }
    mbj_array_foreach(a, k, e) {
        (*mounts)[k].source = get_str(e, "source");
        (*mounts)[k].tag = get_str(e, "tag");
        (*mounts)[k].target = get_str(e, "target");
        (*mounts)[k].readonly = mbj_is_true(mbj_object_get(e, "readonly"));
        (*mounts)[k].mapped = mbj_is_true(mbj_object_get(e, "mapped"));
    }
    i->nics = *nics;
    i->n_nics = n;
    i->mounts = *mounts;
    i->n_mounts = m;
    return true;
}

mbj_t *mb_rpc_strv_json(char *const *v)
{
    mbj_t *a = mbj_array();
    for (; v && *v; v++)
        mbj_array_append_new(a, mbj_string(*v));
    return a;
}

char **mb_rpc_strv_from(mbj_t *j, mb_error **err)
{
    if (!mbj_is_array(j)) {
        mb_error_set(err, MB_ERR_FAILED, "a list of strings was expected");
        return NULL;
    }
    char **v = mb_strv_new();
    size_t k;
    mbj_t *e;
    mbj_array_foreach(j, k, e) {
        const char *s = mbj_string_value(e); /* NULL too for a string holding a NUL */
        if (s == NULL || !mb_strv_push(&v, s)) {
            mb_strv_free(v);
            mb_error_set(err, MB_ERR_FAILED, "a list of strings was expected");
            return NULL;
        }
    }
    return v;
}

enum mb_error_code mb_rpc_code_of(const char *name)
{
    for (int c = MB_ERR_USAGE; c <= MB_ERR_AUTH; c++)
        if (name && strcmp(mb_error_code_name((enum mb_error_code)c), name) == 0)
            return (enum mb_error_code)c;
    return MB_ERR_FAILED;
}
