/* Lending a local instance's files to the storage pool while a libvirtd
 * whose QEMU runs as another user holds it (see libvirt_lend.h). */
#include "drivers/libvirt/libvirt_lend.h"
#include "drivers/libvirt/libvirt_pool.h"
#include "drivers/libvirt/libvirt_xml.h" /* mb_libvirt_domain_name */
#include "core/fs.h"
#include "drivers/qemu/qemu_argv.h" /* mb_qemu_disk_path */
#include "drivers/qemu/qemu_img.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PATHLEN MB_LIBVIRT_PATHLEN

bool mb_libvirt_must_lend(virConnectPtr conn)
{
    char *caps = virConnectGetCapabilities(conn);
    const char *dac = caps ? strstr(caps, "<model>dac</model>") : NULL;
    const char *end = dac ? strstr(dac, "</secmodel>") : NULL;
    const char *label = dac ? strstr(dac, "<baselabel") : NULL;
    const char *plus = label && label < end ? strchr(label, '>') : NULL;
    long uid = -1;
    if (plus && plus[1] == '+')
        uid = strtol(plus + 2, NULL, 10);
    free(caps);
    /* root's QEMU reaches everything; our own uid's reaches our files */
    return uid > 0 && uid != (long)geteuid();
}

bool mb_libvirt_is_lent(const struct mb_instance *inst)
{
    char p[PATHLEN];
    mb_libvirt_file(p, inst, "libvirt.lent");
    return access(p, F_OK) == 0;
}

bool mb_libvirt_lent_copy(const struct mb_instance *inst)
{
    char p[PATHLEN];
    mb_libvirt_file(p, inst, "libvirt.lent");
    char *s = mb_fs_read(p, NULL, NULL);
    bool copy = s != NULL && strncmp(s, "copy", 4) == 0;
    free(s);
    return copy;
}

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int k = 0; k < n; k++)
        v = v << 8 | p[k];
    return v;
}

#define QCOW2_MAX_SNAPSHOTS 65536
#define QCOW2_TABLE_MAX (64u << 20)

struct mb_snapshot *mb_libvirt_qcow2_snapshots(mb_libvirt_read_fn read, void *ctx,
                                               mb_error **err)
{
    unsigned char h[72];
    size_t got;
    if (!read(ctx, 0, sizeof h, h, &got, err))
        return NULL;
    if (got < sizeof h || be(h, 4) != 0x514649fbu) { /* "QFI\xfb" */
        mb_error_set(err, MB_ERR_FAILED, "libvirt: the lent disk is not a qcow2 image");
        return NULL;
    }
    uint64_t n = be(h + 60, 4), off = be(h + 64, 8);
    /* each entry: 40 bytes, extra data, id, name, padded to 8 */
    size_t cap = n ? (size_t)(n * 1024 < QCOW2_TABLE_MAX ? n * 1024 : QCOW2_TABLE_MAX) : 0;
    unsigned char *t = cap ? malloc(cap) : NULL;
    struct mb_snapshot *v = n <= QCOW2_MAX_SNAPSHOTS ? calloc(n + 1, sizeof *v) : NULL;
    if (v == NULL || (cap && t == NULL)) {
        mb_error_set(err, MB_ERR_FAILED, "libvirt: %llu snapshots in the lent disk: too many",
                     (unsigned long long)n);
        goto fail;
    }
    if (cap && !read(ctx, off, cap, t, &got, err))
        goto fail;
    size_t at = 0;
    for (uint64_t k = 0; k < n; k++) {
        if (at + 40 > got)
            goto bad;
        const unsigned char *e = t + at;
        size_t id = be(e + 12, 2), name = be(e + 14, 2), extra = be(e + 36, 4);
        uint64_t state = be(e + 32, 4);
        if (extra > 1024 || at + 40 + extra + id + name > got)
            goto bad;
        if (extra >= 8)
            state = be(e + 40, 8); /* vm_state_size_large */
        if ((v[k].name = strndup((const char *)e + 40 + extra + id, name)) == NULL)
            goto bad;
        v[k].memory = state > 0;
        v[k].size = state;
        v[k].created = (int64_t)be(e + 16, 4);
        at += (40 + extra + id + name + 7) & ~(size_t)7;
    }
    free(t);
    return v;
bad:
    mb_error_set(err, MB_ERR_FAILED, "libvirt: the snapshot table of the lent disk is damaged");
fail:
    free(t);
    mb_snapshots_free(v);
    return NULL;
}

