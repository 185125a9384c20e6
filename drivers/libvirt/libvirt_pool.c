/* The storage pool "moonbase" and its volumes (see libvirt_pool.h).
 * Everything goes through libvirt's storage API on the connection
 * (virStoragePool*, virStorageVol*, virStream), so any transport libvirt has
 * (unix socket, qemu+ssh, qemu+tls) carries it; the one shortcut is a hard
 * link into the pool's directory where this process may write it and sees
 * the same directory libvirt does (a root moonbase on the libvirt host): no
 * bytes copied. An image volume whose size differs from the local file is a
 * killed upload and is made again. */
#include "drivers/libvirt/libvirt_pool.h"
#include "drivers/libvirt/libvirt_conn.h"
#include "core/fs.h"

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

virStoragePoolPtr mb_libvirt_pool(virConnectPtr c, bool create, mb_error **err)
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

bool mb_libvirt_pool_dir(virStoragePoolPtr p, char *buf, mb_error **err)
{
    char *xml = virStoragePoolGetXMLDesc(p, 0);
    const char *t = xml ? strstr(xml, "<target>") : NULL;
    const char *a = t ? strstr(t, "<path>") : NULL;
    const char *b = a ? strstr(a, "</path>") : NULL;
    bool ok = b != NULL && (size_t)(b - a - 6) < PATHLEN;
    if (ok) {
        memcpy(buf, a + 6, (size_t)(b - a - 6));
        buf[b - a - 6] = '\0';
        ok = strchr(buf, '&') == NULL; /* an escaped path: not one of ours */
    }
    if (!ok)
        mb_error_set(err, MB_ERR_FAILED, "libvirt: the storage pool " MB_LIBVIRT_POOL
                     " has no directory");
    free(xml);
    return ok;
}

virStorageVolPtr mb_libvirt_vol_get(virStoragePoolPtr p, const char *name, bool *missing,
                                    mb_error **err)
{
    virStorageVolPtr v = virStorageVolLookupByName(p, name);
    *missing = v == NULL && mb_libvirt_last_code() == VIR_ERR_NO_STORAGE_VOL;
    if (v == NULL && !*missing)
        mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: looking up a volume");
    return v;
}

