/* The CLI's client of the daemon (client.c): moonbase.engine.client, and its
 * two decoders of what the daemon sends, exposed for the fuzz target. */
#ifndef MB_DAEMON_CLIENT_H
#define MB_DAEMON_CLIENT_H

#include <lua.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/strbuf.h"

/* Where decoded messages go: stdout/stderr frames to fds 1 and 2, the result
 * frame into result (and *done set). */
struct mb_client_sink {
    struct mb_strbuf *result;
    bool *done;
};

/* Opaque decoder states (zero-initialised, sizes generous). */
struct mb_client_framer {
    void *p[8];
};
struct mb_client_ws {
    void *p[8];
};

/* A framer whose result frame goes into result; free() its buffers after. */
void mb_client_framer_init(struct mb_client_framer *f, struct mb_strbuf *result);
void mb_client_framer_free(struct mb_client_framer *f);
/* A zeroed mb_client_ws starts a stream; this frees what it holds. */
void mb_client_ws_free(struct mb_client_ws *ws);

/* Length-prefixed frames of an HTTP body; returns bytes consumed or
 * (size_t)-1 when the input is not a frame stream. */
size_t mb_client_frames_feed(struct mb_client_framer *f, const char *d, size_t n);
/* WebSocket frames from the server; returns bytes consumed or -1. */
long mb_client_ws_feed(struct mb_client_ws *ws, struct mb_client_sink *sink,
                       const unsigned char *in, size_t n);

int luaopen_moonbase_engine_client(lua_State *L);

#endif
