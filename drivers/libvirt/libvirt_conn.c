/* Connections to libvirtd, libvirt's errors, and the driver's files in the
 * instance directory (see libvirt_conn.h). */
#include "drivers/libvirt/libvirt_conn.h"
#include "drivers/libvirt/libvirt_xml.h"
#include "core/fs.h"
#include "core/process.h"

#include <libvirt/virterror.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CONNS 4

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *uri;
    virConnectPtr conn;
} conns[MAX_CONNS];

/* libvirt prints every error on stderr unless told otherwise: ours carry
 * them in mb_errors instead. */
static void quiet(void *data, virErrorPtr e)
{
    (void)data;
    (void)e;
}

const char *mb_libvirt_default_uri(const struct mb_conn *c)
{
    const char *u = mb_conn_config(c, "uri");
    return u && *u ? u : MB_LIBVIRT_DEFAULT_URI;
}

void mb_libvirt_file(char *buf, const struct mb_instance *inst, const char *file)
{
    int n = snprintf(buf, MB_LIBVIRT_PATHLEN, "%s/%s", inst->dir, file);
    if (n < 0 || n >= MB_LIBVIRT_PATHLEN)
        buf[0] = '\0';
}

/* The first line of the instance's file into buf (MB_LIBVIRT_PATHLEN bytes),
 * or NULL when the file is missing or its first line empty or too long. */
static const char *first_line(const struct mb_instance *inst, const char *file, char *buf)
{
    char p[MB_LIBVIRT_PATHLEN];
    mb_libvirt_file(p, inst, file);
    char *s = mb_fs_read(p, NULL, NULL);
    if (s == NULL)
        return NULL;
    size_t n = strcspn(s, "\n");
    const char *r = NULL;
    if (n > 0 && n < MB_LIBVIRT_PATHLEN) {
        memcpy(buf, s, n);
        buf[n] = '\0';
        r = buf;
    }
    free(s);
    return r;
}

const char *mb_libvirt_remote_uri(const struct mb_instance *inst, char *buf)
{
    if (inst->host == NULL || *inst->host == '\0')
        return NULL;
    snprintf(buf, MB_LIBVIRT_PATHLEN, "%s", inst->host);
    return buf;
}

const char *mb_libvirt_instance_uri(const struct mb_instance *inst, char *buf)
{
    if (first_line(inst, "libvirt.domain", buf) != NULL)
        return buf;
    if (mb_libvirt_remote_uri(inst, buf) != NULL)
        return buf;
    /* an instance of this machine stays here when new ones go elsewhere */
    const char *def = mb_libvirt_default_uri(inst->conn);
    snprintf(buf, MB_LIBVIRT_PATHLEN, "%s",
             mb_libvirt_uri_is_remote(def) ? MB_LIBVIRT_DEFAULT_URI : def);
    return buf;
}

bool mb_libvirt_uri_is_remote(const char *uri)
{
    const char *colon = strchr(uri, ':');
    if (colon == NULL)
        return false;
    if (memchr(uri, '+', (size_t)(colon - uri)) != NULL)
        return true; /* qemu+ssh://, qemu+tcp://, qemu+tls:// */
    if (strncmp(colon, "://", 3) != 0)
        return false;
    const char *host = colon + 3;
    return *host != '/' && strncmp(host, "localhost/", 10) != 0;
}

void mb_libvirt_error(mb_error **err, enum mb_error_code code, const char *what)
{
    const char *msg = virGetLastErrorMessage();
    mb_error_set(err, code, "%s: %s", what, msg ? msg : "unknown libvirt error");
}

int mb_libvirt_last_code(void)
{
    virErrorPtr e = virGetLastError();
    return e ? e->code : 0;
}

virConnectPtr mb_libvirt_connect(const char *uri, mb_error **err)
{
    virConnectPtr c = NULL;
    pthread_mutex_lock(&lock);
    virSetErrorFunc(NULL, quiet);
    int free_slot = -1;
    for (int k = 0; k < MAX_CONNS; k++) {
        if (conns[k].uri == NULL) {
            if (free_slot < 0)
                free_slot = k;
            continue;
        }
        if (strcmp(conns[k].uri, uri) != 0)
            continue;
        if (virConnectIsAlive(conns[k].conn) == 1) {
            c = conns[k].conn;
            goto done;
        }
        virConnectClose(conns[k].conn); /* libvirtd went away: open anew */
        free(conns[k].uri);
        conns[k].uri = NULL;
        free_slot = k;
    }
    c = virConnectOpen(uri);
    if (c == NULL) {
        const char *msg = virGetLastErrorMessage();
        bool remote = mb_libvirt_uri_is_remote(uri);
        mb_error_set(err, MB_ERR_UNREACHABLE, "libvirt: cannot connect to %s: %s (%s)", uri,
                     msg ? msg : "unknown error",
                     remote ? "is libvirtd running on that host, and can you ssh there "
                              "without a password?"
                            : "is libvirtd running? start it: virtlogd -d && libvirtd -d, "
                              "or systemctl start libvirtd; or pick another URI: moonbase "
                              "set local.libvirt.uri=...");
        goto done;
    }
    if (free_slot < 0) { /* all slots taken: replace the first */
        virConnectClose(conns[0].conn);
        free(conns[0].uri);
        free_slot = 0;
    }
    conns[free_slot].uri = strdup(uri);
    conns[free_slot].conn = c;
    if (conns[free_slot].uri == NULL) {
        virConnectClose(c);
        conns[free_slot].conn = NULL;
        c = NULL;
        mb_error_set(err, MB_ERR_FAILED, "libvirt: out of memory");
    }
done:
    pthread_mutex_unlock(&lock);
    return c;
}

