/* Small parsers and validators shared by the engine and the CLI: sizes,
 * durations, instance names. */
#ifndef MB_UTIL_H
#define MB_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

/* "1024", "512M", "5G", "1.5GiB", "10k", "2TB": binary units (K = 1024), as
 * Multipass reads them. Result in bytes, below 2^63 (a Lua integer); rejects
 * negatives, junk, overflow. */
bool mb_size_parse(const char *s, uint64_t *bytes, mb_error **err);
/* "30", "30s", "1.5m", "2h", "14d" -> seconds. */
bool mb_duration_parse(const char *s, double *seconds, mb_error **err);
/* ^[a-z][a-z0-9-]{0,62}$, no trailing dash, not a reserved word. */
bool mb_name_valid(const char *name, mb_error **err);

#endif
