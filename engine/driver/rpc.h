/* Drivers outside the binary: an executable moonbase-driver-NAME speaking
 * JSON-RPC 2.0 over its stdin/stdout (external drivers), or a file NAME.lua
 * returning a table of functions (Lua drivers). Both are one C table,
 * struct mb_rpc_driver, whose slots turn each operation into a method call
 * with JSON params and the result back (rpc_driver.c); a backend carries the
 * call (rpc_proc.c: the process; lua_rpc_driver.c: the Lua state). The
 * protocol is in docs/writing-drivers.md. */
#ifndef MB_DRIVER_RPC_H
#define MB_DRIVER_RPC_H

#include "core/json.h"

#include "driver/driver.h"

#define MB_RPC_PROTOCOL 1

/* Where a driver outside the binary was found. */
enum mb_rpc_kind { MB_RPC_EXTERNAL, MB_RPC_LUA };

struct mb_rpc_found {
    char name[64];
    char path[4096];
    enum mb_rpc_kind kind;
    char refused[512]; /* why it may not be used (unsafe permissions, ...), or "" */
};

/* The drivers outside the binary, in search order: each dir of
 * MOONBASE_DRIVERS_PATH (moonbase-driver-NAME, NAME.lua), then
 * <prefix>/libexec/moonbase/ (moonbase-driver-NAME), then lua_dir (NAME.lua;
 * moonbase's data dir, may be NULL). The first of a name wins; later ones
 * are not listed. Returns how many were found (up to max). */
size_t mb_rpc_discover(const char *lua_dir, struct mb_rpc_found *out, size_t max);
/* One by name; false when there is none. */
bool mb_rpc_find(const char *name, const char *lua_dir, struct mb_rpc_found *out);
/* Whether an external or Lua driver of a built-in's name may replace it
 * (MOONBASE_DRIVERS_REPLACE=name,...: how the parity suites run the test
 * driver's external and Lua builds). */
bool mb_rpc_may_replace(const char *name);

/* The transport of one driver outside the binary. */
struct mb_rpc_backend {
    /* Calls method with params (a reference is taken); the result (a new
     * reference: the caller decrefs it) or NULL with err set. fds, when not
     * NULL, are the 3 descriptors of an exec. */
    mbj_t *(*call)(void *self, const char *method, mbj_t *params, const int *fds,
                   double timeout, mb_error **err);
    void (*free)(void *self);
};

/* The table of a driver outside the binary. d comes first: slots get back
 * to the rest through c->driver. */
struct mb_rpc_driver {
    struct mb_driver d;
    const struct mb_rpc_backend *backend;
    void *self;
    char *origin; /* its path */
    enum mb_rpc_kind kind;
    struct mb_setting *settings;
    char **methods;
    char **strings; /* every string the table points to, freed with it */
};

/* Initializes the driver through backend (the `initialize` call), checks
 * what it says against expected_name and builds its table, or NULL with err
 * set (the backend is freed then). */
struct mb_rpc_driver *mb_rpc_driver_new(const char *expected_name, const char *origin,
                                        enum mb_rpc_kind kind,
                                        const struct mb_rpc_backend *backend, void *self,
                                        mb_error **err);
void mb_rpc_driver_free(struct mb_rpc_driver *r);
/* Whether d is a driver outside the binary (then it is a struct mb_rpc_driver). */
bool mb_rpc_is(const struct mb_driver *d);

/* An external driver: its process started and initialized (one per name and
 * process, kept until exit), or NULL with err set. */
const struct mb_driver *mb_rpc_external(const struct mb_rpc_found *f, mb_error **err);

/* How long a driver may stay silent (seconds): MOONBASE_DRIVER_TIMEOUT, else 60. */
double mb_rpc_timeout(void);

/* JSON in and out of the engine's structures (rpc_json.c), shared by the
 * client and the server. */
mbj_t *mb_rpc_instance_json(const struct mb_instance *i);
/* Fills *i from j; strings point into j; the arrays are malloc'ed into
 * *nics / *mounts (free them). */
bool mb_rpc_instance_from(mbj_t *j, struct mb_instance *i, struct mb_nic **nics,
                          struct mb_mount_spec **mounts, mb_error **err);
mbj_t *mb_rpc_strv_json(char *const *v);
char **mb_rpc_strv_from(mbj_t *j, mb_error **err);
enum mb_error_code mb_rpc_code_of(const char *name);
/* A driver's progress message, on one line of a terminal's stderr as
 * "DRIVER: MESSAGE" (nothing when stderr is not a terminal). */
void mb_rpc_progress(const char *driver, const char *message);

/* Serves a driver table over JSON-RPC, requests from in, replies to out
 * (moonbase gives a driver one socket as both: exec's descriptors come with
 * its request). Returns the exit status for the process. */
int mb_rpc_serve(const struct mb_driver *d, int in, int out);

#endif
