/* Fuzz the C client's message parser (built with -fsanitize=address,undefined by the test):
 * malformed, truncated and oversized messages must give an error code, never a crash, a leak or
 * undefined behaviour. Seeds are the protocol vectors; mutations are deterministic.
 *
 *   fuzz ITERATIONS SEED_FILE...
 * prints "accepted N rejected M" (both must be non-zero for the run to have tested anything).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "slot.h"

static uint64_t state = 0x243F6A8885A308D3ull;
static uint64_t next(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static long accepted, rejected;

static void check(const uint8_t *data, size_t len)
{
    for (int side = 0; side < 2; side++) {
        dc_message m;
        const char *why = NULL;
        /* The exact-size copy lets the address sanitizer catch any read past the end. */
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, data, len);
        int code = dc_check_message(copy, len, DC_MAX_CONTROL_PAYLOAD, side, &m, &why);
        if (code == 0) {
            accepted++;
            /* Touch every field the way the client does. */
            char text[64];
            dc_text(&m, "message", text, sizeof text);
            (void)dc_uint(&m, "session");
            cb_free(&m.fields);
        } else {
            if (!why || dc_code_name(code) == NULL) { fprintf(stderr, "bad error report\n"); abort(); }
            rejected++;
        }
        free(copy);
    }
    if (len >= DC_SLOT_HEADER_SIZE) {
        dc_slot_header h;
        const char *why;
        if (dc_slot_unpack(data, &h) == 0) (void)dc_slot_check(&h, 4, 4, 3, 4, 1 << 20, &why);
    }
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    fclose(f);
    return buf;
}

static void set_length(uint8_t *msg, size_t len)
{
    uint32_t n = (uint32_t)(len - DC_HEADER_SIZE);
    for (int k = 0; k < 4; k++) msg[12 + k] = (uint8_t)(n >> (8 * k));
}

static void crafted(void)
{
    /* Nesting 17 deep, a huge array count, a huge text length, an oversized header. */
    uint8_t deep[DC_HEADER_SIZE + 64];
    memset(deep, 0, sizeof deep);
    memcpy(deep, "DCVS\x01\x86", 6);
    size_t n = DC_HEADER_SIZE;
    deep[n++] = 0xA1; deep[n++] = 0x61; deep[n++] = 'x';
    for (int i = 0; i < 20; i++) deep[n++] = 0x81;
    deep[n++] = 0x00;
    set_length(deep, n);
    check(deep, n);
    uint8_t huge[] = {'D', 'C', 'V', 'S', 1, 0x86, 0, 0, 1, 0, 0, 0, 10, 0, 0, 0,
                      0xA1, 0x61, 'x', 0x9B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    set_length(huge, sizeof huge);
    check(huge, sizeof huge);
    huge[19] = 0x7B; /* a text of 2^64-1 bytes */
    check(huge, sizeof huge);
    huge[19] = 0x5A; huge[20] = 0xFF; /* bytes of 4 GiB */
    check(huge, sizeof huge);
    uint8_t over[DC_HEADER_SIZE] = {'D', 'C', 'V', 'S', 1, 0x81, 0, 0, 1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF};
    check(over, sizeof over);
}

int main(int argc, char **argv)
{
    if (argc < 3) return 2;
    long iterations = atol(argv[1]);
    int n_seeds = argc - 2;
    uint8_t **seeds = calloc((size_t)n_seeds, sizeof *seeds);
    size_t *lens = calloc((size_t)n_seeds, sizeof *lens);
    for (int i = 0; i < n_seeds; i++) {
        seeds[i] = read_file(argv[2 + i], &lens[i]);
        if (!seeds[i]) return 2;
        for (size_t cut = 0; cut <= lens[i]; cut++) check(seeds[i], cut); /* every truncation */
    }
    crafted();
    uint8_t *buf = malloc(1 << 16);
    for (long it = 0; it < iterations; it++) {
        int s = (int)(next() % (uint64_t)n_seeds);
        size_t len = lens[s] < (1 << 15) ? lens[s] : (1 << 15);
        memcpy(buf, seeds[s], len);
        int edits = 1 + (int)(next() % 6);
        for (int e = 0; e < edits && len; e++) {
            size_t at = next() % len;
            switch (next() % 7) {
            case 0: buf[at] ^= (uint8_t)(1u << (next() % 8)); break;              /* flip a bit */
            case 1: buf[at] = (uint8_t)next(); break;                             /* a random byte */
            case 2: len = at; break;                                              /* truncate */
            case 3: if (len < (1 << 15)) { memmove(buf + at + 1, buf + at, len - at); buf[at] = (uint8_t)next(); len++; } break;
            case 4: memmove(buf + at, buf + at + 1, len - at - 1); len--; break;  /* delete */
            case 5: buf[at] = (uint8_t[]){0x18, 0x19, 0x1A, 0x1B, 0x5B, 0x7B, 0x9B, 0xBB, 0x9F, 0xFF}[next() % 10]; break;
            case 6: break;
            }
        }
        if (len >= DC_HEADER_SIZE && next() % 2) set_length(buf, len); /* keep the framing honest half the time */
        check(buf, len);
    }
    printf("accepted %ld rejected %ld\n", accepted, rejected);
    for (int i = 0; i < n_seeds; i++) free(seeds[i]);
    free(seeds);
    free(lens);
    free(buf);
    return 0;
}
