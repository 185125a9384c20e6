/* Unit tests for engine/iso/iso.c: the image is parsed back by hand (PVD, Joliet
 * SVD, root directory, Rock Ridge NM). With "--write-seed OUT VOLID NAME=FILE..."
 * the binary instead writes one image, for tests/unit/engine/iso/iso_roundtrip.sh to hand
 * to independent readers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iso/iso.h"

#define SECTOR 2048u

static char tmpdir[64];

static const char meta_data[] = "instance-id: iid-moonbase-test\nlocal-hostname: vm1\n";
static const char user_data[] = "#cloud-config\npassword: moon\nchpasswd: { expire: false }\n";
static const char network_config[] = "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n";

static const struct mb_iso_file seed[] = {
    {"meta-data", meta_data, sizeof meta_data - 1},
    {"user-data", user_data, sizeof user_data - 1},
    {"network-config", network_config, sizeof network_config - 1},
};

struct root_entry {
    char nm[65];  /* Rock Ridge name */
    char iso[32]; /* ISO9660 file identifier */
    uint32_t lba, size;
};

struct root_dir {
    struct root_entry e[16];
    size_t n;
    bool dot_has_sp;
};

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void tmp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

/* Walks the root directory named by the PVD, as a Rock Ridge reader would. */
static void parse_root(const uint8_t *img, size_t len, struct root_dir *d)
{
    const uint8_t *root = img + 16 * SECTOR + 156;
    uint32_t lba = le32(root + 2), size = le32(root + 10);
    memset(d, 0, sizeof *d);
    assert_true((uint64_t)lba * SECTOR + size <= len);
    for (size_t off = 0, index = 0; off < size; index++) {
        const uint8_t *r = img + (size_t)lba * SECTOR + off;
        if (r[0] == 0) { /* the rest of this sector is padding */
            off = (off / SECTOR + 1) * SECTOR;
            continue;
        }
        size_t id_len = r[32];
        size_t su = 33 + id_len + (id_len % 2 == 0);
        struct root_entry *e = index >= 2 && d->n < 16 ? &d->e[d->n++] : NULL;
        if (e != NULL) {
            memcpy(e->iso, r + 33, id_len < 31 ? id_len : 31);
            e->lba = le32(r + 2);
            e->size = le32(r + 10);
        }
        while (su + 4 <= r[0] && r[su + 2] >= 4) {
            const uint8_t *s = r + su;
            if (index == 0 && su == 34 && memcmp(s, "SP\x07\x01\xbe\xef", 6) == 0)
                d->dot_has_sp = true;
            if (e != NULL && memcmp(s, "NM", 2) == 0)
                memcpy(e->nm, s + 5, s[2] - 5u);
            su += s[2];
        }
        off += r[0];
    }
}

static const struct root_entry *find(const struct root_dir *d, const char *nm)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->e[i].nm, nm) == 0)
            return &d->e[i];
    return NULL;
}

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/test_iso.XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    return rmdir(tmpdir);
}

static void test_seed(void **state)
{
    (void)state;
    char path[128];
    size_t len;
    mb_error *err = NULL;

    tmp_path(path, sizeof path, "seed.iso");
    assert_true(mb_iso_write(path, "cidata", seed, 3, &err));
    assert_null(err);

    uint8_t *img = slurp(path, &len);
    assert_non_null(img);
    assert_true(len > 17 * SECTOR);
    assert_int_equal(len % SECTOR, 0);
    assert_true(len >= 69632); /* busybox volume_id ignores devices under 68 KiB */

    const uint8_t *pvd = img + 16 * SECTOR;
    assert_int_equal(pvd[0], 1);
    assert_memory_equal(pvd + 1, "CD001", 5);
    assert_memory_equal(pvd + 40, "cidata                          ", 32);
    assert_int_equal(le32(pvd + 80), len / SECTOR);

    const uint8_t *svd = img + 17 * SECTOR;
    assert_int_equal(svd[0], 2);
    assert_memory_equal(svd + 1, "CD001", 5);
    assert_memory_equal(svd + 88, "%/E", 3);
    assert_memory_equal(svd + 40, "\0c\0i\0d\0a\0t\0a\0 ", 14);
    assert_int_equal(img[18 * SECTOR], 255);

    struct root_dir d;
    parse_root(img, len, &d);
    assert_true(d.dot_has_sp);
    assert_int_equal(d.n, 3);
    for (size_t i = 0; i < 3; i++) {
        const struct root_entry *e = find(&d, seed[i].name);
        assert_non_null(e);
        assert_int_equal(e->size, seed[i].size);
        assert_memory_equal(img + (size_t)e->lba * SECTOR, seed[i].data, seed[i].size);
    }
    assert_string_equal(find(&d, "meta-data")->iso, "META_DAT.;1");
    free(img);
    unlink(path);
}

/* Same files in another order and the same SOURCE_DATE_EPOCH: same bytes. */
static void test_reproducible(void **state)
{
    (void)state;
    struct mb_iso_file reversed[] = {seed[2], seed[1], seed[0]};
    char a[128], b[128];
    size_t alen, blen;

    tmp_path(a, sizeof a, "a.iso");
    tmp_path(b, sizeof b, "b.iso");
    setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
    assert_true(mb_iso_write(a, "cidata", seed, 3, NULL));
    assert_true(mb_iso_write(b, "cidata", reversed, 3, NULL));
    unsetenv("SOURCE_DATE_EPOCH");

    uint8_t *ia = slurp(a, &alen), *ib = slurp(b, &blen);
    assert_non_null(ia);
    assert_non_null(ib);
    assert_int_equal(alen, blen);
    assert_memory_equal(ia, ib, alen);
    assert_memory_equal(ia + 16 * SECTOR + 813, "2023111422132000", 16);
    free(ia);
    free(ib);
    unlink(a);
    unlink(b);
}

