/* Pixel slots (docs/protocol.md section 5): the 128-byte header at the start of each slot of an
 * engine-owned shared-memory segment, and the checks a reader makes before touching pixels. */
#ifndef DCVSR_SLOT_H
#define DCVSR_SLOT_H

#include <stddef.h>
#include <stdint.h>

#define DC_SLOT_HEADER_SIZE 128

enum { DC_DTYPE_U8 = 1, DC_DTYPE_U16 = 2, DC_DTYPE_F16 = 3, DC_DTYPE_F32 = 4 };
enum { DC_LAYOUT_INTERLEAVED = 0, DC_LAYOUT_PLANAR = 1 };

typedef struct {
    uint32_t generation;
    uint8_t dtype, layout;
    uint16_t channels;
    uint64_t sequence, frame;
    uint32_t width, height, row_stride, data_offset;
    uint64_t plane_stride, capacity;
    uint8_t matrix, transfer, primaries, range;
} dc_slot_header;

/* 0, or -1 when the bytes are not a version-1 slot header. */
int dc_slot_unpack(const uint8_t in[DC_SLOT_HEADER_SIZE], dc_slot_header *h);
void dc_slot_pack(const dc_slot_header *h, uint8_t out[DC_SLOT_HEADER_SIZE]);
size_t dc_dtype_size(int dtype);   /* bytes per sample, 0 for an unknown code */
int dc_dtype_code(const char *name); /* "u8" -> 1 ...; 0 when unknown */
/* Check that the header describes tight interleaved pixels of the expected geometry lying inside
 * a slot of slot_bytes: 0, or -1 with why set. */
int dc_slot_check(const dc_slot_header *h, uint32_t width, uint32_t height, int channels, int dtype,
                  size_t slot_bytes, const char **why);

#endif
