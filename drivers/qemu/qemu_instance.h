/* An instance's QEMU at run time, shared by the driver's files: where its
 * files are, whether its process lives, its QMP socket, and stopping it.
 * Also the storage operations' entry points (qemu_storage.c). */
#ifndef MB_QEMU_INSTANCE_H
#define MB_QEMU_INSTANCE_H

#include <stdbool.h>
#include <sys/types.h>

#include "driver/driver.h"
#include "drivers/qemu/qemu_argv.h"
#include "drivers/qemu/qmp.h"

#define MB_QEMU_BIN "qemu-system-x86_64"
#define MB_QEMU_PATHLEN 4096

/* accel and cpu: by the connection's "accel" setting; "auto" is KVM when
 * this host's KVM runs a guest at KVM's speed (core/kvm.h, its verdict kept
 * for this boot), else TCG. c may be NULL (auto). */
void mb_qemu_host_facts(const struct mb_conn *c, struct mb_qemu_host *h);

/* <dir>/<name> into buf (MB_QEMU_PATHLEN bytes); "" if it does not fit. */
void mb_qemu_file(char *buf, const struct mb_instance *i, const char *name);
bool mb_qemu_has_file(const struct mb_instance *i, const char *name);
void mb_qemu_remove_file(const struct mb_instance *i, const char *name);
/* What a QEMU that is gone leaves behind: qemu.pid, qmp.sock. */
void mb_qemu_remove_runtime(const struct mb_instance *i);

/* Writes the NoCloud seed (<dir>/cidata.iso, label cidata) of the instance's
 * cloud-init documents; nothing when it has none. */
bool mb_qemu_write_seed(const struct mb_instance *i, mb_error **err);
/* The pid of this instance's live QEMU (qemu.pid, checked against
 * /proc/<pid>/cmdline; zombies are dead), or 0. */
pid_t mb_qemu_live_pid(const struct mb_instance *i);

struct mb_qmp *mb_qemu_qmp_open(const struct mb_instance *i, double timeout, mb_error **err);
/* Runs one QMP command (10 s); the reply is dropped unless ret is given. */
bool mb_qemu_qmp_do(struct mb_qmp *q, const char *cmd, const char *args, char **ret,
                    mb_error **err);
/* A top-level string member of a QMP reply. Caller frees. */
char *mb_qemu_reply_string(const char *json, const char *key);
/* query-status's "status". Caller frees. */
char *mb_qemu_qmp_status(struct mb_qmp *q, mb_error **err);
enum mb_state mb_qemu_map_status(const char *status);

/* A snapshot with memory that the next start resumes (written by restore,
 * read and removed by the start of either driver of the scope):
 * <dir>/resume.snapshot holds its tag. */
#define MB_QEMU_RESUME_FILE "resume.snapshot"
/* The pending snapshot's tag into tag (MB_SNAPSHOT_TAG_MAX + 1 bytes); false if none. */
bool mb_qemu_pending_resume(const struct mb_instance *i, char *tag);
bool mb_qemu_set_pending_resume(const struct mb_instance *i, const char *tag, mb_error **err);
/* Whether a saved state waits for the next start: suspend.state (the QEMU
 * driver's) or a pending snapshot (the scope's). */
bool mb_qemu_has_saved_state(const struct mb_instance *i);

/* Ends pid: QMP quit, then SIGKILL; reaps it if it is our child. */
bool mb_qemu_force_stop(const struct mb_instance *i, pid_t pid, mb_error **err);

/* The node name of the overlay's format layer in the running QEMU (QMP
 * query-block, device "disk0"). Caller frees. */
char *mb_qemu_disk_node(struct mb_qmp *q, mb_error **err);

/* qemu_storage.c */
bool mb_qemu_snapshot_take(struct mb_conn *c, const struct mb_instance *i, const char *snap,
                           unsigned flags, mb_error **err);
bool mb_qemu_snapshot_restore(struct mb_conn *c, const struct mb_instance *i, const char *snap,
                              unsigned flags, mb_error **err);
bool mb_qemu_snapshot_delete(struct mb_conn *c, const struct mb_instance *i, const char *snap,
                             unsigned flags, mb_error **err);
struct mb_snapshot *mb_qemu_snapshot_list(struct mb_conn *c, const struct mb_instance *i,
                                          unsigned flags, mb_error **err);
/* The snapshot tag of the disk, or NULL with MB_ERR_NOT_FOUND (callers use it
 * to check a tag before acting). *out is a copy (free its name). */
bool mb_qemu_snapshot_find(const struct mb_instance *i, const char *tag, struct mb_snapshot *out,
                           mb_error **err);
bool mb_qemu_clone(struct mb_conn *c, const struct mb_instance *i, const struct mb_instance *t,
                   unsigned flags, mb_error **err);
bool mb_qemu_rename(struct mb_conn *c, const struct mb_instance *i, const struct mb_instance *t,
                    unsigned flags, mb_error **err);
bool mb_qemu_resize_disk(struct mb_conn *c, const struct mb_instance *i, uint64_t bytes,
                         unsigned flags, mb_error **err);
bool mb_qemu_mount_native(struct mb_conn *c, const struct mb_instance *i,
                          const struct mb_mount_spec *m,
                          unsigned flags, mb_error **err);
bool mb_qemu_umount_native(struct mb_conn *c, const struct mb_instance *i,
                           const struct mb_mount_spec *m,
                           unsigned flags, mb_error **err);

#endif
