/* Parsers for the values users type: sizes, durations, instance names. */
#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Words of moonbase's own setting keys (local.<word>...); drivers' names,
 * which local.<driver>.* keys use, are reserved by moonbase._core.instances. */
static const char *const reserved_names[] = {
    "all", "default", "none", "driver", "image", "network", "bridged-network",
    "primary-name", NULL,
};

bool mb_size_parse(const char *s, uint64_t *bytes, mb_error **err)
{
    if (s == NULL || *s == '\0' || isspace((unsigned char)*s) || *s == '-' || *s == '+') {
        mb_error_set(err, MB_ERR_USAGE, "invalid size \"%s\": use a number with an optional "
                     "unit, e.g. 512M, 5G or 1.5GiB", s ? s : "");
        return false;
    }
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(v) || v < 0 || (end[0] && !isalpha((unsigned char)*end))
        || strpbrk(s, "xXpP") != NULL) {
        mb_error_set(err, MB_ERR_USAGE, "invalid size \"%s\": use a number with an optional "
                     "unit, e.g. 512M, 5G or 1.5GiB", s);
        return false;
    }
    static const struct { const char *unit; double mult; } units[] = {
        {"", 1}, {"b", 1},
        {"k", 1024.0}, {"kb", 1024.0}, {"kib", 1024.0},
        {"m", 1048576.0}, {"mb", 1048576.0}, {"mib", 1048576.0},
        {"g", 1073741824.0}, {"gb", 1073741824.0}, {"gib", 1073741824.0},
        {"t", 1099511627776.0}, {"tb", 1099511627776.0}, {"tib", 1099511627776.0},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(end, units[i].unit) != 0)
            continue;
        double b = v * units[i].mult;
        if (b >= 9223372036854775808.0) { /* 2^63: sizes are signed 64-bit in Lua */
            mb_error_set(err, MB_ERR_USAGE, "invalid size \"%s\": too large", s);
            return false;
        }
        if (units[i].mult == 1 && b != floor(b)) {
            mb_error_set(err, MB_ERR_USAGE, "invalid size \"%s\": bytes must be a whole number",
                         s);
            return false;
        }
        *bytes = (uint64_t)b;
        return true;
    }
    mb_error_set(err, MB_ERR_USAGE, "invalid size \"%s\": unknown unit \"%s\" (use K, M, G or T)",
                 s, end);
    return false;
}

bool mb_duration_parse(const char *s, double *seconds, mb_error **err)
{
    char *end = NULL;
    errno = 0;
    double v = s && *s && !isspace((unsigned char)*s) ? strtod(s, &end) : -1;
    if (s == NULL || end == NULL || end == s || errno != 0 || !isfinite(v) || v < 0
        || strpbrk(s, "xXpP") != NULL) {
        mb_error_set(err, MB_ERR_USAGE, "invalid duration \"%s\": use a number with an optional "
                     "unit, e.g. 30s, 5m, 2h or 14d", s ? s : "");
        return false;
    }
    double mult;
    if (*end == '\0' || strcmp(end, "s") == 0)
        mult = 1;
    else if (strcmp(end, "ms") == 0)
        mult = 0.001;
    else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        mult = 60;
    else if (strcmp(end, "h") == 0)
        mult = 3600;
    else if (strcmp(end, "d") == 0)
        mult = 86400;
    else {
        mb_error_set(err, MB_ERR_USAGE, "invalid duration \"%s\": unknown unit \"%s\" "
                     "(use s, m, h or d)", s, end);
        return false;
    }
    *seconds = v * mult;
    return true;
}

bool mb_name_valid(const char *name, mb_error **err)
{
    size_t len = name ? strlen(name) : 0;
    bool ok = len >= 1 && len <= 63 && name[0] >= 'a' && name[0] <= 'z' && name[len - 1] != '-';
    for (size_t i = 0; ok && i < len; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    }
    if (!ok) {
        mb_error_set(err, MB_ERR_USAGE, "invalid instance name \"%s\": use 1-63 lowercase "
                     "letters, digits and dashes, starting with a letter and not ending "
                     "with a dash", name ? name : "");
        return false;
    }
    for (const char *const *r = reserved_names; *r; r++)
        if (strcmp(name, *r) == 0) {
            mb_error_set(err, MB_ERR_USAGE, "invalid instance name \"%s\": it is a reserved "
                         "word (pick another name)", name);
            return false;
        }
    return true;
}
