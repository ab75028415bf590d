/* What a bench result ran on (meta.h). */
#include "meta.h"

#include <string.h>

#include "json.h"

#ifndef MKV_BENCH_VERSION
#define MKV_BENCH_VERSION "unknown"
#endif
#include "commit.h" /* MKV_BENCH_COMMIT: generated at every build (bench/commit.cmake) */

const char *mkv_bench_version(void) { return MKV_BENCH_VERSION; }
const char *mkv_bench_commit(void) { return MKV_BENCH_COMMIT; }

static void json_str(FILE *f, const char *s)
{
    if (!s) s = "";
    mkv_json_print_str(f, s, strlen(s));
}

static void api_version(uint32_t v, char *buf, size_t cap)
{
    snprintf(buf, cap, "%u.%u.%u", (v >> 22) & 0x7fu, (v >> 12) & 0x3ffu, v & 0xfffu);
}

void mkv_bench_print_meta_json(FILE *f, const mkv_device *dev)
{
    mkv_device_info di;
    mkv_device_get_info(dev, &di);
    char api[32];
    api_version(di.api_version, api, sizeof api);
    fprintf(f, "\"device\": ");
    json_str(f, mkv_device_name(dev));
    fprintf(f, ", \"driver\": ");
    json_str(f, mkv_device_driver(dev));
    fprintf(f,
            ", \"device_info\": {\"vendor_id\": %u, \"device_id\": %u, \"driver_id\": %u, \"driver_version\": %u, "
            "\"api_version\": \"%s\", \"subgroup_size\": %u, \"cpu\": %s, \"uma\": %s}, \"mekivk_version\": ",
            di.vendor_id, di.device_id, di.driver_id, di.driver_version, api, di.subgroup_size, di.cpu ? "true" : "false",
            di.uma ? "true" : "false");
    json_str(f, MKV_BENCH_VERSION);
    fprintf(f, ", \"commit\": ");
    json_str(f, MKV_BENCH_COMMIT);
    fprintf(f, ", \"tuning\": {\"source\": ");
    json_str(f, di.tuning_source);
    fprintf(f, ", \"row\": ");
    json_str(f, di.tuning_row);
    fprintf(f, "}, ");
}

void mkv_bench_print_meta_text(FILE *f, const mkv_device *dev)
{
    mkv_device_info di;
    mkv_device_get_info(dev, &di);
    char api[32];
    api_version(di.api_version, api, sizeof api);
    fprintf(f,
            "mekivk %s (%s); Vulkan %s, vendor 0x%04x device 0x%04x driver id %u version %u, subgroup %u%s%s; "
            "tuning: %s (%s)\n",
            MKV_BENCH_VERSION, MKV_BENCH_COMMIT, api, di.vendor_id, di.device_id, di.driver_id, di.driver_version,
            di.subgroup_size, di.cpu ? ", CPU" : "", di.uma ? ", unified memory" : "", di.tuning_source ? di.tuning_source : "",
            di.tuning_row ? di.tuning_row : "");
}
