/* Instances on another libvirt host: their volumes in that host's storage
 * pool "moonbase" (see libvirt_remote.h). Everything goes through libvirt's
 * storage API on the connection (virStoragePool*, virStorageVol*, virStream),
 * so any transport libvirt has (qemu+ssh, qemu+tls, ...) carries it. The
 * base image is uploaded once per host and shared by the instances' qcow2
 * overlays (libvirt creates them with the image as backing store); an image
 * volume whose size differs from the local file is a killed upload and is
 * made again. Uploads from one moonbase home are serialised by a lock file
 * in its instances directory, so a recipe's parallel launches upload once. */
#include "drivers/libvirt/libvirt_remote.h"
#include "drivers/libvirt/libvirt_conn.h"
#include "drivers/libvirt/libvirt_xml.h" /* MB_LIBVIRT_NAMELEN */
#include "core/fs.h"
#include "drivers/qemu/qemu_img.h"

#include <libvirt/virterror.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATHLEN MB_LIBVIRT_PATHLEN
#define POOL_PATH "/var/lib/libvirt/images/" MB_LIBVIRT_POOL
#define CHUNK (1 << 20)

const char *mb_libvirt_remote_uri(const struct mb_instance *inst, char *buf)
{
    char p[PATHLEN];
    mb_libvirt_file(p, inst, "libvirt.host");
    char *s = mb_fs_read(p, NULL, NULL);
    if (s == NULL)
        return NULL;
    size_t n = strcspn(s, "\n");
    const char *r = NULL;
    if (n > 0 && n < PATHLEN) {
        memcpy(buf, s, n);
        buf[n] = '\0';
        r = buf;
    }
    free(s);
    return r;
}

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
    for (const char *c = inst->mac ? inst->mac : inst->name; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    snprintf(buf, n, "mb-%s-%08x", inst->name, (unsigned)h);
}

static void vol_name(char *buf, size_t n, const struct mb_instance *inst, const char *suffix)
{
    char p[MB_LIBVIRT_NAMELEN];
    prefix(p, sizeof p, inst);
    snprintf(buf, n, "%s%s", p, suffix);
}

/* The pool, defined (a dir pool), built and started when missing. */
static virStoragePoolPtr pool_get(virConnectPtr c, bool create, mb_error **err)
{
    virStoragePoolPtr p = virStoragePoolLookupByName(c, MB_LIBVIRT_POOL);
    if (p == NULL && mb_libvirt_last_code() != VIR_ERR_NO_STORAGE_POOL) {
        mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: looking up the storage pool "
                         MB_LIBVIRT_POOL);
        return NULL;
    }
    if (p == NULL && !create) {
        mb_error_set(err, MB_ERR_NOT_FOUND, "libvirt: the host has no storage pool "
                     MB_LIBVIRT_POOL " (was it removed?)");
        return NULL;
    }
    if (p == NULL) {
        p = virStoragePoolDefineXML(c, "<pool type='dir'><name>" MB_LIBVIRT_POOL "</name>"
                                       "<target><path>" POOL_PATH "</path></target></pool>", 0);
        if (p == NULL) /* another launch defined it meanwhile? */
            p = virStoragePoolLookupByName(c, MB_LIBVIRT_POOL);
        else if (virStoragePoolBuild(p, 0) < 0 || virStoragePoolSetAutostart(p, 1) < 0) {
            mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: building the storage pool "
                             MB_LIBVIRT_POOL " at " POOL_PATH);
            virStoragePoolUndefine(p);
            virStoragePoolFree(p);
            return NULL;
        }
        if (p == NULL) {
            mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: defining the storage pool "
                             MB_LIBVIRT_POOL);
            return NULL;
        }
    }
    if (virStoragePoolIsActive(p) != 1 && virStoragePoolCreate(p, 0) < 0
        && virStoragePoolIsActive(p) != 1) {
        mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: starting the storage pool "
                         MB_LIBVIRT_POOL);
        virStoragePoolFree(p);
        return NULL;
    }
    return p;
}

/* The volume, or NULL (*missing says whether it does not exist). */
static virStorageVolPtr vol_get(virStoragePoolPtr p, const char *name, bool *missing,
                                mb_error **err)
{
    virStorageVolPtr v = virStorageVolLookupByName(p, name);
    *missing = v == NULL && mb_libvirt_last_code() == VIR_ERR_NO_STORAGE_VOL;
    if (v == NULL && !*missing)
        mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: looking up a volume");
    return v;
}

/* The file's size on the host (what an upload wrote), or -1. */
static long long vol_physical(virStorageVolPtr v)
{
    virStorageVolInfo info;
    if (virStorageVolGetInfoFlags(v, &info, VIR_STORAGE_VOL_GET_PHYSICAL) < 0)
        return -1;
    return (long long)info.allocation;
}

