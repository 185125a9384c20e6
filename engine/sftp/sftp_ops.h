/* The SFTP server's operations, one per request type (sftp_ops.c), called
 * by the server's dispatcher (sftp_server.c) with the request's id and the
 * reply to write. Private to the server's files. */
#ifndef MB_SFTP_OPS_H
#define MB_SFTP_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "sftp/sftp_session.h"
#include "sftp/sftp_wire.h"

enum two { TWO_RENAME, TWO_POSIX_RENAME, TWO_LINK, TWO_SYMLINK };

void sftp_op_open(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o);
void sftp_op_read(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o);
void sftp_op_write(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o);
void sftp_op_stat(mb_sftp_server *s, struct msg *m, uint32_t id, bool follow, struct out *o);
void sftp_op_fstat(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o);
void sftp_op_setstat(mb_sftp_server *s, struct msg *m, uint32_t id, bool by_handle,
                     struct out *o);
void sftp_op_opendir(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o);
void sftp_op_readdir(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o);
void sftp_op_close(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o);
void sftp_op_name(mb_sftp_server *s, struct msg *m, uint32_t id, int type, struct out *o);
void sftp_op_two(mb_sftp_server *s, struct msg *m, uint32_t id, enum two what, struct out *o);
void sftp_op_readlink(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o);
void sftp_op_realpath(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o);
void sftp_op_extended(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o);

#endif
