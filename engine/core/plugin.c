/* Loading the embedded plugins (see plugin.h): each shared object's bytes are
 * in the binary (cmake: plugin_blob.S); on first use they are written to a
 * memfd and dlopen()ed from /proc/self/fd, so moonbase stays one file and
 * pays for libcurl/libssh2 or libvirt only when it uses them. */
#include "core/plugin.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

extern const unsigned char mb_plugin_blob[] __attribute__((weak));
extern const unsigned char mb_plugin_blob_end[] __attribute__((weak));
extern const unsigned char mb_libvirt_blob[] __attribute__((weak));
extern const unsigned char mb_libvirt_blob_end[] __attribute__((weak));

struct plugin {
    const char *name, *libraries;
    void *handle;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct plugin plugins[] = {
    {"moonbase-plugin", "libcurl, libssh2", NULL},
    {"moonbase-libvirt", "libvirt", NULL},
};

static void *load(int k, mb_error **err)
{
    struct plugin *pl = &plugins[k];
    if (pl->handle)
        return pl->handle;
    const unsigned char *start = k == 0 ? mb_plugin_blob : mb_libvirt_blob;
    const unsigned char *end = k == 0 ? mb_plugin_blob_end : mb_libvirt_blob_end;
    if (start == NULL || end == NULL || end <= start) {
        mb_error_set(err, MB_ERR_FAILED, "this moonbase was built without its plugin %s (%s "
                     "features are unavailable)", pl->name, pl->libraries);
        return NULL;
    }
    int fd = memfd_create(pl->name, MFD_CLOEXEC);
    if (fd < 0) {
        mb_error_set_errno(err, errno, "cannot load the %s plugin", pl->name);
        return NULL;
    }
    const unsigned char *p = start;
    size_t left = (size_t)(end - start);
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            mb_error_set_errno(err, errno, "cannot load the %s plugin", pl->name);
            close(fd);
            return NULL;
        }
        p += w;
        left -= (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    pl->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    /* The memfd stays open: the dynamic loader knows an object by the path it
     * was opened from, and a second plugin opened from the same fd number
     * would be taken for the first. */
    if (pl->handle == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "cannot load the %s plugin: %s", pl->name, dlerror());
        close(fd);
    }
    return pl->handle;
}

/* Which plugin holds a symbol: the libvirt driver's are named mb_libvirt_* and
 * mb_driver_libvirt; everything else is the first plugin's. */
static int plugin_of(const char *name)
{
    return strncmp(name, "mb_libvirt_", 11) == 0 || strcmp(name, "mb_driver_libvirt") == 0;
}

void *mb_plugin_sym(const char *name, mb_error **err)
{
    void *sym = dlsym(RTLD_DEFAULT, name);
    if (sym)
        return sym;
    int k = plugin_of(name);
    pthread_mutex_lock(&lock);
    void *h = load(k, err);
    pthread_mutex_unlock(&lock);
    if (h == NULL)
        return NULL;
    sym = dlsym(h, name);
    if (sym == NULL)
        mb_error_set(err, MB_ERR_FAILED, "the %s plugin has no %s", plugins[k].name, name);
    return sym;
}
