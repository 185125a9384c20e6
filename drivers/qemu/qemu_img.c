/* qemu-img, always through fork/exec with an argv (never a shell). The base
 * image's format is read, not assumed, so a raw base works as well as qcow2. */
#include "drivers/qemu/qemu_img.h"
#include "drivers/qemu/qemu_json.h"
#include "drivers/qemu/qemu_proc.h"
#include "driver/driver.h"
#include "core/process.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void mb_qemu_img_info_clear(struct mb_qemu_img_info *info)
{
    if (info == NULL)
        return;
    mb_snapshots_free(info->snapshots);
    memset(info, 0, sizeof *info);
}

bool mb_qemu_img_info(const char *path, bool force_share, struct mb_qemu_img_info *info,
                      mb_error **err)
{
    memset(info, 0, sizeof *info);
    char *argv[] = {"qemu-img", "info", "--output=json", force_share ? "-U" : "--", (char *)path,
                    NULL};
    char *out = NULL;
    bool ok = false;
    if (!mb_process_capture(argv, &out, err))
        goto cleanup;
    long long size;
    char *fmt = mb_json_string(mb_json_get(out, "format"));
    if (!mb_json_int(mb_json_get(out, "virtual-size"), &size) || size < 0 || fmt == NULL) {
        free(fmt);
        mb_error_set(err, MB_ERR_FAILED, "qemu-img info %s: unexpected output (is it a disk "
                     "image?)", path);
        goto cleanup;
    }
    info->virtual_size = (uint64_t)size;
    snprintf(info->format, sizeof info->format, "%s", fmt);
    free(fmt);
    long long v;
    if (mb_json_int(mb_json_get(out, "actual-size"), &v) && v > 0)
        info->allocated = (uint64_t)v;
    const char *list = mb_json_get(out, "snapshots");
    size_t n = 0;
    for (const char *s = mb_json_first(list); s; s = mb_json_next(s))
        n++;
    if ((info->snapshots = calloc(n + 1, sizeof *info->snapshots)) == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "qemu-img info %s: out of memory", path);
        goto cleanup;
    }
    n = 0;
    for (const char *s = mb_json_first(list); s; s = mb_json_next(s)) {
        struct mb_snapshot *sn = &info->snapshots[n];
        if ((sn->name = mb_json_string(mb_json_get(s, "name"))) == NULL)
            continue;
        if (mb_json_int(mb_json_get(s, "vm-state-size"), &v) && v > 0) {
            sn->memory = true;
            sn->size = (uint64_t)v;
        }
        if (mb_json_int(mb_json_get(s, "date-sec"), &v))
            sn->created = v;
        n++;
    }
    ok = true;
cleanup:
    free(out);
    if (!ok)
        mb_qemu_img_info_clear(info);
    return ok;
}

bool mb_qemu_img_grow(const char *disk, uint64_t size, mb_error **err)
{
    struct mb_qemu_img_info info;
    if (!mb_qemu_img_info(disk, false, &info, err))
        return false;
    uint64_t have = info.virtual_size;
    mb_qemu_img_info_clear(&info);
    if (size < have) {
        mb_error_set(err, MB_ERR_USAGE, "disk %s can only grow: it is %llu bytes, asked for %llu "
                     "(pick a size of at least %lluM)", disk, (unsigned long long)have,
                     (unsigned long long)size, (unsigned long long)(have >> 20));
        return false;
    }
    if (size == have)
        return true;
    char bytes[32];
    snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)size);
    char *argv[] = {"qemu-img", "resize", "-f", "qcow2", (char *)disk, bytes, NULL};
    return mb_process_capture(argv, NULL, err);
}

