/* The driver protocol's data: an instance, a list of strings and an error
 * code as JSON, both ways (the client, rpc_driver.c, and the server,
 * rpc_serve.c, use the same). */
#include "driver/rpc.h"

#include <stdlib.h>
#include <string.h>

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v)
        json_object_set_new(o, k, json_string(v));
}

static const char *const attach_names[] = {"user", "tap", "network", "bridge"};

json_t *mb_rpc_instance_json(const struct mb_instance *i)
{
    json_t *o = json_object();
    set_str(o, "name", i->name);
    set_str(o, "dir", i->dir);
    set_str(o, "host", i->host);
    json_t *img = json_object();
    set_str(img, "path", i->image.path);
    set_str(img, "kernel", i->image.kernel);
    set_str(img, "initrd", i->image.initrd);
    set_str(img, "cmdline", i->image.cmdline);
    json_object_set_new(o, "image", img);
    json_object_set_new(o, "cpus", json_integer(i->cpus));
    json_object_set_new(o, "memory", json_integer((json_int_t)i->memory));
    json_object_set_new(o, "disk_size", json_integer((json_int_t)i->disk_size));
    if (i->cloud_init.meta_data || i->cloud_init.user_data || i->cloud_init.network_config) {
        json_t *ci = json_object();
        set_str(ci, "meta_data", i->cloud_init.meta_data);
        set_str(ci, "user_data", i->cloud_init.user_data);
        set_str(ci, "network_config", i->cloud_init.network_config);
        json_object_set_new(o, "cloud_init", ci);
    }
    json_t *nics = json_array();
    for (size_t k = 0; k < i->n_nics; k++) {
        const struct mb_nic *n = &i->nics[k];
        json_t *e = json_object();
        set_str(e, "network", n->network);
        set_str(e, "mac", n->mac);
        set_str(e, "ipv4", n->ipv4);
        set_str(e, "attach", attach_names[n->attach]);
        set_str(e, "device", n->device);
        if (n->host_port)
            json_object_set_new(e, "host_port", json_integer(n->host_port));
        json_array_append_new(nics, e);
    }
    json_object_set_new(o, "nics", nics);
    json_t *mounts = json_array();
    for (size_t k = 0; k < i->n_mounts; k++) {
        json_t *e = json_object();
        set_str(e, "source", i->mounts[k].source);
        set_str(e, "tag", i->mounts[k].tag);
        set_str(e, "target", i->mounts[k].target);
        json_object_set_new(e, "readonly", json_boolean(i->mounts[k].readonly));
        json_object_set_new(e, "mapped", json_boolean(i->mounts[k].mapped));
        json_array_append_new(mounts, e);
    }
    json_object_set_new(o, "mounts", mounts);
    return o;
}

static const char *get_str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

bool mb_rpc_instance_from(json_t *j, struct mb_instance *i, struct mb_nic **nics,
                          struct mb_mount_spec **mounts, mb_error **err)
{
    memset(i, 0, sizeof *i);
    *nics = NULL;
    *mounts = NULL;
    if (!json_is_object(j) || !get_str(j, "name") || !get_str(j, "dir")) {
        mb_error_set(err, MB_ERR_USAGE, "an instance needs a name and a dir");
        return false;
    }
    i->name = get_str(j, "name");
    i->dir = get_str(j, "dir");
    i->host = get_str(j, "host");
    json_t *img = json_object_get(j, "image");
    i->image.path = get_str(img, "path");
    i->image.kernel = get_str(img, "kernel");
    i->image.initrd = get_str(img, "initrd");
    i->image.cmdline = get_str(img, "cmdline");
    i->cpus = (int)json_integer_value(json_object_get(j, "cpus"));
    i->memory = (uint64_t)json_integer_value(json_object_get(j, "memory"));
    i->disk_size = (uint64_t)json_integer_value(json_object_get(j, "disk_size"));
    json_t *ci = json_object_get(j, "cloud_init");
    i->cloud_init.meta_data = get_str(ci, "meta_data");
    i->cloud_init.user_data = get_str(ci, "user_data");
    i->cloud_init.network_config = get_str(ci, "network_config");
    json_t *a = json_object_get(j, "nics");
    size_t n = json_array_size(a);
    *nics = calloc(n + 1, sizeof **nics);
    a = json_object_get(j, "mounts");
    size_t m = json_array_size(a);
    *mounts = calloc(m + 1, sizeof **mounts);
    if (*nics == NULL || *mounts == NULL) {
        mb_error_set(err, MB_ERR_IO, "out of memory");
        return false;
    }
    json_t *e;
    size_t k;
    json_array_foreach(json_object_get(j, "nics"), k, e) {
        struct mb_nic *x = &(*nics)[k];
        x->network = get_str(e, "network");
        x->mac = get_str(e, "mac");
        x->ipv4 = get_str(e, "ipv4");
        x->device = get_str(e, "device");
        x->host_port = (int)json_integer_value(json_object_get(e, "host_port"));
        const char *at = get_str(e, "attach");
        for (int t = 0; at && t < 4; t++)
            if (strcmp(at, attach_names[t]) == 0)
                x->attach = (enum mb_nic_attach)t;
    }
    json_array_foreach(a, k, e) {
        (*mounts)[k].source = get_str(e, "source");
        (*mounts)[k].tag = get_str(e, "tag");
        (*mounts)[k].target = get_str(e, "target");
        (*mounts)[k].readonly = json_is_true(json_object_get(e, "readonly"));
        (*mounts)[k].mapped = json_is_true(json_object_get(e, "mapped"));
    }
    i->nics = *nics;
    i->n_nics = n;
    i->mounts = *mounts;
    i->n_mounts = m;
    return true;
}

json_t *mb_rpc_strv_json(char *const *v)
{
    json_t *a = json_array();
    for (; v && *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

char **mb_rpc_strv_from(json_t *j, mb_error **err)
{
    if (!json_is_array(j)) {
        mb_error_set(err, MB_ERR_FAILED, "a list of strings was expected");
        return NULL;
    }
    char **v = mb_strv_new();
    size_t k;
    json_t *e;
    json_array_foreach(j, k, e) {
        if (!json_is_string(e) || !mb_strv_push(&v, json_string_value(e))) {
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
