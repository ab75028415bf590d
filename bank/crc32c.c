/* CRC-32C (Castagnoli), the checksum of bank headers and slabs. Every slab
 * read is checked, so this sits on the decode path: the CPU's CRC
 * instruction is used where it has one (x86 SSE4.2 `crc32`, ARMv8 CRC
 * extension, present on every Snapdragon), chosen once at run time, with a
 * portable slicing-by-8 table version as the fallback and the reference. */
#include "bank.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define MKV_CRC_X86 1
#elif defined(__aarch64__) && defined(__GNUC__) && defined(__linux__)
#define MKV_CRC_ARM 1
#include <arm_acle.h>
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
#endif

static uint32_t crc_tab[8][256];
static uint32_t (*crc_impl)(uint32_t, const uint8_t *, size_t);
static const char *crc_name;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

/* c is the running (inverted) register in all three implementations. */
static uint32_t crc_sw(uint32_t c, const uint8_t *p, size_t n)
{
    while (n >= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        c = crc_tab[7][lo & 0xff] ^ crc_tab[6][(lo >> 8) & 0xff] ^ crc_tab[5][(lo >> 16) & 0xff] ^
            crc_tab[4][lo >> 24] ^ crc_tab[3][p[4]] ^ crc_tab[2][p[5]] ^ crc_tab[1][p[6]] ^ crc_tab[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--) c = (c >> 8) ^ crc_tab[0][(c ^ *p++) & 0xff];
    return c;
}

#if MKV_CRC_X86
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t c, const uint8_t *p, size_t n)
{
    uint64_t c64 = c;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t v;
        memcpy(&v, p, 8); /* little-endian load, any alignment */
        c64 = __builtin_ia32_crc32di(c64, v);
    }
    c = (uint32_t)c64;
    for (; n; p++, n--) c = __builtin_ia32_crc32qi(c, *p);
    return c;
}
#elif MKV_CRC_ARM
__attribute__((target("+crc"))) static uint32_t crc_hw(uint32_t c, const uint8_t *p, size_t n)
{
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __crc32cd(c, v);
    }
    for (; n; p++, n--) c = __crc32cb(c, *p);
    return c;
}
#endif

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        crc_tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++) crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 0xff];
    crc_impl = crc_sw;
    crc_name = "software (slicing-by-8)";
#if MKV_CRC_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) crc_impl = crc_hw, crc_name = "x86 sse4.2 crc32";
#elif MKV_CRC_ARM
    if (getauxval(AT_HWCAP) & HWCAP_CRC32) crc_impl = crc_hw, crc_name = "armv8 crc32c";
#endif
}

uint32_t mkv_crc32c(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, crc_init);
    return ~crc_impl(~crc, data, n);
}

uint32_t mkv_crc32c_portable(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, crc_init);
    return ~crc_sw(~crc, data, n);
}

const char *mkv_crc32c_impl(void)
{
    pthread_once(&crc_once, crc_init);
    return crc_name;
}