struct read_vol {
    virStoragePoolPtr pool;
    const char *name;
};

static bool read_vol(void *ctx, uint64_t off, size_t len, void *buf, size_t *got,
                     mb_error **err)
{
    struct read_vol *r = ctx;
    return mb_libvirt_vol_read(r->pool, r->name, off, len, buf, got, err);
}

/* <domain><suffix> */
static void lent_name(char *buf, size_t n, const struct mb_instance *inst, const char *suffix)
{
    char d[MB_LIBVIRT_NAMELEN];
    mb_libvirt_domain_name(d, sizeof d, inst);
    snprintf(buf, n, "%s%s", d, suffix);
}

/* The local file as volume name: a hard link, else an upload (raw bytes).
 * *copied says which; its path into path. */
static bool lend_file(virStoragePoolPtr pool, const char *name, const char *local, bool *copied,
                      char *path, mb_error **err)
{
    mb_libvirt_vol_delete(pool, name); /* what a crash left */
    *copied = false;
    if (!mb_libvirt_vol_link(pool, name, local)) {
        virStorageVolPtr v = mb_libvirt_vol_upload(pool, name, "raw", local, err);
        if (v == NULL)
            return false;
        virStorageVolFree(v);
        *copied = true;
    }
    return mb_libvirt_vol_path(pool, name, path, err);
}

bool mb_libvirt_lend(virConnectPtr conn, const struct mb_instance *inst,
                     struct mb_libvirt_lent *l, mb_error **err)
{
    char disk[PATHLEN], dname[MB_LIBVIRT_NAMELEN + 16], sname[MB_LIBVIRT_NAMELEN + 16];
    char trace[PATHLEN], seed[PATHLEN];
    bool copied = false, seed_copied = false, ok = false;
    memset(l, 0, sizeof *l);
    if (!mb_libvirt_take_back(conn, inst, false, err))
        return false;
    if (!mb_qemu_disk_path(disk, sizeof disk, inst)) {
        mb_error_set(err, MB_ERR_USAGE, "start: instance \"%s\" has no disk path", inst->name);
        return false;
    }
    mb_libvirt_file(seed, inst, MB_QEMU_SEED);
    bool has_seed = access(seed, F_OK) == 0;
    virStoragePoolPtr pool = mb_libvirt_pool(conn, true, err);
    if (pool == NULL)
        return false;
    virStoragePoolRefresh(pool, 0); /* files a crash left there, unknown to libvirt */
    lent_name(dname, sizeof dname, inst, ".qcow2");
    lent_name(sname, sizeof sname, inst, "-cidata.iso");
    if (inst->image.path) {
        struct mb_qemu_img_info info;
        if (!mb_qemu_img_info(inst->image.path, true, &info, err))
            goto done;
        snprintf(l->backing_format, sizeof l->backing_format, "%s", info.format);
        mb_qemu_img_info_clear(&info);
        if (!mb_libvirt_base_volume(pool, inst, inst->image.path, l->backing_format, l->backing,
                                    err))
            goto done;
    }
    const struct mb_image *im = &inst->image;
    if ((im->kernel && !mb_libvirt_base_volume(pool, inst, im->kernel, "raw", l->kernel, err))
        || (im->initrd && !mb_libvirt_base_volume(pool, inst, im->initrd, "raw", l->initrd,
                                                  err)))
        goto done;
    /* libvirt.lent first: a crash from here on leaves a lending to take back */
    mb_libvirt_file(trace, inst, "libvirt.lent");
    if (!mb_fs_write_atomic(trace, "copy\n", 5, 0600, err))
        goto done;
    if (!lend_file(pool, dname, disk, &copied, l->disk, err))
        goto fail;
    if (!copied && !mb_fs_write_atomic(trace, "link\n", 5, 0600, err))
        goto fail;
    if (has_seed && !lend_file(pool, sname, seed, &seed_copied, l->seed, err))
        goto fail;
    ok = true;
    goto done;
fail:
    mb_libvirt_vol_delete(pool, dname);
    mb_libvirt_vol_delete(pool, sname);
    unlink(trace);
done:
    virStoragePoolFree(pool);
    return ok;
}