/* Names that fold to the same 8.3 name still get distinct ISO9660 ids. */
static void test_name_collisions(void **state)
{
    (void)state;
    static const struct mb_iso_file files[] = {
        {"a-b", "1", 1}, {"a_b", "2", 1}, {"A-B", "3", 1}, {"empty", NULL, 0},
        {"vendor-data.with-a-rather-long-name-that-takes-64-characters.yml", "4", 1},
    };
    char path[128];
    size_t len;

    tmp_path(path, sizeof path, "names.iso");
    assert_true(mb_iso_write(path, "cidata", files, 5, NULL));
    uint8_t *img = slurp(path, &len);
    assert_non_null(img);
    struct root_dir d;
    parse_root(img, len, &d);
    assert_int_equal(d.n, 5);
    for (size_t i = 0; i < 5; i++) {
        const struct root_entry *e = find(&d, files[i].name);
        assert_non_null(e);
        assert_int_equal(e->size, files[i].size);
        if (files[i].size > 0)
            assert_memory_equal(img + (size_t)e->lba * SECTOR, files[i].data, 1);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(d.e[i].iso, d.e[j].iso);
    }
    free(img);
    unlink(path);
}

static void test_unwritable(void **state)
{
    (void)state;
    char path[128], tmp[160];
    struct stat st;
    mb_error *err = NULL;

    assert_false(mb_iso_write("/nonexistent-moonbase-dir/seed.iso", "cidata", seed, 3, &err));
    assert_non_null(err);
    assert_int_equal(err->code, MB_ERR_NOT_FOUND);
    assert_non_null(strstr(err->message, "/nonexistent-moonbase-dir/seed.iso"));
    mb_error_free(err);
    err = NULL;
    assert_int_equal(stat("/nonexistent-moonbase-dir/seed.iso", &st), -1);

    /* The temporary file gets written, then the rename onto a directory fails. */
    tmp_path(path, sizeof path, "dir.iso");
    assert_int_equal(mkdir(path, 0755), 0);
    assert_false(mb_iso_write(path, "cidata", seed, 3, &err));
    assert_non_null(err);
    assert_non_null(strstr(err->message, "rename"));
    mb_error_free(err);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    assert_int_equal(stat(tmp, &st), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(rmdir(path), 0);
}

static void expect_usage(const char *volume_id, const struct mb_iso_file *files, size_t n)
{
    char path[128];
    struct stat st;
    mb_error *err = NULL;

    tmp_path(path, sizeof path, "bad.iso");
    assert_false(mb_iso_write(path, volume_id, files, n, &err));
    assert_non_null(err);
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
    assert_int_equal(stat(path, &st), -1);
}

static void test_invalid(void **state)
{
    (void)state;
    struct mb_iso_file f = {"user-data", "x", 1};
    struct mb_iso_file twice[] = {f, f};

    expect_usage("has space", &f, 1);
    expect_usage("", &f, 1);
    expect_usage("seventeen-chars-x", &f, 1);
    expect_usage(NULL, &f, 1);
    expect_usage("cidata", twice, 2);
    static const char *bad[] = {
        "", ".", "..", "dir/user-data", "user data", "caf\xc3\xa9",
        "an-overly-long-name-of-sixty-five-characters-which-joliet-refuses",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        f.name = bad[i];
        expect_usage("cidata", &f, 1);
    }
    f.name = "user-data";
    f.data = NULL;
    expect_usage("cidata", &f, 1);

    setenv("SOURCE_DATE_EPOCH", "yesterday", 1);
    f.data = "x";
    expect_usage("cidata", &f, 1);
    unsetenv("SOURCE_DATE_EPOCH");
}

/* --write-seed OUT VOLID NAME=FILE...: one image from files on disk. */
static int write_seed(int argc, char **argv)
{
    enum { MAX_FILES = 256 };
    struct mb_iso_file files[MAX_FILES] = {0};
    uint8_t *bufs[MAX_FILES];
    int n = 0, rc = 1;
    mb_error *err = NULL;

    if (argc - 4 > MAX_FILES) {
        fprintf(stderr, "test_iso: at most %d files\n", MAX_FILES);
        return 1;
    }
    for (int i = 4; i < argc; i++, n++) {
        char *eq = strchr(argv[i], '=');
        if (eq == NULL) {
            fprintf(stderr, "test_iso: expected NAME=FILE, got \"%s\"\n", argv[i]);
            goto cleanup;
        }
        *eq = '\0';
        bufs[n] = slurp(eq + 1, &files[n].size);
        if (bufs[n] == NULL) {
            fprintf(stderr, "test_iso: cannot read \"%s\"\n", eq + 1);
            goto cleanup;
        }
        files[n].name = argv[i];
        files[n].data = bufs[n];
    }
    if (!mb_iso_write(argv[2], argv[3], files, (size_t)n, &err)) {
        fprintf(stderr, "test_iso: %s\n", err->message);
        mb_error_free(err);
        goto cleanup;
    }
    rc = 0;

cleanup:
    for (int i = 0; i < n; i++)
        free(bufs[i]);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "--write-seed") == 0)
        return write_seed(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed),
        cmocka_unit_test(test_reproducible),
        cmocka_unit_test(test_name_collisions),
        cmocka_unit_test(test_unwritable),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