virDomainPtr mb_libvirt_lookup(virConnectPtr conn, const struct mb_instance *inst, bool *missing,
                               mb_error **err)
{
    char name[MB_LIBVIRT_NAMELEN];
    mb_libvirt_domain_name(name, sizeof name, inst);
    *missing = false;
    virDomainPtr d = virDomainLookupByName(conn, name);
    if (d == NULL) {
        if (mb_libvirt_last_code() == VIR_ERR_NO_DOMAIN)
            *missing = true;
        else
            mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: looking up the domain");
    }
    return d;
}

bool mb_libvirt_write_trace(const struct mb_instance *inst, const char *uri, mb_error **err)
{
    char p[MB_LIBVIRT_PATHLEN], name[MB_LIBVIRT_NAMELEN];
    mb_libvirt_file(p, inst, "libvirt.domain");
    mb_libvirt_domain_name(name, sizeof name, inst);
    size_t n = strlen(uri) + strlen(name) + 3;
    char *s = malloc(n);
    if (s == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "libvirt: out of memory");
        return false;
    }
    int len = snprintf(s, n, "%s\n%s\n", uri, name);
    bool ok = mb_fs_write_atomic(p, s, (size_t)len, 0644, err);
    free(s);
    return ok;
}

void mb_libvirt_remove_runtime(const struct mb_instance *inst)
{
    char p[MB_LIBVIRT_PATHLEN];
    mb_libvirt_file(p, inst, "libvirt.pid");
    unlink(p);
    mb_libvirt_file(p, inst, "libvirt.domain");
    unlink(p);
}

/* Whether the NUL-separated argument list buf[0..len) has "guest=<name>"
 * alone or followed by ",". */
static bool names_guest(const char *buf, size_t len, const char *name)
{
    size_t nl = strlen(name);
    for (size_t off = 0; off < len; off += strlen(buf + off) + 1) {
        const char *a = buf + off;
        if (strncmp(a, "guest=", 6) == 0 && strncmp(a + 6, name, nl) == 0
            && (a[6 + nl] == '\0' || a[6 + nl] == ','))
            return true;
    }
    return false;
}

/* Reads /proc/<pid>/cmdline into buf (65536 bytes); its length. */
static size_t read_cmdline(const char *pid, char *buf)
{
    char p[300];
    snprintf(p, sizeof p, "/proc/%s/cmdline", pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t len = 0;
    ssize_t r;
    while (len < 65535 && (r = read(fd, buf + len, 65535 - len)) > 0)
        len += (size_t)r;
    close(fd);
    buf[len] = '\0';
    return len;
}

bool mb_libvirt_pid_is(pid_t pid, const char *name)
{
    char num[32], *buf = malloc(65536);
    snprintf(num, sizeof num, "%d", (int)pid);
    size_t len = buf && pid > 0 ? read_cmdline(num, buf) : 0;
    bool hit = len > 0 && strstr(buf, "qemu") && names_guest(buf, len, name);
    free(buf);
    return hit;
}

/* The start time of process `pid` (field 22 of /proc/<pid>/stat, in clock ticks
 * since boot), or 0 when it is gone or exiting (a zombie, or dead). */
static unsigned long long started_at(const char *pid)
{
    char buf[1024];
    const char *f = mb_process_stat((pid_t)atol(pid), buf, sizeof buf);
    if (f == NULL || f[0] == 'Z' || f[0] == 'X')
        return 0;
    for (int field = 3; field < 22 && f; field++) /* f is at field 3, the state */
        if ((f = strchr(f, ' ')) != NULL)
            f++;
    return f ? strtoull(f, NULL, 10) : 0;
}

pid_t mb_libvirt_find_pid(const char *name)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    pid_t found = 0;
    unsigned long long newest = 0;
    char *buf = malloc(65536);
    /* The newest: a QEMU that just powered off can linger, exiting, while libvirt
     * already starts the next one under the same name. */
    while (d && buf && (de = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        size_t len = read_cmdline(de->d_name, buf);
        if (len == 0 || !strstr(buf, "qemu") || !names_guest(buf, len, name))
            continue;
        unsigned long long t = started_at(de->d_name);
        if (t > 0 && t >= newest) {
            newest = t;
            found = (pid_t)atol(de->d_name);
        }
    }
    free(buf);
    if (d)
        closedir(d);
    return found;
}

bool mb_libvirt_dom_open(const struct mb_instance *i, struct mb_libvirt_dom *d, mb_error **err)
{
    bool missing;
    d->dom = NULL;
    mb_libvirt_instance_uri(i, d->uri);
    if ((d->conn = mb_libvirt_connect(d->uri, err)) == NULL)
        return false;
    d->dom = mb_libvirt_lookup(d->conn, i, &missing, err);
    return d->dom != NULL || missing;
}

void mb_libvirt_dom_close(struct mb_libvirt_dom *d)
{
    if (d->dom)
        virDomainFree(d->dom);
    d->dom = NULL;
}

int mb_libvirt_dom_state(virDomainPtr dom)
{
    int st = VIR_DOMAIN_NOSTATE, reason = 0;
    if (virDomainGetState(dom, &st, &reason, 0) < 0)
        return -1;
    return st;
}

bool mb_libvirt_dom_active(virDomainPtr dom)
{
    return dom != NULL && virDomainIsActive(dom) == 1;
}

bool mb_libvirt_dom_saved(virDomainPtr dom)
{
    return dom != NULL && virDomainHasManagedSaveImage(dom, 0) == 1;
}
