/* ISO9660 writer for cloud-init NoCloud seeds: one flat root directory, Rock
 * Ridge names (what Linux shows), a Joliet tree (what other readers show) and
 * 8.3 names underneath for readers that know neither. References: ECMA-119,
 * SUSP (IEEE P1281), RRIP 1.09 (IEEE P1282), Joliet. */
#include "iso/iso.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SECTOR 2048u
#define PAD_SECTORS 150u
#define NAME_MAX_LEN 64 /* the Joliet limit */
#define VOLID_MAX_LEN 16 /* the Joliet volume id holds 16 UCS-2 characters */

/* Everything before the root directory has a fixed place, in sectors. The
 * continuation sector holding the Rock Ridge ER entry (too big for ".") comes
 * after the root, since streaming readers such as libarchive refuse to seek
 * back to it. */
enum {
    LBA_PVD = 16,
    LBA_JOLIET_SVD = 17,
    LBA_TERMINATOR = 18,
    LBA_PATH_L = 19,
    LBA_PATH_M = 20,
    LBA_JOLIET_PATH_L = 21,
    LBA_JOLIET_PATH_M = 22,
    LBA_ROOT = 23, /* then the continuation sector, the Joliet root, the file data */
};

#define PATH_TABLE_SIZE 10u

static const char rrip_id[] = "RRIP_1991A";
static const char rrip_des[] =
    "THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS";
static const char rrip_src[] =
    "PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER "
    "IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.";
#define ER_LEN (8 + sizeof rrip_id - 1 + sizeof rrip_des - 1 + sizeof rrip_src - 1)

/* RR entry flags: which Rock Ridge entries the record carries. */
#define RR_PX 0x01
#define RR_NM 0x08

struct entry {
    const char *name;
    const uint8_t *data;
    uint32_t size;
    uint32_t lba;
    char base[9]; /* the 8.3 name, in d-characters */
    char ext[4];
};

struct image {
    struct entry *entries;
    struct entry **by_name;    /* Joliet order */
    struct entry **by_iso;     /* ISO9660 order */
    size_t n;
    uint32_t root_sectors;
    uint32_t ce_lba;
    uint32_t joliet_lba;
    uint32_t joliet_sectors;
    uint32_t data_lba;         /* first sector after the directories */
    uint32_t total_sectors;
    struct tm tm;
    uint8_t date[7];           /* directory record form of tm */
};

static void put16_both(uint8_t *p, uint16_t v)
{
    p[0] = p[3] = (uint8_t)v;
    p[1] = p[2] = (uint8_t)(v >> 8);
}

static void put32_le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put32_be(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[3 - i] = (uint8_t)(v >> (8 * i));
}

static void put32_both(uint8_t *p, uint32_t v)
{
    put32_le(p, v);
    put32_be(p + 4, v);
}

static uint32_t sectors_for(uint64_t bytes)
{
    return (uint32_t)((bytes + SECTOR - 1) / SECTOR);
}

/* A text field of a volume descriptor, padded with spaces; Joliet's are UCS-2
 * big-endian (our text is ASCII), an odd final byte stays zero. */
static void put_text(uint8_t *p, size_t field, const char *s, bool ucs2)
{
    size_t len = strlen(s);
    if (!ucs2) {
        memset(p, ' ', field);
        memcpy(p, s, len < field ? len : field);
        return;
    }
    for (size_t i = 0; 2 * i + 1 < field; i++) {
        p[2 * i] = 0;
        p[2 * i + 1] = i < len ? (uint8_t)s[i] : ' ';
    }
}

