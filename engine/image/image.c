/* Image transfers with libcurl. The hot loop stays in C and is pipelined:
 * curl's write callback copies each chunk into a ring buffer and a second
 * thread writes it to <dest>.part and feeds SHA-256, so hashing overlaps the
 * network instead of slowing it. A resumed transfer hashes the bytes it keeps
 * first, then asks for the rest with a Range request. */
#include "image/image.h"
#include "image/image_curl.h"
#include "core/clock.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RING_SIZE ((size_t)16 << 20)
#define WRITEBACK_STEP ((uint64_t)32 << 20)
#define CURL_BUFFER (512L * 1024)

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}
static bool valid_hex64(const char *s)
{
    size_t n = strlen(s);
    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

static void format_bytes(char *buf, size_t len, double n)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (n >= 1024 && u < 4) {
        n /= 1024;
        u++;
    }
    snprintf(buf, len, u == 0 ? "%.0f %s" : "%.1f %s", n, units[u]);
}
static bool is_http(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

/* ------------------------------------------------------------ the pipeline */

struct ring {
    pthread_mutex_t mu;
    pthread_cond_t can_put, can_take;
    unsigned char *buf;
    uint64_t head, tail; /* bytes put and taken so far; index = value % RING_SIZE */
    bool done;
    int werr;            /* errno of a failed write, set by the writer thread */
};

struct xfer {
    const struct mb_fetch_spec *spec;
    CURL *curl;
    int fd;
    EVP_MD_CTX *md;
    struct ring ring;
    pthread_t thread;
    bool thread_started;
    bool decided;        /* the first byte has come: resume accepted or restarted */
    bool too_big;
    bool stalled;
    double last_data;    /* when the last byte came (or the transfer began) */
    double stall_limit;  /* seconds without data before giving up */
    uint64_t offset;     /* bytes in the .part before this transfer */
    uint64_t received;   /* bytes received by this transfer */
    uint64_t total;      /* expected final size; 0: unknown */
    double start, last_draw;
    int last_decile;
    const char *label;
};

static void *writer_main(void *arg)
{
    struct xfer *x = arg;
    struct ring *r = &x->ring;
    uint64_t written = x->offset, flushed = x->offset;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (r->head == r->tail && !r->done)
            pthread_cond_wait(&r->can_take, &r->mu);
        if (r->head == r->tail)
            break;
        size_t idx = (size_t)(r->tail % RING_SIZE);
        size_t n = (size_t)(r->head - r->tail);
        if (n > RING_SIZE - idx)
            n = RING_SIZE - idx;
        if (n > MB_IMAGE_CHUNK)
            n = MB_IMAGE_CHUNK;
        pthread_mutex_unlock(&r->mu);
        /* [tail, head) belongs to this thread until tail moves */
        int e = write_all(x->fd, r->buf + idx, n);
        if (e == 0)
            EVP_DigestUpdate(x->md, r->buf + idx, n);
        written += n;
        if (written - flushed >= WRITEBACK_STEP) {
            /* start writeback early so the final fsync has little left to do */
            sync_file_range(x->fd, (off_t)flushed, (off_t)(written - flushed),
                            SYNC_FILE_RANGE_WRITE);
            flushed = written;
        }
        pthread_mutex_lock(&r->mu);
        if (e != 0) {
            r->werr = e;
            pthread_cond_signal(&r->can_put);
            break;
        }
        r->tail += n;
        pthread_cond_signal(&r->can_put);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static bool ring_put(struct ring *r, const char *data, size_t len)
{
    pthread_mutex_lock(&r->mu);
    while (len > 0) {
        while (r->head - r->tail == RING_SIZE && r->werr == 0)
            pthread_cond_wait(&r->can_put, &r->mu);
        if (r->werr != 0)
            break;
        size_t idx = (size_t)(r->head % RING_SIZE);
        size_t n = RING_SIZE - (size_t)(r->head - r->tail);
        if (n > RING_SIZE - idx)
            n = RING_SIZE - idx;
        if (n > len)
            n = len;
        pthread_mutex_unlock(&r->mu);
        memcpy(r->buf + idx, data, n); /* the writer reads only [tail, head) */
        pthread_mutex_lock(&r->mu);
        r->head += n;
        data += n;
        len -= n;
        pthread_cond_signal(&r->can_take);
    }
    bool ok = r->werr == 0;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

static void ring_finish(struct xfer *x)
{
    if (!x->thread_started)
        return;
    pthread_mutex_lock(&x->ring.mu);
    x->ring.done = true;
    pthread_cond_signal(&x->ring.can_take);
    pthread_mutex_unlock(&x->ring.mu);
    pthread_join(x->thread, NULL);
    x->thread_started = false;
}

/* ------------------------------------------------------------ progress */

static void format_eta(char *buf, size_t len, double secs)
{
    if (secs < 0 || secs > 359999) {
        snprintf(buf, len, "--:--");
        return;
    }
    long s = (long)(secs + 0.5);
    if (s >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, len, "%ld:%02ld", s / 60, s % 60);
}

static void draw(struct xfer *x, bool final)
{
    enum mb_progress_mode mode = x->spec->progress;
    if (mode == MB_PROGRESS_NONE)
        return;
    double t = mb_clock_now();
    if (mode == MB_PROGRESS_BAR && !final && t - x->last_draw < 0.1)
        return;
    x->last_draw = t;
    uint64_t done = x->offset + x->received;
    double elapsed = t - x->start;
    double rate = elapsed > 0 ? (double)x->received / elapsed : 0;
    char sdone[32], stotal[32], srate[32], seta[32];
    format_bytes(sdone, sizeof sdone, (double)done);
    format_bytes(stotal, sizeof stotal, (double)x->total);
    format_bytes(srate, sizeof srate, rate);
    int pct = x->total ? (int)(done * 100 / x->total) : -1;
    if (mode == MB_PROGRESS_BAR) {
        char bar[31];
        int fill = pct >= 0 ? pct * 30 / 100 : 0;
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : (pct < 0 ? '?' : '.');
        bar[30] = '\0';
        format_eta(seta, sizeof seta,
                   rate > 0 && x->total ? (double)(x->total - done) / rate : -1);
        if (pct >= 0)
            fprintf(stderr, "\r%s %3d%% [%s] %s / %s  %s/s  ETA %s\033[K", x->label, pct, bar,
                    sdone, stotal, srate, final ? "0:00" : seta);
        else
            fprintf(stderr, "\r%s %s  %s/s\033[K", x->label, sdone, srate);
        if (final)
            fputc('\n', stderr);
        fflush(stderr);
        return;
    }
    if (pct < 0) {
        if (final)
            fprintf(stderr, "%s: %s done (%s/s)\n", x->label, sdone, srate);
        return;
    }
    int decile = pct / 10;
    if (decile > x->last_decile && (decile < 10 || final)) {
        x->last_decile = decile;
        fprintf(stderr, "%s: %d%% (%s of %s, %s/s)\n", x->label, decile * 10, sdone, stotal,
                srate);
        fflush(stderr);
    }
}

/* Draws progress, and gives up on a silent server: curl's own low-speed check
 * averages over a window and would wait several seconds longer. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct xfer *x = ud;
    if (x->decided)
        draw(x, false);
    if (mb_clock_now() - x->last_data > x->stall_limit) {
        x->stalled = true;
        return 1;
    }
    return 0;
}

/* At the first byte (or at the end of an empty body): did the server honour
 * the Range? If not, start the file and the digest over. */
static bool decide(struct xfer *x)
{
    x->decided = true;
    x->stall_limit = x->spec->stall_timeout > 0 ? (double)x->spec->stall_timeout
                                                : (double)MB_IMAGE_STALL;
    if (x->offset > 0) {
        long code = 0;
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
        if (code != 206) {
            if (ftruncate(x->fd, 0) != 0 || lseek(x->fd, 0, SEEK_SET) < 0) {
                x->ring.werr = errno;
                return false;
            }
            EVP_DigestInit_ex(x->md, EVP_sha256(), NULL);
            x->offset = 0;
        }
    }
    curl_off_t cl = -1;
    curl_easy_getinfo(x->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    if (x->spec->size >= 0)
        x->total = (uint64_t)x->spec->size;
    else if (cl >= 0)
        x->total = x->offset + (uint64_t)cl;
    x->start = mb_clock_now();
    x->last_decile = x->total ? (int)(x->offset * 10 / x->total) : 0;
    if (x->offset > 0 && x->spec->progress == MB_PROGRESS_LINES) {
        char sdone[32];
        format_bytes(sdone, sizeof sdone, (double)x->offset);
        fprintf(stderr, "%s: resuming at %s\n", x->label, sdone);
    }
    if (pthread_create(&x->thread, NULL, writer_main, x) != 0) {
        x->ring.werr = EAGAIN;
        return false;
    }
    x->thread_started = true;
    return true;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * nmemb;
    if (!x->decided && !decide(x))
        return 0;
    if (x->spec->size >= 0 && x->offset + x->received + len > (uint64_t)x->spec->size) {
        x->too_big = true;
        return 0;
    }
    if (!ring_put(&x->ring, data, len))
        return 0;
    x->received += len;
    x->last_data = mb_clock_now();
    return len;
}

/* Feeds the first n bytes of fd to md (the part an earlier call kept). */
static int hash_prefix(int fd, uint64_t n, EVP_MD_CTX *md)
{
    unsigned char *buf = malloc(MB_IMAGE_CHUNK);
    if (buf == NULL)
        return ENOMEM;
    uint64_t off = 0;
    int e = 0;
    while (off < n) {
        size_t want = n - off < MB_IMAGE_CHUNK ? (size_t)(n - off) : MB_IMAGE_CHUNK;
        ssize_t r = pread(fd, buf, want, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            e = r < 0 ? errno : EIO;
            break;
        }
        EVP_DigestUpdate(md, buf, (size_t)r);
        off += (uint64_t)r;
    }
    free(buf);
    return e;
}

static void fsync_parent(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static bool run_transfer(struct xfer *x, unsigned flags, mb_error **err)
{
    const struct mb_fetch_spec *spec = x->spec;
    long connect_timeout = mb_image_connect_timeout(spec->connect_timeout);
    long stall = spec->stall_timeout > 0 ? spec->stall_timeout : MB_IMAGE_STALL;
    char errbuf[CURL_ERROR_SIZE];
    char range[32];
    for (int attempt = 0; attempt < 2; attempt++) {
        errbuf[0] = '\0';
        curl_easy_reset(x->curl);
        mb_image_curl_setup(x->curl, spec->url, errbuf, connect_timeout, 0); /* on_progress: stalls */
        /* curl reads up to 100 buffers in a row before it checks a rate limit:
         * with a limit, small buffers keep the bursts small */
        long buffer = CURL_BUFFER;
        if (spec->rate_limit > 0 && spec->rate_limit / 64 < buffer)
            buffer = spec->rate_limit / 64 < 1024 ? 1024 : (long)(spec->rate_limit / 64);
        curl_easy_setopt(x->curl, CURLOPT_BUFFERSIZE, buffer);
        curl_easy_setopt(x->curl, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(x->curl, CURLOPT_WRITEDATA, x);
        curl_easy_setopt(x->curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(x->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(x->curl, CURLOPT_XFERINFODATA, x);
        if (spec->rate_limit > 0)
            curl_easy_setopt(x->curl, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)spec->rate_limit);
        if (x->offset > 0) {
            snprintf(range, sizeof range, "%llu-", (unsigned long long)x->offset);
            curl_easy_setopt(x->curl, CURLOPT_RANGE, range);
        }
        x->decided = false;
        x->stalled = false;
        x->received = 0;
        /* the first byte may also wait for the connection */
        x->stall_limit = (double)(stall + connect_timeout);
        x->last_data = mb_clock_now();
        x->ring.head = x->ring.tail = 0;
        x->ring.done = false;
        x->ring.werr = 0;
        CURLcode rc = curl_easy_perform(x->curl);
        if (rc == CURLE_OK && !x->decided)
            decide(x); /* an empty body */
        ring_finish(x);
        if (x->ring.werr != 0) {
            mb_error_set_errno(err, x->ring.werr, "cannot write %s.part", spec->dest);
            return false;
        }
        if (x->stalled) {
            mb_error_set(err, MB_ERR_FAILED, "transfer of %s stalled: no data for %ld s (run "
                         "it again to resume)", spec->url, stall);
            return false;
        }
        if (x->too_big) {
            mb_error_set(err, MB_ERR_FAILED, "%s is larger than the %lld bytes the manifest "
                         "promises; the download was deleted (the image host may be serving "
                         "the wrong file)", spec->url, (long long)spec->size);
            return false;
        }
        if (rc == CURLE_OK) {
            draw(x, true);
            return true;
        }
        if (x->decided && x->spec->progress == MB_PROGRESS_BAR)
            fputc('\n', stderr);
        long code = 0;
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
        if (rc == CURLE_HTTP_RETURNED_ERROR && code == 416 && x->offset > 0 && attempt == 0) {
            /* our .part is no prefix of what the server has now: start over */
            if (ftruncate(x->fd, 0) != 0 || lseek(x->fd, 0, SEEK_SET) < 0) {
                mb_error_set_errno(err, errno, "cannot write %s.part", spec->dest);
                return false;
            }
            EVP_DigestInit_ex(x->md, EVP_sha256(), NULL);
            x->offset = 0;
            continue;
        }
        mb_image_curl_error(err, x->curl, rc, spec->url, errbuf, connect_timeout, stall);
        return false;
    }
    return false;
}

bool mb_image_fetch(const struct mb_fetch_spec *spec, struct mb_fetch_result *res,
                    unsigned flags, mb_error **err)
{
    bool ok = false, delete_part = false;
    char *part = NULL;
    struct xfer x;
    memset(&x, 0, sizeof x);
    x.fd = -1;
    x.spec = spec;
    memset(res, 0, sizeof *res);
    pthread_mutex_init(&x.ring.mu, NULL);
    pthread_cond_init(&x.ring.can_put, NULL);
    pthread_cond_init(&x.ring.can_take, NULL);

    if (spec->url == NULL || spec->dest == NULL) {
        mb_error_set(err, MB_ERR_USAGE, "fetch needs a url and a destination");
        goto cleanup;
    }
    if (spec->sha256 != NULL && !valid_hex64(spec->sha256)) {
        mb_error_set(err, MB_ERR_USAGE, "invalid sha256 \"%s\" for %s: expected 64 hex digits",
                     spec->sha256, spec->url);
        goto cleanup;
    }
    if (asprintf(&part, "%s.part", spec->dest) < 0) {
        part = NULL;
        mb_error_set(err, MB_ERR_IO, "out of memory");
        goto cleanup;
    }
    if (!is_http(spec->url))
        flags |= MB_FETCH_NO_RESUME;
    x.label = spec->label;
    if (x.label == NULL) {
        const char *slash = strrchr(spec->dest, '/');
        x.label = slash ? slash + 1 : spec->dest;
    }
    mb_image_curl_init();

    x.fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (x.fd < 0) {
        mb_error_set_errno(err, errno, "cannot create %s", part);
        goto cleanup;
    }
    if (flock(x.fd, LOCK_EX | LOCK_NB) != 0) {
        mb_error_set(err, MB_ERR_STATE, "%s is being downloaded by another process (wait for "
                     "it to finish)", spec->dest);
        goto cleanup;
    }
    struct stat st;
    if (fstat(x.fd, &st) != 0) {
        mb_error_set_errno(err, errno, "cannot read %s", part);
        goto cleanup;
    }
    uint64_t have = (uint64_t)st.st_size;
    if ((flags & MB_FETCH_NO_RESUME) || (spec->size >= 0 && have > (uint64_t)spec->size)) {
        if (ftruncate(x.fd, 0) != 0) {
            mb_error_set_errno(err, errno, "cannot write %s", part);
            goto cleanup;
        }
        have = 0;
    }
    x.md = EVP_MD_CTX_new();
    if (x.md == NULL || !EVP_DigestInit_ex(x.md, EVP_sha256(), NULL)) {
        mb_error_set(err, MB_ERR_IO, "cannot set up SHA-256 (OpenSSL)");
        goto cleanup;
    }
    if (have > 0) {
        int e = hash_prefix(x.fd, have, x.md);
        if (e != 0) {
            mb_error_set_errno(err, e, "cannot read %s", part);
            goto cleanup;
        }
    }
    if (lseek(x.fd, (off_t)have, SEEK_SET) < 0) {
        mb_error_set_errno(err, errno, "cannot write %s", part);
        goto cleanup;
    }
    x.offset = have;

    double t0 = mb_clock_now();
    if (spec->size < 0 || have < (uint64_t)spec->size) {
        x.ring.buf = malloc(RING_SIZE);
        x.curl = curl_easy_init();
        if (x.ring.buf == NULL || x.curl == NULL) {
            mb_error_set(err, MB_ERR_IO, "out of memory");
            goto cleanup;
        }
        if (!run_transfer(&x, flags, err)) {
            delete_part = x.too_big || (x.offset == 0 && x.received == 0);
            goto cleanup;
        }
    }
    res->seconds = mb_clock_now() - t0;
    res->resumed_from = x.offset;
    res->transferred = x.received;
    res->size = x.offset + x.received;

    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_DigestFinal_ex(x.md, md, &mdlen);
    mb_image_hex(md, mdlen, res->sha256);
    if (spec->size >= 0 && res->size != (uint64_t)spec->size) {
        mb_error_set(err, MB_ERR_FAILED, "%s has %llu bytes, the manifest promises %lld; the "
                     "download was deleted (try again later)", spec->url,
                     (unsigned long long)res->size, (long long)spec->size);
        delete_part = true;
        goto cleanup;
    }
    if (spec->sha256 != NULL && strcasecmp(spec->sha256, res->sha256) != 0) {
        mb_error_set(err, MB_ERR_FAILED, "checksum mismatch for %s: expected sha256 %s, "
                     "got %s; the download was deleted (the image host may be serving a "
                     "corrupt file)", spec->url, spec->sha256, res->sha256);
        delete_part = true;
        goto cleanup;
    }
    if (!(flags & MB_FETCH_NO_FSYNC) && fdatasync(x.fd) != 0) {
        mb_error_set_errno(err, errno, "cannot write %s", part);
        goto cleanup;
    }
    if (rename(part, spec->dest) != 0) {
        mb_error_set_errno(err, errno, "cannot move %s into place", part);
        goto cleanup;
    }
    if (!(flags & MB_FETCH_NO_FSYNC))
        fsync_parent(spec->dest);
    ok = true;

cleanup:
    ring_finish(&x);
    if (delete_part && part != NULL)
        unlink(part);
    if (x.fd >= 0)
        close(x.fd);
    if (x.curl != NULL)
        curl_easy_cleanup(x.curl);
    EVP_MD_CTX_free(x.md);
    free(x.ring.buf);
    free(part);
    pthread_cond_destroy(&x.ring.can_take);
    pthread_cond_destroy(&x.ring.can_put);
    pthread_mutex_destroy(&x.ring.mu);
    return ok;
}
