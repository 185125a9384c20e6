/* Instances on another libvirt host: their volumes in that host's storage
 * pool "moonbase" (see libvirt_remote.h; the pool and its volumes are
 * libvirt_pool.c's). The base image is uploaded once per host and shared by
 * the instances' qcow2 overlays (libvirt creates them with the image as
 * backing store). */
#include "drivers/libvirt/libvirt_remote.h"
#include "drivers/libvirt/libvirt_conn.h"
#include "drivers/libvirt/libvirt_pool.h"
#include "drivers/libvirt/libvirt_xml.h" /* MB_LIBVIRT_NAMELEN */
#include "core/fs.h"
#include "core/strbuf.h"
#include "drivers/qemu/qemu_img.h"
#include "drivers/qemu/qemu_instance.h"

#include <libvirt/virterror.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PATHLEN MB_LIBVIRT_PATHLEN

bool mb_libvirt_remote_refuse(const struct mb_instance *inst, const char *op, mb_error **err)
{
    char uri[PATHLEN];
    if (mb_libvirt_remote_uri(inst, uri) == NULL)
        return false;
    mb_error_set(err, MB_ERR_UNSUPPORTED, "%s: instance \"%s\" lives on the libvirt host %s, "
                 "and %s needs its disk on this machine (not supported for remote instances)",
                 op, inst->name, uri, op);
    return true;
}