static bool valid_chars(const char *s, size_t max)
{
    size_t len = strlen(s);
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                  || c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Up to max characters of src, as d-characters (A-Z 0-9 _). */
static void to_dchars(char *dst, const char *src, size_t len, size_t max)
{
    size_t i;
    for (i = 0; i < len && i < max; i++) {
        char c = src[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            c = '_';
        dst[i] = c;
    }
    dst[i] = '\0';
}

static bool iso_name_taken(const struct image *im, size_t upto, const char *base,
                           const char *ext)
{
    for (size_t i = 0; i < upto; i++) {
        const struct entry *e = im->by_name[i];
        if (strcmp(e->base, base) == 0 && strcmp(e->ext, ext) == 0)
            return true;
    }
    return false;
}

/* Gives the i-th entry (in name order) an 8.3 name no earlier entry has:
 * "network-config" -> "NETWORK_.", then "NETWOR1." and so on on collision. */
static void iso_name(struct image *im, size_t i)
{
    struct entry *e = im->by_name[i];
    const char *dot = strrchr(e->name, '.');
    size_t base_len = dot ? (size_t)(dot - e->name) : strlen(e->name);
    char orig[9];

    to_dchars(orig, e->name, base_len, 8);
    to_dchars(e->ext, dot ? dot + 1 : "", dot ? strlen(dot + 1) : 0, 3);
    strcpy(e->base, orig);
    for (unsigned k = 1; iso_name_taken(im, i, e->base, e->ext); k++) {
        char num[12];
        size_t digits = (size_t)snprintf(num, sizeof num, "%u", k);
        size_t keep = strlen(orig);
        if (keep > 8 - digits)
            keep = 8 - digits;
        memcpy(e->base, orig, keep);
        memcpy(e->base + keep, num, digits + 1);
    }
}

static int cmp_name(const void *a, const void *b)
{
    const struct entry *x = *(struct entry *const *)a, *y = *(struct entry *const *)b;
    return strcmp(x->name, y->name);
}

/* ECMA-119 9.3: by name, then extension, each padded with spaces; all our
 * characters sort after the space, so strcmp agrees. */
static int cmp_iso(const void *a, const void *b)
{
    const struct entry *x = *(struct entry *const *)a, *y = *(struct entry *const *)b;
    int c = strcmp(x->base, y->base);
    return c != 0 ? c : strcmp(x->ext, y->ext);
}

static bool image_time(struct image *im, mb_error **err)
{
    time_t t = time(NULL);
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    bool from_env = sde != NULL && *sde != '\0';

    if (from_env) {
        char *end;
        errno = 0;
        long long v = strtoll(sde, &end, 10);
        if (errno != 0 || *end != '\0' || v < 0)
            v = -1;
        t = (time_t)v;
    }
    /* The directory record holds the year as one byte past 1900. */
    if (t < 0 || gmtime_r(&t, &im->tm) == NULL || im->tm.tm_year > 255) {
        if (from_env)
            mb_error_set(err, MB_ERR_USAGE,
                         "iso: SOURCE_DATE_EPOCH=\"%s\" is not a time between 1970 and 2155 "
                         "(use seconds since 1970, or unset it)", sde);
        else
            mb_error_set(err, MB_ERR_FAILED, "iso: the clock is outside 1970-2155");
        return false;
    }
    im->date[0] = (uint8_t)im->tm.tm_year;
    im->date[1] = (uint8_t)(im->tm.tm_mon + 1);
    im->date[2] = (uint8_t)im->tm.tm_mday;
    im->date[3] = (uint8_t)im->tm.tm_hour;
    im->date[4] = (uint8_t)im->tm.tm_min;
    im->date[5] = (uint8_t)im->tm.tm_sec;
    im->date[6] = 0; /* UTC */
    return true;
}

/* Builds one directory record in rec (at least 256 bytes); returns its length. */
static size_t dir_record(uint8_t *rec, uint32_t lba, uint32_t size, bool is_dir,
                         const uint8_t *id, size_t id_len, const uint8_t *su, size_t su_len,
                         const uint8_t date[7])
{
    size_t id_pad = id_len % 2 == 0; /* the system use area starts at an even offset */
    size_t len = 33 + id_len + id_pad + su_len;
    len += len % 2;
    memset(rec, 0, len);
    rec[0] = (uint8_t)len;
    put32_both(rec + 2, lba);
    put32_both(rec + 10, size);
    memcpy(rec + 18, date, 7);
    rec[25] = is_dir ? 0x02 : 0x00;
    put16_both(rec + 28, 1); /* volume sequence number */
    rec[32] = (uint8_t)id_len;
    memcpy(rec + 33, id, id_len);
    if (su_len > 0)
        memcpy(rec + 33 + id_len + id_pad, su, su_len);
    return len;
}

/* SUSP / Rock Ridge entries, each appended at su + off; they return the new off. */
static size_t su_header(uint8_t *su, size_t off, const char sig[2], size_t len)
{
    su[off] = (uint8_t)sig[0];
    su[off + 1] = (uint8_t)sig[1];
    su[off + 2] = (uint8_t)len;
    su[off + 3] = 1; /* entry version */
    return off + 4;
}

static size_t su_rr(uint8_t *su, size_t off, uint8_t flags)
{
    off = su_header(su, off, "RR", 5);
    su[off] = flags;
    return off + 1;
}

static size_t su_px(uint8_t *su, size_t off, uint32_t mode, uint32_t nlink)
{
    off = su_header(su, off, "PX", 36);
    put32_both(su + off, mode);
    put32_both(su + off + 8, nlink);
    put32_both(su + off + 16, 0); /* uid */
    put32_both(su + off + 24, 0); /* gid */
    return off + 32;
}

static size_t su_nm(uint8_t *su, size_t off, const char *name)
{
    size_t len = strlen(name);
    off = su_header(su, off, "NM", 5 + len);
    su[off] = 0; /* flags */
    memcpy(su + off + 1, name, len);
    return off + 1 + len;
}

/* SP says "SUSP is used here"; CE points at the ER entry, which names Rock
 * Ridge and makes Linux prefer it over Joliet. Both belong in the root's ".". */
static size_t su_root_dot(const struct image *im, uint8_t *su, size_t off)
{
    static const uint8_t sp[7] = {'S', 'P', 7, 1, 0xbe, 0xef, 0};
    memcpy(su + off, sp, sizeof sp);
    off = su_rr(su, off + sizeof sp, RR_PX);
    off = su_px(su, off, 040555, 2);
    off = su_header(su, off, "CE", 28);
    put32_both(su + off, im->ce_lba);
    put32_both(su + off + 8, 0);
    put32_both(su + off + 16, (uint32_t)ER_LEN);
    return off + 24;
}

static void put_er(uint8_t *p)
{
    size_t id = sizeof rrip_id - 1, des = sizeof rrip_des - 1, src = sizeof rrip_src - 1;
    size_t off = su_header(p, 0, "ER", ER_LEN);
    p[off] = (uint8_t)id;
    p[off + 1] = (uint8_t)des;
    p[off + 2] = (uint8_t)src;
    p[off + 3] = 1; /* extension version */
    off += 4;
    memcpy(p + off, rrip_id, id);
    memcpy(p + off + id, rrip_des, des);
    memcpy(p + off + id + des, rrip_src, src);
}

/* Lays records out in sectors (none may cross a sector boundary), or only
 * measures them when out is NULL; returns the directory's size in sectors. */
static uint32_t write_dir(const struct image *im, bool joliet, uint8_t *out)
{
    uint8_t rec[256], su[256], id[2 * NAME_MAX_LEN + 16];
    uint32_t self_lba = joliet ? im->joliet_lba : LBA_ROOT;
    uint32_t self_size = (joliet ? im->joliet_sectors : im->root_sectors) * SECTOR;
    size_t off = 0;

    for (size_t i = 0; i < im->n + 2; i++) {
        size_t len, su_len = 0, id_len;
        if (i < 2) {
            /* "." and "..": the root is its own parent */
            id[0] = (uint8_t)i;
            if (!joliet && i == 0)
                su_len = su_root_dot(im, su, 0);
            else if (!joliet)
                su_len = su_px(su, su_rr(su, 0, RR_PX), 040555, 2);
            len = dir_record(rec, self_lba, self_size, true, id, 1, su, su_len, im->date);
        } else if (joliet) {
            const struct entry *e = im->by_name[i - 2];
            id_len = strlen(e->name);
            for (size_t k = 0; k < id_len; k++) {
                id[2 * k] = 0;
                id[2 * k + 1] = (uint8_t)e->name[k];
            }
            len = dir_record(rec, e->lba, e->size, false, id, 2 * id_len, NULL, 0, im->date);
        } else {
            const struct entry *e = im->by_iso[i - 2];
            id_len = (size_t)snprintf((char *)id, sizeof id, "%s.%s;1", e->base, e->ext);
            su_len = su_px(su, su_rr(su, 0, RR_PX | RR_NM), 0100444, 1);
            su_len = su_nm(su, su_len, e->name);
            len = dir_record(rec, e->lba, e->size, false, id, id_len, su, su_len, im->date);
        }
        if (off % SECTOR + len > SECTOR)
            off += SECTOR - off % SECTOR;
        if (out != NULL)
            memcpy(out + off, rec, len);
        off += len;
    }
    return sectors_for(off);
}

static void path_table(uint8_t *p, uint32_t root_lba, bool big_endian)
{
    p[0] = 1; /* identifier length: the root's is one zero byte */
    if (big_endian) {
        put32_be(p + 2, root_lba);
        p[7] = 1; /* parent directory number */
    } else {
        put32_le(p + 2, root_lba);
        p[6] = 1;
    }
}

static void volume_descriptor(const struct image *im, uint8_t *p, const char *volume_id,
                              bool joliet)
{
    char date[32];
    uint8_t root[256];
    uint32_t root_lba = joliet ? im->joliet_lba : LBA_ROOT;
    uint32_t root_sectors = joliet ? im->joliet_sectors : im->root_sectors;
    uint8_t root_id = 0;

    p[0] = joliet ? 2 : 1;
    memcpy(p + 1, "CD001", 5);
    p[6] = 1;
    put_text(p + 8, 32, "LINUX", joliet);       /* system identifier */
    put_text(p + 40, 32, volume_id, joliet);
    put32_both(p + 80, im->total_sectors);
    if (joliet)
        memcpy(p + 88, "%/E", 3);               /* UCS-2 level 3 */
    put16_both(p + 120, 1);                     /* volume set size */
    put16_both(p + 124, 1);                     /* volume sequence number */
    put16_both(p + 128, SECTOR);
    put32_both(p + 132, PATH_TABLE_SIZE);
    put32_le(p + 140, joliet ? LBA_JOLIET_PATH_L : LBA_PATH_L);
    put32_be(p + 148, joliet ? LBA_JOLIET_PATH_M : LBA_PATH_M);
    dir_record(root, root_lba, root_sectors * SECTOR, true, &root_id, 1, NULL, 0, im->date);
    memcpy(p + 156, root, 34);
    put_text(p + 190, 128, "", joliet);         /* volume set */
    put_text(p + 318, 128, "", joliet);         /* publisher */
    put_text(p + 446, 128, "", joliet);         /* data preparer */
    put_text(p + 574, 128, "MOONBASE", joliet); /* application */
    put_text(p + 702, 37, "", joliet);          /* copyright file */
    put_text(p + 739, 37, "", joliet);          /* abstract file */
    put_text(p + 776, 37, "", joliet);          /* bibliographic file */
    strftime(date, sizeof date, "%Y%m%d%H%M%S00", &im->tm);
    memcpy(p + 813, date, 16);                  /* created; offset from UTC stays 0 */
    memcpy(p + 830, date, 16);                  /* modified */
    memset(p + 847, '0', 16);                   /* expires: never */
    memset(p + 864, '0', 16);                   /* effective: at once */
    p[881] = 1;                                 /* file structure version */
}

/* Checks the arguments and decides where everything goes. */
static bool plan(struct image *im, const char *path, const char *volume_id,
                 const struct mb_iso_file *files, size_t nfiles, mb_error **err)
{
    if (path == NULL || *path == '\0' || (files == NULL && nfiles > 0)) {
        mb_error_set(err, MB_ERR_USAGE, "iso: missing path or files");
        return false;
    }
    if (volume_id == NULL || !valid_chars(volume_id, VOLID_MAX_LEN)) {
        mb_error_set(err, MB_ERR_USAGE,
                     "iso: volume id \"%s\" is invalid (use 1-16 characters of A-Z a-z 0-9 . _ -)",
                     volume_id ? volume_id : "(null)");
        return false;
    }
    im->n = nfiles;
    im->entries = calloc(nfiles + 1, sizeof *im->entries);
    im->by_name = calloc(nfiles + 1, sizeof *im->by_name);
    im->by_iso = calloc(nfiles + 1, sizeof *im->by_iso);
    if (im->entries == NULL || im->by_name == NULL || im->by_iso == NULL) {
        mb_error_set_errno(err, ENOMEM, "iso: cannot plan \"%s\"", path);
        return false;
    }
    for (size_t i = 0; i < nfiles; i++) {
        const struct mb_iso_file *f = &files[i];
        const char *name = f->name ? f->name : "(null)";
        if (f->name == NULL || !valid_chars(f->name, NAME_MAX_LEN) || strcmp(name, ".") == 0
            || strcmp(name, "..") == 0) {
            mb_error_set(err, MB_ERR_USAGE,
                         "iso: file name \"%s\" is invalid (use 1-64 characters of "
                         "A-Z a-z 0-9 . _ -)", name);
            return false;
        }
        if (f->size > UINT32_MAX || (f->data == NULL && f->size > 0)) {
            mb_error_set(err, MB_ERR_USAGE, "iso: file \"%s\" is too big or has no data "
                         "(the limit is 4 GiB - 1)", name);
            return false;
        }
        im->entries[i] = (struct entry){.name = f->name, .data = f->data,
                                        .size = (uint32_t)f->size};
        im->by_name[i] = &im->entries[i];
    }
    if (nfiles > 0)
        qsort(im->by_name, nfiles, sizeof *im->by_name, cmp_name);
    for (size_t i = 0; i < nfiles; i++) {
        if (i > 0 && strcmp(im->by_name[i - 1]->name, im->by_name[i]->name) == 0) {
            mb_error_set(err, MB_ERR_USAGE, "iso: file name \"%s\" is given twice",
                         im->by_name[i]->name);
            return false;
        }
        iso_name(im, i);
        im->by_iso[i] = im->by_name[i];
    }
    if (nfiles > 0)
        qsort(im->by_iso, nfiles, sizeof *im->by_iso, cmp_iso);

    im->root_sectors = write_dir(im, false, NULL);
    im->ce_lba = LBA_ROOT + im->root_sectors;
    im->joliet_lba = im->ce_lba + 1;
    im->joliet_sectors = write_dir(im, true, NULL);
    im->data_lba = im->joliet_lba + im->joliet_sectors;
    uint64_t next = im->data_lba;
    for (size_t i = 0; i < nfiles; i++) {
        struct entry *e = im->by_iso[i];
        e->lba = e->size > 0 ? (uint32_t)next : 0; /* empty files own no sector */
        next += sectors_for(e->size);
    }
    if (next > UINT32_MAX) {
        mb_error_set(err, MB_ERR_USAGE, "iso: the files of \"%s\" are too big together", path);
        return false;
    }
    /* Trailing zero sectors, as genisoimage writes: busybox's volume_id (the
     * `findfs LABEL=cidata` of small guests) ignores devices under 68 KiB. */
    im->total_sectors = (uint32_t)next + PAD_SECTORS;
    return true;
}

static bool write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Makes the rename durable; the image is already complete, so failure is ignored. */
static void sync_parent(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

bool mb_iso_write(const char *path, const char *volume_id, const struct mb_iso_file *files,
                  size_t nfiles, mb_error **err)
{
    static const uint8_t zeros[SECTOR];
    struct image im = {0};
    uint8_t *head = NULL;
    char *tmp = NULL;
    size_t tmp_len;
    int fd = -1, rc;
    bool created = false, written, ok = false;

    if (!plan(&im, path, volume_id, files, nfiles, err) || !image_time(&im, err))
        goto cleanup;

    tmp_len = strlen(path) + 32;
    head = calloc(im.data_lba, SECTOR);
    tmp = malloc(tmp_len);
    if (head == NULL || tmp == NULL) {
        mb_error_set_errno(err, ENOMEM, "iso: cannot write \"%s\"", path);
        goto cleanup;
    }
    volume_descriptor(&im, head + LBA_PVD * SECTOR, volume_id, false);
    volume_descriptor(&im, head + LBA_JOLIET_SVD * SECTOR, volume_id, true);
    head[LBA_TERMINATOR * SECTOR] = 255;
    memcpy(head + LBA_TERMINATOR * SECTOR + 1, "CD001\x01", 6);
    path_table(head + LBA_PATH_L * SECTOR, LBA_ROOT, false);
    path_table(head + LBA_PATH_M * SECTOR, LBA_ROOT, true);
    path_table(head + LBA_JOLIET_PATH_L * SECTOR, im.joliet_lba, false);
    path_table(head + LBA_JOLIET_PATH_M * SECTOR, im.joliet_lba, true);
    put_er(head + (size_t)im.ce_lba * SECTOR);
    write_dir(&im, false, head + LBA_ROOT * SECTOR);
    write_dir(&im, true, head + (size_t)im.joliet_lba * SECTOR);

    snprintf(tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        mb_error_set_errno(err, errno, "iso: cannot create \"%s\"", tmp);
        goto cleanup;
    }
    created = true;
    written = write_all(fd, head, (size_t)im.data_lba * SECTOR);
    for (size_t i = 0; written && i < im.n; i++) {
        const struct entry *e = im.by_iso[i];
        size_t tail = e->size % SECTOR;
        written = write_all(fd, e->data, e->size)
                  && (tail == 0 || write_all(fd, zeros, SECTOR - tail));
    }
    if (written && ftruncate(fd, (off_t)im.total_sectors * SECTOR) != 0)
        written = false;
    if (!written || fsync(fd) != 0) {
        mb_error_set_errno(err, errno, "iso: cannot write \"%s\" (is the disk full?)", tmp);
        goto cleanup;
    }
    rc = close(fd);
    fd = -1;
    if (rc != 0) {
        mb_error_set_errno(err, errno, "iso: cannot write \"%s\"", tmp);
        goto cleanup;
    }
    if (rename(tmp, path) != 0) {
        mb_error_set_errno(err, errno, "iso: cannot rename \"%s\" to \"%s\"", tmp, path);
        goto cleanup;
    }
    sync_parent(path);
    ok = true;

cleanup:
    if (fd >= 0)
        close(fd);
    if (!ok && created)
        unlink(tmp);
    free(tmp);
    free(head);
    free(im.entries);
    free(im.by_name);
    free(im.by_iso);
    return ok;
}