bool mb_libvirt_vol_path(virStoragePoolPtr p, const char *name, char *buf, mb_error **err)
{
    bool missing;
    virStorageVolPtr v = mb_libvirt_vol_get(p, name, &missing, err);
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

long long mb_libvirt_vol_physical(virStorageVolPtr v)
{
    virStorageVolInfo info;
    if (virStorageVolGetInfoFlags(v, &info, VIR_STORAGE_VOL_GET_PHYSICAL) < 0)
        return -1;
    return (long long)info.allocation;
}

void mb_libvirt_vol_delete(virStoragePoolPtr p, const char *name)
{
    virStorageVolPtr v = virStorageVolLookupByName(p, name);
    if (v) {
        virStorageVolDelete(v, 0);
        virStorageVolFree(v);
    }
}

/* The end of a transfer over a stream: finished (what: "the upload"), or,
 * on failure after it began, aborted. */
static bool stream_finish(virStreamPtr st, bool *begun, const char *what, mb_error **err)
{
    char msg[64];
    *begun = false;
    if (virStreamFinish(st) == 0)
        return true;
    snprintf(msg, sizeof msg, "libvirt: finishing %s", what);
    mb_libvirt_error(err, MB_ERR_FAILED, msg);
    return false;
}

static void stream_close(virStreamPtr st, bool begun, int fd, char *buf)
{
    if (begun)
        virStreamAbort(st);
    if (st)
        virStreamFree(st);
    if (fd >= 0)
        close(fd);
    free(buf);
}

virStorageVolPtr mb_libvirt_vol_upload(virStoragePoolPtr p, const char *name,
                                       const char *format, const char *path, mb_error **err)
{
    char xml[1024];
    struct stat sb;
    if (stat(path, &sb) != 0) {
        mb_error_set_errno(err, errno, "libvirt: cannot upload %s", path);
        return NULL;
    }
    uint64_t size = (uint64_t)sb.st_size;
    /* raw: a file of exactly that size, not preallocated (the upload fills it) */
    snprintf(xml, sizeof xml, "<volume><name>%s</name><capacity unit='bytes'>%llu</capacity>"
             "%s<target><format type='%s'/></target></volume>", name, (unsigned long long)size,
             strcmp(format, "raw") == 0 ? "<allocation>0</allocation>" : "", format);
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
    ok = stream_finish(st, &begun, "the upload", err);
done:
    stream_close(st, begun, fd, buf);
    if (!ok) {
        virStorageVolDelete(v, 0);
        virStorageVolFree(v);
        v = NULL;
    }
    return v;
}

/* Volume `name`, or NULL with err (MB_ERR_NOT_FOUND when there is none). */
static virStorageVolPtr vol_existing(virStoragePoolPtr p, const char *name, mb_error **err)
{
    bool missing;
    virStorageVolPtr v = mb_libvirt_vol_get(p, name, &missing, err);
    if (v == NULL && missing)
        mb_error_set(err, MB_ERR_NOT_FOUND, "libvirt: the host has no volume %s in the pool "
                     MB_LIBVIRT_POOL, name);
    return v;
}

bool mb_libvirt_vol_download(virStoragePoolPtr p, const char *name, const char *path,
                             mode_t mode, mb_error **err)
{
    char tmp[PATHLEN + 16];
    bool ok = false, begun = false;
    virStorageVolPtr v = vol_existing(p, name, err);
    if (v == NULL)
        return false;
    snprintf(tmp, sizeof tmp, "%s.download", path);
    virStreamPtr st = virStreamNew(virStoragePoolGetConnect(p), 0);
    char *buf = malloc(CHUNK);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || buf == NULL || st == NULL) {
        mb_error_set_errno(err, fd < 0 ? errno : ENOMEM, "libvirt: cannot write %s", tmp);
        goto done;
    }
    if (virStorageVolDownload(v, st, 0, 0, 0) < 0) {
        mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: starting the download");
        goto done;
    }
    begun = true;
    for (;;) {
        int r = virStreamRecv(st, buf, CHUNK);
        if (r < 0) {
            mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: downloading from the host");
            goto done;
        }
        if (r == 0)
            break;
        for (int off = 0; off < r;) {
            ssize_t w = write(fd, buf + off, (size_t)(r - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                mb_error_set_errno(err, errno, "libvirt: writing %s", tmp);
                goto done;
            }
            off += (int)w;
        }
    }
    if (!stream_finish(st, &begun, "the download", err))
        goto done;
    if (fsync(fd) != 0 || rename(tmp, path) != 0) {
        mb_error_set_errno(err, errno, "libvirt: cannot replace %s", path);
        goto done;
    }
    ok = true;
done:
    stream_close(st, begun, fd, buf);
    if (!ok)
        unlink(tmp);
    virStorageVolFree(v);
    return ok;
}

bool mb_libvirt_vol_read(virStoragePoolPtr p, const char *name, uint64_t off, size_t len,
                         void *buf, size_t *got, mb_error **err)
{
    bool ok = false, begun = false;
    *got = 0;
    virStorageVolPtr v = vol_existing(p, name, err);
    if (v == NULL)
        return false;
    virStreamPtr st = virStreamNew(virStoragePoolGetConnect(p), 0);
    if (st == NULL || virStorageVolDownload(v, st, off, len, 0) < 0) {
        mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: starting the download");
        goto done;
    }
    begun = true;
    for (;;) {
        char end[64]; /* past len: only the stream's end is expected */
        int r = *got < len ? virStreamRecv(st, (char *)buf + *got, len - *got)
                           : virStreamRecv(st, end, sizeof end);
        if (r > 0 && *got >= len)
            continue;
        if (r < 0) {
            mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: downloading from the host");
            goto done;
        }
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    ok = stream_finish(st, &begun, "the download", err);
done:
    stream_close(st, begun, -1, NULL);
    virStorageVolFree(v);
    return ok;
}

bool mb_libvirt_vol_link(virStoragePoolPtr p, const char *name, const char *path)
{
    char dir[PATHLEN], dst[PATHLEN * 2];
    struct stat sd, sf;
    if (!mb_libvirt_pool_dir(p, dir, NULL) || stat(dir, &sd) != 0 || stat(path, &sf) != 0
        || sd.st_dev != sf.st_dev || access(dir, W_OK | X_OK) != 0 || !S_ISREG(sf.st_mode))
        return false;
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    /* the pool's directory can be searched by QEMU's user: the file must not
     * be readable through it by anyone but its owner */
    if ((sf.st_mode & 077) != 0 && chmod(path, sf.st_mode & 0700) != 0)
        return false;
    if (link(path, dst) != 0) /* EXDEV: another mount, even of the same filesystem */
        return false;
    /* libvirt had no such volume: if it sees one now, it is this link (and
     * not a file of its own view of another directory of that name) */
    bool missing, ok = false;
    if (virStoragePoolRefresh(p, 0) == 0) {
        virStorageVolPtr v = mb_libvirt_vol_get(p, name, &missing, NULL);
        ok = v != NULL && mb_libvirt_vol_physical(v) == (long long)sf.st_size;
        if (v)
            virStorageVolFree(v);
    }
    if (!ok)
        unlink(dst);
    return ok;
}

bool mb_libvirt_base_name(const char *local, char *name, size_t n, mb_error **err)
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

bool mb_libvirt_base_volume(virStoragePoolPtr p, const struct mb_instance *inst,
                            const char *local, const char *format, char *path, mb_error **err)
{
    char name[PATHLEN], lockp[PATHLEN];
    struct stat sb;
    if (!mb_libvirt_base_name(local, name, sizeof name, err))
        return false;
    if (stat(local, &sb) != 0) {
        mb_error_set_errno(err, errno, "libvirt: base file %s", local);
        return false;
    }
    /* one upload at a time from this moonbase home: the lock in its data
     * directory (inst->dir is <data>/instances/<scope>/<name>), out of the
     * folders of instances */
    snprintf(lockp, sizeof lockp, "%s", inst->dir);
    for (int up = 0; up < 3; up++) {
        char *ds = strrchr(lockp, '/');
        if (ds && ds != lockp)
            *ds = '\0';
    }
    strncat(lockp, "/.libvirt-upload.lock", sizeof lockp - strlen(lockp) - 1);
    int lfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    while (lfd >= 0 && flock(lfd, LOCK_EX) < 0 && errno == EINTR)
        ;
    bool missing, ok = false;
    virStorageVolPtr v = mb_libvirt_vol_get(p, name, &missing, err);
    if (v != NULL && mb_libvirt_vol_physical(v) != (long long)sb.st_size) {
        virStorageVolDelete(v, 0); /* an upload that was cut short */
        virStorageVolFree(v);
        v = NULL;
        missing = true;
    }
    if (v == NULL && missing) {
        if (mb_libvirt_vol_link(p, name, local))
            v = virStorageVolLookupByName(p, name);
        else
            v = mb_libvirt_vol_upload(p, name, format, local, err);
    }
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