/* A new volume (the XML's name, format, capacity) filled with path's bytes. */
static virStorageVolPtr upload(virStoragePoolPtr p, const char *name, const char *format,
                               const char *path, uint64_t size, mb_error **err)
{
    char xml[1024];
    snprintf(xml, sizeof xml, "<volume><name>%s</name><capacity unit='bytes'>%llu</capacity>"
             "<target><format type='%s'/></target></volume>", name, (unsigned long long)size,
             format);
    virStorageVolPtr v = virStorageVolCreateXML(p, xml, 0);
    if (v == NULL) {
        mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: creating a volume for the upload");
        return NULL;
    }
    virConnectPtr c = virStoragePoolGetConnect(p);
    virStreamPtr st = virStreamNew(c, 0);
    char *buf = malloc(CHUNK);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    bool ok = false, begun = false;
    if (fd < 0 || buf == NULL || st == NULL) {
        mb_error_set_errno(err, fd < 0 ? errno : ENOMEM, "libvirt: cannot upload %s", path);
        goto done;
    }
    if (virStorageVolUpload(v, st, 0, size, 0) < 0) {
        mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: starting the upload");
        goto done;
    }
    begun = true;
    for (;;) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            mb_error_set_errno(err, errno, "libvirt: reading %s", path);
            goto done;
        }
        if (r == 0)
            break;
        for (ssize_t off = 0; off < r;) {
            int s = virStreamSend(st, buf + off, (size_t)(r - off));
            if (s < 0) {
                mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: uploading to the host");
                goto done;
            }
            off += s;
        }
    }
    if (virStreamFinish(st) < 0) {
        mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: finishing the upload");
        begun = false;
        goto done;
    }
    begun = false;
    ok = true;
done:
    if (begun)
        virStreamAbort(st);
    if (st)
        virStreamFree(st);
    if (fd >= 0)
        close(fd);
    free(buf);
    if (!ok) {
        virStorageVolDelete(v, 0);
        virStorageVolFree(v);
        v = NULL;
    }
    return v;
}

/* The volume name of a base file (the image, or a kernel or initrd next to
 * it): mb-image-<16 hex>-<file name>, the hex from the cache's <sha256>/
 * directory it is in, else from a hash of its path and size. */
static bool base_name(const char *local, char *name, size_t n, mb_error **err)
{
    char real[PATH_MAX], id[32] = "";
    struct stat sb;
    if (realpath(local, real) == NULL || stat(real, &sb) != 0) {
        mb_error_set_errno(err, errno, "libvirt: base file %s", local);
        return false;
    }
    char *slash = strrchr(real, '/');
    const char *d = slash ? slash : real;
    while (d > real && d[-1] != '/')
        d--;
    size_t hex = 0;
    while (d + hex < slash && isxdigit((unsigned char)d[hex]))
        hex++;
    if (hex >= 16 && d + hex == slash) {
        memcpy(id, d, 16);
        id[16] = '\0';
    } else {
        uint32_t h = 2166136261u;
        for (const char *c = real; *c; c++)
            h = (h ^ (unsigned char)*c) * 16777619u;
        snprintf(id, sizeof id, "%08x%08llx", (unsigned)h, (unsigned long long)sb.st_size);
    }
    snprintf(name, n, "mb-image-%s-%.200s", id, slash ? slash + 1 : real);
    if (strpbrk(name, "<>&'\"/") != NULL) {
        mb_error_set(err, MB_ERR_USAGE, "libvirt: unusual base file name %s", local);
        return false;
    }
    return true;
}

/* A base file's volume on the host, uploaded when missing or partial: its
 * path into path. format: the file's format ("raw" for a kernel). */
static bool base_volume(virStoragePoolPtr p, const struct mb_instance *inst, const char *local,
                        const char *format, char *path, mb_error **err)
{
    char name[PATHLEN], lockp[PATHLEN];
    struct stat sb;
    if (!base_name(local, name, sizeof name, err))
        return false;
    if (stat(local, &sb) != 0) {
        mb_error_set_errno(err, errno, "libvirt: base file %s", local);
        return false;
    }
    /* one upload at a time from this moonbase home */
    snprintf(lockp, sizeof lockp, "%s", inst->dir);
    char *ds = strrchr(lockp, '/');
    if (ds)
        *ds = '\0';
    strncat(lockp, "/.libvirt-upload.lock", sizeof lockp - strlen(lockp) - 1);
    int lfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    while (lfd >= 0 && flock(lfd, LOCK_EX) < 0 && errno == EINTR)
        ;
    bool missing, ok = false;
    virStorageVolPtr v = vol_get(p, name, &missing, err);
    if (v != NULL && vol_physical(v) != (long long)sb.st_size) {
        virStorageVolDelete(v, 0); /* an upload that was cut short */
        virStorageVolFree(v);
        v = NULL;
        missing = true;
    }
    if (v == NULL && missing)
        v = upload(p, name, format, local, (uint64_t)sb.st_size, err);
    if (v != NULL) {
        char *vp = virStorageVolGetPath(v);
        if (vp) {
            snprintf(path, PATHLEN, "%s", vp);
            ok = true;
        } else {
            mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: a base volume's path");
        }
        free(vp);
        virStorageVolFree(v);
    }
    if (lfd >= 0)
        close(lfd);
    return ok;
}

