/* The registry: the drivers of drivers/drivers.def as mb_driver_registry. A
 * driver built into the binary names its table; one that lives in the plugin
 * names its table's symbol, with its scope and marker file, so that the
 * shared scope can tell whether it holds an instance without loading the
 * plugin (engine/driver/driver.c checks that the table agrees). */
#include "driver/driver.h"

#include <stddef.h>

#define BUILTIN(n) extern const struct mb_driver mb_driver_##n;
#define PLUGIN(n, scope, marker) static const char *const markers_##n[] = {marker, NULL};
#define PLANNED(n, why)
#include "drivers/drivers.def"
#undef BUILTIN
#undef PLUGIN
#undef PLANNED

const struct mb_driver_entry mb_driver_registry[] = {
#define BUILTIN(n) {.name = #n, .table = &mb_driver_##n},
#define PLUGIN(n, sc, marker) \
    {.name = #n, .symbol = "mb_driver_" #n, .scope = sc, .markers = markers_##n},
#define PLANNED(n, why) {.name = #n, .unavailable = why},
#include "drivers/drivers.def"
    {0},
};