struct mb_snapshot *mb_libvirt_lent_snapshots(virConnectPtr conn,
                                              const struct mb_instance *inst, mb_error **err)
{
    char name[MB_LIBVIRT_NAMELEN + 16];
    virStoragePoolPtr pool = mb_libvirt_pool(conn, false, err);
    if (pool == NULL)
        return NULL;
    lent_name(name, sizeof name, inst, ".qcow2");
    struct read_vol r = {pool, name};
    struct mb_snapshot *v = mb_libvirt_qcow2_snapshots(read_vol, &r, err);
    virStoragePoolFree(pool);
    return v;
}

static bool take_back(virConnectPtr conn, const struct mb_instance *inst, bool discard,
                      mb_error **err);

/* One taker at a time: a stop and the instance's agent (or two commands)
 * may both find the domain gone and the trace there; the second waits, then
 * finds the trace gone and the files home. */
bool mb_libvirt_take_back(virConnectPtr conn, const struct mb_instance *inst, bool discard,
                          mb_error **err)
{
    char trace[PATHLEN], lock[PATHLEN];
    mb_libvirt_file(trace, inst, "libvirt.lent");
    if (access(trace, F_OK) != 0)
        return true; /* nothing lent: no lock to take */
    mb_libvirt_file(lock, inst, "libvirt.lent.lock");
    int fd = mb_lock_acquire(lock, 0, -1, err);
    if (fd < 0)
        return false;
    bool ok = take_back(conn, inst, discard, err);
    mb_lock_release(fd);
    return ok;
}

static bool take_back(virConnectPtr conn, const struct mb_instance *inst, bool discard,
                      mb_error **err)
{
    char trace[PATHLEN], disk[PATHLEN], seed[PATHLEN], name[MB_LIBVIRT_NAMELEN + 16];
    mb_libvirt_file(trace, inst, "libvirt.lent");
    char *s = mb_fs_read(trace, NULL, NULL);
    if (s == NULL)
        return true;
    bool copied = strncmp(s, "link", 4) != 0;
    free(s);
    mb_error *perr = NULL;
    virStoragePoolPtr pool = mb_libvirt_pool(conn, false, &perr);
    if (pool == NULL) {
        if (perr->code != MB_ERR_NOT_FOUND || (copied && !discard)) {
            mb_error_set(err, perr->code, "%s (the disk of \"%s\" is lent to it)",
                         perr->message, inst->name);
            mb_error_free(perr);
            return false;
        }
        mb_error_free(perr); /* no pool, nothing of ours in it */
        unlink(trace);
        return true;
    }
    bool ok = true;
    lent_name(name, sizeof name, inst, ".qcow2");
    if (copied && !discard) {
        ok = mb_qemu_disk_path(disk, sizeof disk, inst)
             && mb_libvirt_vol_download(pool, name, disk, 0600, err);
    }
    if (ok) {
        mb_libvirt_vol_delete(pool, name);
        lent_name(name, sizeof name, inst, "-cidata.iso");
        mb_libvirt_vol_delete(pool, name);
        /* libvirt gives a read-only file's owner back to nobody: the seed
         * lent by a hard link is still QEMU's user's (and only ours may
         * read it, the instance's SSH host key is in it) */
        mb_libvirt_file(seed, inst, MB_QEMU_SEED);
        if (!copied && chown(seed, geteuid(), getegid()) != 0)
            (void)0; /* not ours to change: nobody else can reach it anyway */
        unlink(trace);
    }
    virStoragePoolFree(pool);
    return ok;
}