bool mb_qemu_img_overlay(const char *base, const char *disk, uint64_t size, mb_error **err)
{
    char real[PATH_MAX];
    struct mb_qemu_img_info info;
    if (realpath(base, real) == NULL) {
        mb_error_set_errno(err, errno, "qemu: base image %s", base);
        return false;
    }
    if (access(disk, F_OK) == 0) {
        mb_error_set(err, MB_ERR_EXISTS, "qemu: disk %s already exists (try: moonbase delete "
                     "--purge, or another name)", disk);
        return false;
    }
    if (!mb_qemu_img_info(real, true, &info, err))
        return false;
    /* the backing file is recorded by absolute path: the overlay can be
     * opened from any working directory; a larger size is given at once (one
     * qemu-img run, not create + info + resize: it is on every launch's path) */
    char bytes[32] = "";
    if (size > info.virtual_size)
        snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)size);
    char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-F", info.format, "-b", real,
                    (char *)disk, bytes[0] ? bytes : NULL, NULL};
    bool ok = mb_process_capture(argv, NULL, err);
    mb_qemu_img_info_clear(&info);
    if (!ok)
        unlink(disk);
    return ok;
}

bool mb_qemu_img_snapshot(const char *disk, char op, const char *name, mb_error **err)
{
    char flag[3] = {'-', op, '\0'};
    char *argv[] = {"qemu-img", "snapshot", flag, (char *)name, (char *)disk, NULL};
    return mb_process_capture(argv, NULL, err);
}

static uint64_t be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v = v << 8 | p[k];
    return v;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#define QCOW2_EXT_BACKING_FORMAT 0xe2792acaU

bool mb_qemu_qcow2_backing(const char *path, char **backing, char **format, mb_error **err)
{
    *backing = *format = NULL;
    unsigned char h[4096];
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        mb_error_set_errno(err, errno, "qemu: cannot read %s", path);
        return false;
    }
    size_t n = fread(h, 1, sizeof h, f);
    bool ok = false;
    if (n < 72 || memcmp(h, "QFI\xfb", 4) != 0) {
        mb_error_set(err, MB_ERR_FAILED, "qemu: %s is not a qcow2 image", path);
        goto done;
    }
    uint32_t version = be32(h + 4);
    uint64_t boff = be64(h + 8);
    uint32_t blen = be32(h + 16);
    uint32_t hlen = version >= 3 && n >= 104 ? be32(h + 100) : 72;
    if (boff == 0 || blen == 0) {
        mb_error_set(err, MB_ERR_FAILED, "qemu: %s is not an overlay (no backing file)", path);
        goto done;
    }
    if (blen > 1023 || boff + blen > n || hlen > n) {
        mb_error_set(err, MB_ERR_FAILED, "qemu: the header of %s is not one moonbase reads",
                     path);
        goto done;
    }
    /* header extensions: type, length, data padded to 8 bytes; type 0 ends */
    for (size_t at = hlen; at + 8 <= n;) {
        uint32_t type = be32(h + at), len = be32(h + at + 4);
        if (type == 0 || at + 8 + len > n)
            break;
        if (type == QCOW2_EXT_BACKING_FORMAT && len > 0 && len < 64)
            *format = strndup((const char *)h + at + 8, len);
        at += 8 + (((size_t)len + 7) & ~(size_t)7);
    }
    char name[1024];
    memcpy(name, h + boff, blen);
    name[blen] = '\0';
    if (name[0] == '/') {
        *backing = strdup(name);
    } else { /* relative to the image's own folder, as qemu-img resolves it */
        const char *slash = strrchr(path, '/');
        int dl = slash ? (int)(slash - path) : 1;
        size_t need = (size_t)dl + blen + 2;
        if ((*backing = malloc(need)) != NULL)
            snprintf(*backing, need, "%.*s/%s", dl, slash ? path : ".", name);
    }
    if (*format == NULL)
        *format = strdup("qcow2");
    ok = *backing && *format;
    if (!ok)
        mb_error_set(err, MB_ERR_FAILED, "qemu: out of memory");
done:
    fclose(f);
    if (!ok) {
        free(*backing);
        free(*format);
        *backing = *format = NULL;
    }
    return ok;
}

