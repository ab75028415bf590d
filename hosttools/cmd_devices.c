/* mekivk devices */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int mkv_cmd_devices(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: mekivk devices\n\nLists every Vulkan device with the features mekivk uses: fp16 arithmetic,\n"
                   "16/8-bit storage, subgroup size, timestamps, unified memory, the storage-buffer\n"
                   "range and memory types; then whether mekivk can use it (or why not) and the\n"
                   "row of the built-in tuning table it gets (MKV_TUNING=file replaces the row).\n"
                   "The index or a name substring picks one for other commands (--device, or\n"
                   "MKV_DEVICE).\n");
            return 0;
        }
        fprintf(stderr, "mekivk devices: unknown option '%s' (see --help)\n", argv[i]);
        return 2;
    }
    mkv_error err = {0};
    if (mkv_devices_print(stdout, &err)) return cli_fail("devices", &err);
    return 0;
}