/* mb-<name>-<8 hex of a hash of the MAC> */
static void prefix(char *buf, size_t n, const struct mb_instance *inst)
{
    uint32_t h = 2166136261u;
    const char *mac = inst->n_nics ? inst->nics[0].mac : NULL;
    for (const char *c = mac ? mac : inst->name; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    snprintf(buf, n, "mb-%s-%08x", inst->name, (unsigned)h);
}

static void vol_name(char *buf, size_t n, const struct mb_instance *inst, const char *suffix)
{
    char p[MB_LIBVIRT_NAMELEN];
    prefix(p, sizeof p, inst);
    snprintf(buf, n, "%s%s", p, suffix);
}

bool mb_libvirt_remote_create(virConnectPtr conn, const struct mb_instance *inst,
                              mb_error **err)
{
    char image[PATHLEN], format[32], name[MB_LIBVIRT_NAMELEN + 16], seed[MB_LIBVIRT_NAMELEN + 16];
    char xml[PATHLEN + 1024], other[PATHLEN];
    struct stat sb;
    char local_seed[PATHLEN];
    mb_libvirt_file(local_seed, inst, MB_QEMU_SEED);
    if (inst->image.path == NULL || !mb_qemu_write_seed(inst, err)
        || stat(local_seed, &sb) != 0) {
        if (err && *err)
            return false;
        mb_error_set(err, MB_ERR_USAGE, "create: instance \"%s\" needs a base image and a seed "
                     "to go to a remote host", inst->name);
        return false;
    }
    virStoragePoolPtr pool = mb_libvirt_pool(conn, true, err);
    if (pool == NULL)
        return false;
    bool ok = false;
    vol_name(name, sizeof name, inst, ".qcow2");
    vol_name(seed, sizeof seed, inst, "-cidata.iso");
    struct mb_qemu_img_info info;
    if (!mb_qemu_img_info(inst->image.path, true, &info, err))
        goto done;
    uint64_t vsize = info.virtual_size;
    snprintf(format, sizeof format, "%s", info.format);
    mb_qemu_img_info_clear(&info);
    const struct mb_image *im = &inst->image;
    if (!mb_libvirt_base_volume(pool, inst, im->path, format, image, err)
        || (im->kernel && !mb_libvirt_base_volume(pool, inst, im->kernel, "raw", other, err))
        || (im->initrd && !mb_libvirt_base_volume(pool, inst, im->initrd, "raw", other, err)))
        goto done;
    /* the overlay: libvirt runs qemu-img with the image as backing store
     * (names are ours and the path is the pool's: nothing to escape) */
    if (strpbrk(image, "<>&'\"") != NULL) {
        mb_error_set(err, MB_ERR_FAILED, "create: unusual image volume path %s", image);
        goto done;
    }
    snprintf(xml, sizeof xml, "<volume><name>%s</name><capacity unit='bytes'>%llu</capacity>"
             "<target><format type='qcow2'/></target><backingStore><path>%s</path>"
             "<format type='%s'/></backingStore></volume>", name,
             (unsigned long long)(inst->disk_size > vsize ? inst->disk_size : vsize), image,
             format);
    virStorageVolPtr v = virStorageVolCreateXML(pool, xml, 0);
    if (v == NULL) {
        mb_libvirt_error(err, MB_ERR_FAILED, "create: libvirt could not create the overlay "
                         "volume");
        goto done;
    }
    virStorageVolFree(v);
    if ((v = mb_libvirt_vol_upload(pool, seed, "raw", local_seed, err)) == NULL) {
        mb_libvirt_vol_delete(pool, name);
        goto done;
    }
    virStorageVolFree(v);
    ok = true;
done:
    virStoragePoolFree(pool);
    return ok;
}

bool mb_libvirt_remote_paths(virConnectPtr conn, const struct mb_instance *inst,
                             struct mb_libvirt_remote_files *f, mb_error **err)
{
    char name[PATHLEN];
    char *disk = f->disk, *serial = f->serial;
    virStoragePoolPtr pool = mb_libvirt_pool(conn, false, err);
    if (pool == NULL)
        return false;
    vol_name(name, sizeof name, inst, ".qcow2");
    bool ok = mb_libvirt_vol_path(pool, name, disk, err);
    vol_name(name, sizeof name, inst, "-cidata.iso");
    ok = ok && mb_libvirt_vol_path(pool, name, f->seed, err);
    f->kernel[0] = f->initrd[0] = '\0';
    const struct mb_image *im = &inst->image;
    ok = ok && (im->kernel == NULL || (mb_libvirt_base_name(im->kernel, name, sizeof name, err)
                                       && mb_libvirt_vol_path(pool, name, f->kernel, err)));
    ok = ok && (im->initrd == NULL || (mb_libvirt_base_name(im->initrd, name, sizeof name, err)
                                       && mb_libvirt_vol_path(pool, name, f->initrd, err)));
    if (ok) { /* next to the overlay, in the pool's directory */
        char pre[MB_LIBVIRT_NAMELEN];
        prefix(pre, sizeof pre, inst);
        snprintf(serial, PATHLEN, "%s", disk);
        char *slash = strrchr(serial, '/');
        size_t at = slash ? (size_t)(slash - serial) + 1 : 0;
        snprintf(serial + at, PATHLEN - at, "%s-serial.log", pre);
    }
    virStoragePoolFree(pool);
    return ok;
}

bool mb_libvirt_remote_exists(virConnectPtr conn, const struct mb_instance *inst)
{
    char name[MB_LIBVIRT_NAMELEN + 16];
    bool missing;
    virStoragePoolPtr pool = mb_libvirt_pool(conn, false, NULL);
    if (pool == NULL)
        return false;
    vol_name(name, sizeof name, inst, ".qcow2");
    virStorageVolPtr v = mb_libvirt_vol_get(pool, name, &missing, NULL);
    if (v)
        virStorageVolFree(v);
    virStoragePoolFree(pool);
    return v != NULL;
}

bool mb_libvirt_remote_delete(virConnectPtr conn, const struct mb_instance *inst, mb_error **err)
{
    static const char *const suffixes[] = {".qcow2", "-cidata.iso", "-serial.log"};
    char name[MB_LIBVIRT_NAMELEN + 16];
    mb_error *perr = NULL;
    virStoragePoolPtr pool = mb_libvirt_pool(conn, false, &perr);
    if (pool == NULL) {
        bool gone = perr->code == MB_ERR_NOT_FOUND; /* no pool: no volumes */
        if (gone)
            mb_error_free(perr);
        else
            *err = perr;
        return gone;
    }
    virStoragePoolRefresh(pool, 0); /* the console log is QEMU's file, not libvirt's yet */
    bool ok = true;
    for (size_t k = 0; k < sizeof suffixes / sizeof suffixes[0]; k++) {
        bool missing;
        vol_name(name, sizeof name, inst, suffixes[k]);
        virStorageVolPtr v = mb_libvirt_vol_get(pool, name, &missing, NULL);
        if (v && virStorageVolDelete(v, 0) < 0 && ok) {
            mb_libvirt_error(err, MB_ERR_FAILED, "delete: libvirt could not delete a volume");
            ok = false;
        }
        if (v)
            virStorageVolFree(v);
    }
    virStoragePoolFree(pool);
    return ok;
}

char *mb_libvirt_remote_console(virConnectPtr conn, const struct mb_instance *inst, size_t max,
                                mb_error **err)
{
    char name[MB_LIBVIRT_NAMELEN + 16];
    bool missing;
    virStoragePoolPtr pool = mb_libvirt_pool(conn, false, err);
    if (pool == NULL)
        return NULL;
    virStoragePoolRefresh(pool, 0);
    vol_name(name, sizeof name, inst, "-serial.log");
    virStorageVolPtr v = mb_libvirt_vol_get(pool, name, &missing, NULL);
    virStoragePoolFree(pool);
    char *out = calloc(1, max + 1);
    if (v == NULL || out == NULL) {
        if (v)
            virStorageVolFree(v);
        return out;
    }
    long long size = mb_libvirt_vol_physical(v);
    size_t len = 0;
    virStreamPtr st = virStreamNew(conn, 0);
    unsigned long long off = size > (long long)max ? (unsigned long long)size - max : 0;
    if (size > 0 && st && virStorageVolDownload(v, st, off, (unsigned long long)size - off,
                                                0) == 0) {
        int r;
        while (len < max && (r = virStreamRecv(st, out + len, max - len)) > 0)
            len += (size_t)r;
        if (virStreamFinish(st) < 0)
            virStreamAbort(st);
    }
    if (st)
        virStreamFree(st);
    virStorageVolFree(v);
    out[len] = '\0';
    return out;
}

/* ---------------------------------------------------------------- ssh to the host */

struct uri_parts {
    char user[256], host[256], port[16];
    char command[1024], keyfile[1024], known_hosts[1024], no_verify[8];
};

static int hexval(char c)
{
    return isdigit((unsigned char)c) ? c - '0' : isxdigit((unsigned char)c)
               ? (tolower((unsigned char)c) - 'a' + 10) : -1;
}

/* s[0..len) with %XX decoded into buf (n bytes); false if it does not fit. */
static bool unescape(const char *s, size_t len, char *buf, size_t n)
{
    size_t k = 0;
    for (size_t j = 0; j < len; j++) {
        char c = s[j];
        if (c == '%' && j + 2 < len && hexval(s[j + 1]) >= 0 && hexval(s[j + 2]) >= 0) {
            c = (char)(hexval(s[j + 1]) * 16 + hexval(s[j + 2]));
            j += 2;
        }
        if (k + 1 >= n)
            return false;
        buf[k++] = c;
    }
    buf[k] = '\0';
    return true;
}

/* scheme://[user@]host[:port]/path?name=value&... (host may be [v6]) */
static bool parse_uri(const char *uri, struct uri_parts *u)
{
    memset(u, 0, sizeof *u);
    const char *sep = strstr(uri, "://");
    if (sep == NULL)
        return false;
    const char *auth = sep + 3, *end = auth + strcspn(auth, "/?");
    const char *at = memchr(auth, '@', (size_t)(end - auth));
    if (at && !unescape(auth, (size_t)(at - auth), u->user, sizeof u->user))
        return false;
    const char *hp = at ? at + 1 : auth, *colon = NULL, *hend = end;
    if (*hp == '[') {
        const char *close = memchr(hp, ']', (size_t)(end - hp));
        if (close == NULL)
            return false;
        hp++;
        hend = close;
        colon = close + 1 < end && close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = memchr(hp, ':', (size_t)(end - hp));
        if (colon)
            hend = colon;
    }
    if ((size_t)(hend - hp) >= sizeof u->host)
        return false;
    memcpy(u->host, hp, (size_t)(hend - hp));
    if (colon && (size_t)(end - colon - 1) < sizeof u->port)
        memcpy(u->port, colon + 1, (size_t)(end - colon - 1));
    const char *q = strchr(end, '?');
    while (q && *q) {
        const char *k = q + 1, *amp = k + strcspn(k, "&"), *eq = memchr(k, '=', (size_t)(amp - k));
        char name[64];
        const char *v = eq ? eq + 1 : amp;
        if (unescape(k, (size_t)((eq ? eq : amp) - k), name, sizeof name)) {
            char *dst = strcmp(name, "command") == 0 ? u->command
                        : strcmp(name, "keyfile") == 0 ? u->keyfile
                        : strcmp(name, "known_hosts") == 0 ? u->known_hosts
                        : strcmp(name, "no_verify") == 0 ? u->no_verify : NULL;
            size_t cap = dst == u->no_verify ? sizeof u->no_verify : sizeof u->command;
            if (dst && !unescape(v, (size_t)(amp - v), dst, cap))
                return false;
        }
        q = *amp ? amp : NULL;
    }
    return true;
}

/* Appends one word: % doubled (OpenSSH expands %), then quoted for sh when
 * it has anything but [A-Za-z0-9@%+=:,./_-]. */
static void add_word(struct mb_strbuf *b, const char *w)
{
    bool plain = *w != '\0';
    for (const char *c = w; *c && plain; c++)
        plain = isalnum((unsigned char)*c) || strchr("@%+=:,./_-", *c);
    if (b->n > 0)
        mb_strbuf_add(b, " ");
    if (!plain)
        mb_strbuf_add(b, "'");
    for (const char *c = w; *c; c++) {
        if (*c == '%')
            mb_strbuf_add(b, "%%");
        else if (*c == '\'' && !plain)
            mb_strbuf_add(b, "'\\''");
        else
            mb_strbuf_addn(b, c, 1);
    }
    if (!plain)
        mb_strbuf_add(b, "'");
}

bool mb_libvirt_proxy_command(const char *uri, char *buf, size_t n, mb_error **err)
{
    struct uri_parts u;
    if (!parse_uri(uri, &u) || u.host[0] == '\0') {
        mb_error_set(err, MB_ERR_USAGE, "cannot tell which host the libvirt URI %s names", uri);
        return false;
    }
    struct mb_strbuf b = {0};
    add_word(&b, u.command[0] ? u.command : "ssh");
    if (u.port[0]) {
        add_word(&b, "-p");
        add_word(&b, u.port);
    }
    if (u.user[0]) {
        add_word(&b, "-l");
        add_word(&b, u.user);
    }
    if (u.keyfile[0]) {
        add_word(&b, "-i");
        add_word(&b, u.keyfile);
    }
    if (u.known_hosts[0]) {
        char o[1100];
        snprintf(o, sizeof o, "UserKnownHostsFile=%s", u.known_hosts);
        add_word(&b, "-o");
        add_word(&b, o);
    }
    if (strcmp(u.no_verify, "1") == 0) {
        add_word(&b, "-o");
        add_word(&b, "StrictHostKeyChecking=no");
    }
    add_word(&b, "-o");
    add_word(&b, "BatchMode=yes");
    mb_strbuf_add(&b, " -W %h:%p");
    add_word(&b, u.host);
    bool ok = !b.oom && b.s && strlen(b.s) < n;
    if (ok)
        snprintf(buf, n, "%s", b.s);
    else
        mb_error_set(err, MB_ERR_FAILED, "the ssh command for %s is too long", uri);
    free(b.s);
    return ok;
}