/* Whether a byte copy of the qcow2 at path is the overlay a clone needs: no
 * internal snapshots (they are not the clone's), no encryption, no dirty,
 * corrupt or external-data flags, and an absolute backing file (a relative
 * one would name another file from the clone's folder). Else qemu-img
 * writes a new overlay. */
static bool copyable(const char *path)
{
    unsigned char h[4096];
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    size_t n = fread(h, 1, sizeof h, f);
    fclose(f);
    if (n < 104 || memcmp(h, "QFI\xfb", 4) != 0)
        return false;
    uint32_t version = be32(h + 4);
    uint64_t boff = be64(h + 8);
    uint32_t blen = be32(h + 16);
    return version == 3 && boff > 0 && blen > 0 && boff + blen <= n && h[boff] == '/' &&
           be32(h + 32) == 0 /* crypt_method */ && be32(h + 60) == 0 /* nb_snapshots */ &&
           be64(h + 72) == 0 /* incompatible_features */;
}

/* src's bytes into a new file dst, extent by extent (holes stay holes), in
 * the kernel (copy_file_range). */
static bool copy_sparse(const char *src, const char *dst, mb_error **err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        mb_error_set_errno(err, errno, "qemu: cannot read %s", src);
        return false;
    }
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        mb_error_set_errno(err, errno, "qemu: cannot create %s", dst);
        close(in);
        return false;
    }
    struct stat st;
    bool ok = fstat(in, &st) == 0;
    for (off_t at = 0; ok && at < st.st_size;) {
        off_t data = lseek(in, at, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            break; /* only a hole is left */
        off_t hole = data < 0 ? -1 : lseek(in, data, SEEK_HOLE);
        if (data < 0 || hole < 0) {
            ok = false;
            break;
        }
        for (off_t from = data, to = data; ok && from < hole;) {
            ssize_t k = copy_file_range(in, &from, out, &to, (size_t)(hole - from), 0);
            if (k < 0 && errno == EINTR)
                continue;
            ok = k > 0;
        }
        at = hole;
    }
    ok = ok && ftruncate(out, st.st_size) == 0;
    int e = errno;
    close(in);
    if (close(out) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        mb_error_set_errno(err, e, "qemu: cannot copy %s to %s", src, dst);
        unlink(dst);
    }
    return ok;
}

bool mb_qemu_img_copy_overlay(const char *src, const char *dst, mb_error **err)
{
    bool ok = false;
    char *backing = NULL, *bfmt = NULL;
    if (access(dst, F_OK) == 0) {
        mb_error_set(err, MB_ERR_EXISTS, "qemu: disk %s already exists", dst);
        return false;
    }
    if (!mb_qemu_qcow2_backing(src, &backing, &bfmt, err))
        return false;
    /* -B: the target is an overlay on the same base and only clusters the
     * source itself holds are written (its snapshots are not copied) */
    char *argv[] = {"qemu-img", "convert", "-q", "-f", "qcow2", "-O", "qcow2",
                    "-F", bfmt ? bfmt : "qcow2", "-B", backing, (char *)src, (char *)dst, NULL};
    if (src[0] != '/' || dst[0] != '/') {
        mb_error_set(err, MB_ERR_USAGE, "qemu: copying %s to %s needs absolute paths", src, dst);
        goto cleanup;
    }
    /* the usual overlay, as moonbase makes them: its bytes, in the kernel
     * (half the time of qemu-img's reading and writing every cluster) */
    if (copyable(src)) {
        /* a file system without SEEK_DATA or copy_file_range: qemu-img below */
        mb_error *why = NULL;
        ok = copy_sparse(src, dst, &why);
        mb_error_free(why);
        if (ok)
            goto cleanup;
    }
    ok = mb_process_capture(argv, NULL, err);
    if (!ok)
        unlink(dst);
cleanup:
    free(backing);
    free(bfmt);
    return ok;
}