static void delete_vol(virStoragePoolPtr p, const char *name)
{
    virStorageVolPtr v = virStorageVolLookupByName(p, name);
    if (v) {
        virStorageVolDelete(v, 0);
        virStorageVolFree(v);
    }
}

bool mb_libvirt_remote_create(virConnectPtr conn, const char *uri, const struct mb_instance *inst,
                              mb_error **err)
{
    char image[PATHLEN], format[32], name[MB_LIBVIRT_NAMELEN + 16], seed[MB_LIBVIRT_NAMELEN + 16];
    char xml[PATHLEN + 1024], p[PATHLEN], other[PATHLEN];
    struct stat sb;
    if (inst->image == NULL || inst->seed == NULL || stat(inst->seed, &sb) != 0) {
        mb_error_set(err, MB_ERR_USAGE, "create: instance \"%s\" needs a base image and a seed "
                     "to go to a remote host", inst->name);
        return false;
    }
    virStoragePoolPtr pool = pool_get(conn, true, err);
    if (pool == NULL)
        return false;
    bool ok = false;
    vol_name(name, sizeof name, inst, ".qcow2");
    vol_name(seed, sizeof seed, inst, "-cidata.iso");
    struct mb_qemu_img_info info;
    if (!mb_qemu_img_info(inst->image, true, &info, err))
        goto done;
    uint64_t vsize = info.virtual_size;
    snprintf(format, sizeof format, "%s", info.format);
    mb_qemu_img_info_clear(&info);
    if (!base_volume(pool, inst, inst->image, format, image, err)
        || (inst->kernel && !base_volume(pool, inst, inst->kernel, "raw", other, err))
        || (inst->initrd && !base_volume(pool, inst, inst->initrd, "raw", other, err)))
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
    if ((v = upload(pool, seed, "raw", inst->seed, (uint64_t)sb.st_size, err)) == NULL) {
        delete_vol(pool, name);
        goto done;
    }
    virStorageVolFree(v);
    int n = snprintf(p, sizeof p, "%s\n", uri);
    char trace[PATHLEN];
    mb_libvirt_file(trace, inst, "libvirt.host");
    if (!mb_fs_write_atomic(trace, p, (size_t)n, 0644, err)) {
        delete_vol(pool, seed);
        delete_vol(pool, name);
        goto done;
    }
    ok = true;
done:
    virStoragePoolFree(pool);
    return ok;
}

/* The path of volume name into buf; false (err set unless missing) if none. */
static bool vol_path(virStoragePoolPtr p, const char *name, char *buf, mb_error **err)
{
    bool missing;
    virStorageVolPtr v = vol_get(p, name, &missing, err);
    if (v == NULL) {
        if (missing)
            mb_error_set(err, MB_ERR_NOT_FOUND, "libvirt: the host has no volume %s in the "
                         "pool " MB_LIBVIRT_POOL " (try: moonbase delete --purge, then launch "
                         "again)", name);
        return false;
    }
    char *s = virStorageVolGetPath(v);
    virStorageVolFree(v);
    if (s == NULL) {
        mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: a volume's path");
        return false;
    }
    snprintf(buf, PATHLEN, "%s", s);
    free(s);
    return true;
}

bool mb_libvirt_remote_paths(virConnectPtr conn, const struct mb_instance *inst,
                             struct mb_libvirt_remote_files *f, mb_error **err)
{
    char name[PATHLEN];
    char *disk = f->disk, *serial = f->serial;
    virStoragePoolPtr pool = pool_get(conn, false, err);
    if (pool == NULL)
        return false;
    vol_name(name, sizeof name, inst, ".qcow2");
    bool ok = vol_path(pool, name, disk, err);
    vol_name(name, sizeof name, inst, "-cidata.iso");
    ok = ok && vol_path(pool, name, f->seed, err);
    f->kernel[0] = f->initrd[0] = '\0';
    ok = ok && (inst->kernel == NULL || (base_name(inst->kernel, name, sizeof name, err)
                                         && vol_path(pool, name, f->kernel, err)));
    ok = ok && (inst->initrd == NULL || (base_name(inst->initrd, name, sizeof name, err)
                                         && vol_path(pool, name, f->initrd, err)));
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
    virStoragePoolPtr pool = pool_get(conn, false, NULL);
    if (pool == NULL)
        return false;
    vol_name(name, sizeof name, inst, ".qcow2");
    virStorageVolPtr v = vol_get(pool, name, &missing, NULL);
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
    virStoragePoolPtr pool = pool_get(conn, false, &perr);
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
        virStorageVolPtr v = vol_get(pool, name, &missing, NULL);
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
    virStoragePoolPtr pool = pool_get(conn, false, err);
    if (pool == NULL)
        return NULL;
    virStoragePoolRefresh(pool, 0);
    vol_name(name, sizeof name, inst, "-serial.log");
    virStorageVolPtr v = vol_get(pool, name, &missing, NULL);
    virStoragePoolFree(pool);
    char *out = calloc(1, max + 1);
    if (v == NULL || out == NULL) {
        if (v)
            virStorageVolFree(v);
        return out;
    }
    long long size = vol_physical(v);
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
