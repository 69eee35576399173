#include "slot.h"

#include <string.h>

static uint64_t get(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; k--) v = (v << 8) | p[k];
    return v;
}

static void put(uint8_t *p, uint64_t v, int n)
{
    for (int k = 0; k < n; k++) p[k] = (uint8_t)(v >> (8 * k));
}

int dc_slot_unpack(const uint8_t in[DC_SLOT_HEADER_SIZE], dc_slot_header *h)
{
    if (memcmp(in, "DVSL", 4) != 0 || get(in + 4, 2) != 1 || get(in + 6, 2) != DC_SLOT_HEADER_SIZE)
        return -1;
    h->generation = (uint32_t)get(in + 8, 4);
    h->dtype = in[12];
    h->layout = in[13];
    h->channels = (uint16_t)get(in + 14, 2);
    h->sequence = get(in + 16, 8);
    h->frame = get(in + 24, 8);
    h->width = (uint32_t)get(in + 32, 4);
    h->height = (uint32_t)get(in + 36, 4);
    h->row_stride = (uint32_t)get(in + 40, 4);
    h->data_offset = (uint32_t)get(in + 44, 4);
    h->plane_stride = get(in + 48, 8);
    h->capacity = get(in + 56, 8);
    h->matrix = in[64];
    h->transfer = in[65];
    h->primaries = in[66];
    h->range = in[67];
    return 0;
}

void dc_slot_pack(const dc_slot_header *h, uint8_t out[DC_SLOT_HEADER_SIZE])
{
    memset(out, 0, DC_SLOT_HEADER_SIZE);
    memcpy(out, "DVSL", 4);
    put(out + 4, 1, 2);
    put(out + 6, DC_SLOT_HEADER_SIZE, 2);
    put(out + 8, h->generation, 4);
    out[12] = h->dtype;
    out[13] = h->layout;
    put(out + 14, h->channels, 2);
    put(out + 16, h->sequence, 8);
    put(out + 24, h->frame, 8);
    put(out + 32, h->width, 4);
    put(out + 36, h->height, 4);
    put(out + 40, h->row_stride, 4);
    put(out + 44, h->data_offset, 4);
    put(out + 48, h->plane_stride, 8);
    put(out + 56, h->capacity, 8);
    out[64] = h->matrix;
    out[65] = h->transfer;
    out[66] = h->primaries;
    out[67] = h->range;
}

size_t dc_dtype_size(int dtype)
{
    switch (dtype) {
    case DC_DTYPE_U8: return 1;
    case DC_DTYPE_U16: case DC_DTYPE_F16: return 2;
    case DC_DTYPE_F32: return 4;
    }
    return 0;
}

int dc_dtype_code(const char *name)
{
    static const char *names[] = {"u8", "u16", "f16", "f32"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return i + 1;
    return 0;
}

int dc_slot_check(const dc_slot_header *h, uint32_t width, uint32_t height, int channels, int dtype,
                  size_t slot_bytes, const char **why)
{
    size_t item = dc_dtype_size(h->dtype);
    if (h->dtype != dtype || h->layout != DC_LAYOUT_INTERLEAVED || h->channels != channels
        || h->width != width || h->height != height) {
        *why = "slot format differs from the session's";
        return -1;
    }
    uint64_t row = (uint64_t)width * (uint64_t)channels * item;
    if (h->row_stride < row || h->data_offset < DC_SLOT_HEADER_SIZE) {
        *why = "slot strides are inconsistent";
        return -1;
    }
    uint64_t extent = (uint64_t)(height - 1) * h->row_stride + row;
    if (h->data_offset + extent > slot_bytes || extent > h->capacity) {
        *why = "slot header describes pixels outside the slot";
        return -1;
    }
    return 0;
}
