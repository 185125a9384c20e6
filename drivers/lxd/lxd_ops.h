/* What the LXD driver asks of LXD, one REST exchange (or operation) each:
 * the server's state, images by fingerprint, instances and their state,
 * devices, config keys, files. The driver table (lxd_driver.c) is built on
 * these; each is tested against the fake LXD (tests/unit/test_lxd_ops.c) and
 * against the real daemon in the e2e suites. */
#ifndef MB_LXD_OPS_H
#define MB_LXD_OPS_H

#include "core/json.h"
#include <stdbool.h>
#include <stddef.h>

#include "driver/driver.h"
#include "drivers/lxd/lxd_client.h"
#include "drivers/lxd/lxd_json.h"

/* Is this LXD usable for instances of that type: it answers, trusts us, has
 * a storage pool in its default profile (lxd init ran), and (vm) can run
 * virtual machines. OK with a one-line description, or DECLINED with the
 * reason and what to run. */
enum mb_probe_result mb_lxd_probe(struct mb_lxd *c, bool vm, char **reason, mb_error **err);

/* The storage pool of the default profile's root disk. */
char *mb_lxd_default_pool(struct mb_lxd *c, mb_error **err);

/* Does LXD hold the image with this fingerprint. */
bool mb_lxd_has_image(struct mb_lxd *c, const char *fingerprint, bool *has, mb_error **err);
/* Uploads the image unless LXD has it (by fingerprint); an upload that
 * another client finished first counts as done. */
bool mb_lxd_image_ensure(struct mb_lxd *c, const char *fingerprint, const char *metadata,
                         const char *rootfs, bool vm, mb_lxd_progress_fn progress, void *ud,
                         mb_error **err);

/* Makes the instance of s (from its image, or a copy of s->copy_of). */
bool mb_lxd_instance_create(struct mb_lxd *c, const struct mb_lxd_spec *s,
                            mb_lxd_progress_fn progress, void *ud, mb_error **err);
/* POST /1.0/instances/NAME {"name": to}: a stopped instance (LXD refuses a
 * running one) takes its snapshots, devices and config along. */
bool mb_lxd_instance_rename(struct mb_lxd *c, const char *name, const char *to,
                            mb_error **err);
/* PUT .../state: "start", "stop" (timeout seconds, force), "freeze",
 * "unfreeze", "restart". */
bool mb_lxd_instance_action(struct mb_lxd *c, const char *name, const char *action,
                            int timeout, bool force, mb_error **err);
/* The state LXD reports; *pid (may be NULL) its init's pid on LXD's host
 * while it runs, else 0. An instance LXD does not know, or that another
 * moonbase home or someone else made (owner, when not NULL, differs from its
 * MB_LXD_OWNER_KEY), is MB_STATE_ABSENT: moonbase leaves it alone. */
enum mb_state mb_lxd_instance_state(struct mb_lxd *c, const char *name, const char *owner,
                                    long *pid, mb_error **err);
/* The same from the connection's listing of every instance (mb_lxd_listed):
 * one request for a whole `list`. */
enum mb_state mb_lxd_listed_state(struct mb_lxd *c, const char *name, const char *owner,
                                  mb_error **err);
bool mb_lxd_instance_delete(struct mb_lxd *c, const char *name, mb_error **err);
/* The global IPv4 addresses of its NICs (eth0 first), from LXD's state. */
char **mb_lxd_instance_ipv4(struct mb_lxd *c, const char *name, mb_error **err);
char *mb_lxd_instance_console(struct mb_lxd *c, const char *name, size_t max,
                              mb_error **err);

/* Adds (or replaces) a device; LXD plugs it into a running container. */
bool mb_lxd_device_set(struct mb_lxd *c, const char *name, const char *device, mbj_t *dev,
                       mb_error **err);
/* Removes a device (absent: nothing to do). */
bool mb_lxd_device_remove(struct mb_lxd *c, const char *name, const char *device,
                          mb_error **err);
/* An instance config key: value (caller frees; NULL and no error when unset). */
char *mb_lxd_config_get(struct mb_lxd *c, const char *name, const char *key, mb_error **err);
/* Sets (value) or unsets (NULL) an instance config key. */
bool mb_lxd_config_set(struct mb_lxd *c, const char *name, const char *key, const char *value,
                       mb_error **err);
/* A file of the instance (running or not): its bytes, NUL-terminated. */
char *mb_lxd_file_get(struct mb_lxd *c, const char *name, const char *path, size_t max,
                      mb_error **err);

#endif
