#include "pixels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

pixel_depth depth_from_name(const char *name)
{
    if (!name) return DEPTH_UNKNOWN;
    if (strcmp(name, "OfxBitDepthByte") == 0) return DEPTH_BYTE;
    if (strcmp(name, "OfxBitDepthShort") == 0) return DEPTH_SHORT;
    if (strcmp(name, "OfxBitDepthHalf") == 0) return DEPTH_HALF;
    if (strcmp(name, "OfxBitDepthFloat") == 0) return DEPTH_FLOAT;
    return DEPTH_UNKNOWN;
}

size_t depth_size(pixel_depth d)
{
    switch (d) {
    case DEPTH_BYTE: return 1;
    case DEPTH_SHORT: case DEPTH_HALF: return 2;
    case DEPTH_FLOAT: return 4;
    default: return 0;
    }
}

/* IEEE 754 binary16 <-> binary32, exact both ways for every half; float to half rounds to
 * nearest, ties to even (as numpy's astype(float16) does). */
float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3FF) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t exp = (x >> 23) & 0xFF, man = x & 0x7FFFFF;
    if (exp == 0xFF) return (uint16_t)(sign | 0x7C00 | (man ? 0x200 : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7C00);
    if (e <= 0) {
        if (e < -10) return sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t half = man >> shift, rest = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rest > mid || (rest == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (man >> 13), rest = man & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) half++; /* may carry into the exponent: right */
    return (uint16_t)(sign | half);
}

static float load(const uint8_t *p, pixel_depth d)
{
    switch (d) {
    case DEPTH_BYTE: return (float)p[0] / 255.0f;
    case DEPTH_SHORT: { uint16_t v; memcpy(&v, p, 2); return (float)v / 65535.0f; }
    case DEPTH_HALF: { uint16_t v; memcpy(&v, p, 2); return half_to_float(v); }
    case DEPTH_FLOAT: { float v; memcpy(&v, p, 4); return v; }
    default: return 0.0f;
    }
}

static void save(uint8_t *p, pixel_depth d, float v)
{
    switch (d) {
    case DEPTH_BYTE: {
        float c = v != v ? 0.0f : v < 0 ? 0.0f : v > 1 ? 1.0f : v;
        p[0] = (uint8_t)lrintf(c * 255.0f);
        break;
    }
    case DEPTH_SHORT: {
        float c = v != v ? 0.0f : v < 0 ? 0.0f : v > 1 ? 1.0f : v;
        uint16_t s = (uint16_t)lrintf(c * 65535.0f);
        memcpy(p, &s, 2);
        break;
    }
    case DEPTH_HALF: { uint16_t h = float_to_half(v); memcpy(p, &h, 2); break; }
    case DEPTH_FLOAT: memcpy(p, &v, 4); break;
    default: break;
    }
}

void image_to_rgba(const host_image *img, int rx1, int ry1, int w, int h, int premultiplied, float *rgba)
{
    size_t item = depth_size(img->depth), px = item * (size_t)img->channels;
    for (int row = 0; row < h; row++) {
        int y = ry1 + (h - 1 - row); /* top-down frame, bottom-up image */
        float *out = rgba + (size_t)row * w * 4;
        for (int col = 0; col < w; col++, out += 4) {
            int x = rx1 + col;
            if (y < img->y1 || y >= img->y2 || x < img->x1 || x >= img->x2) {
                out[0] = out[1] = out[2] = out[3] = 0.0f;
                continue;
            }
            const uint8_t *p = img->data + (long)(y - img->y1) * img->row_bytes + (size_t)(x - img->x1) * px;
            for (int c = 0; c < 3; c++) out[c] = load(p + c * item, img->depth);
            out[3] = img->channels == 4 ? load(p + 3 * item, img->depth) : 1.0f;
            if (premultiplied && img->channels == 4) {
                float a = out[3];
                for (int c = 0; c < 3; c++) out[c] = a > 0.0f ? out[c] / a : 0.0f;
            }
        }
    }
}

/* Weights of a tent filter for one axis: for each output sample, the first input index and the
 * normalised weights of the inputs it covers. */
typedef struct { int first, count; float *w; } taps;

static taps *axis_taps(int src, int dst, int *max_count)
{
    double scale = (double)src / dst, support = scale > 1.0 ? scale : 1.0;
    int span = (int)ceil(support) * 2 + 1;
    taps *t = calloc((size_t)dst, sizeof *t);
    float *weights = calloc((size_t)dst * (size_t)span, sizeof *weights);
    if (!t || !weights) { free(t); free(weights); return NULL; }
    *max_count = span;
    for (int i = 0; i < dst; i++) {
        double centre = (i + 0.5) * scale - 0.5;
        int lo = (int)floor(centre - support) + 1, hi = (int)ceil(centre + support) - 1;
        if (lo < 0) lo = 0;
        if (hi > src - 1) hi = src - 1;
        if (hi - lo + 1 > span) hi = lo + span - 1;
        t[i].first = lo;
        t[i].count = hi - lo + 1;
        t[i].w = weights + (size_t)i * span;
        double sum = 0;
        for (int k = 0; k < t[i].count; k++) {
            double d = fabs((lo + k) - centre) / support;
            double wgt = d < 1.0 ? 1.0 - d : 0.0;
            t[i].w[k] = (float)wgt;
            sum += wgt;
        }
        if (sum <= 0) { /* the nearest sample */
            int n = (int)lrint(centre);
            t[i].first = n < 0 ? 0 : n >= src ? src - 1 : n;
            t[i].count = 1;
            t[i].w[0] = 1.0f;
        } else {
            for (int k = 0; k < t[i].count; k++) t[i].w[k] = (float)(t[i].w[k] / sum);
        }
    }
    return t;
}

static void free_taps(taps *t)
{
    if (t) { free(t[0].w); free(t); }
}

void resample(const float *src, int sw, int sh, int channels, float *dst, int dw, int dh)
{
    if (sw == dw && sh == dh) {
        memcpy(dst, src, (size_t)sw * sh * channels * sizeof(float));
        return;
    }
    int mx, my;
    taps *tx = axis_taps(sw, dw, &mx), *ty = axis_taps(sh, dh, &my);
    float *mid = malloc((size_t)dw * sh * channels * sizeof(float));
    if (!tx || !ty || !mid) {
        memset(dst, 0, (size_t)dw * dh * channels * sizeof(float));
        free_taps(tx); free_taps(ty); free(mid);
        return;
    }
    for (int y = 0; y < sh; y++)
        for (int x = 0; x < dw; x++)
            for (int c = 0; c < channels; c++) {
                float v = 0;
                for (int k = 0; k < tx[x].count; k++)
                    v += tx[x].w[k] * src[((size_t)y * sw + tx[x].first + k) * channels + c];
                mid[((size_t)y * dw + x) * channels + c] = v;
            }
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++)
            for (int c = 0; c < channels; c++) {
                float v = 0;
                for (int k = 0; k < ty[y].count; k++)
                    v += ty[y].w[k] * mid[((size_t)(ty[y].first + k) * dw + x) * channels + c];
                dst[((size_t)y * dw + x) * channels + c] = v;
            }
    free_taps(tx);
    free_taps(ty);
    free(mid);
}

void store_pixel(const host_image *img, int x, int y, const float rgb[3], float a, int premultiply)
{
    size_t item = depth_size(img->depth);
    uint8_t *p = img->data + (long)(y - img->y1) * img->row_bytes + (size_t)(x - img->x1) * item * img->channels;
    for (int c = 0; c < 3; c++) save(p + c * item, img->depth, premultiply ? rgb[c] * a : rgb[c]);
    if (img->channels == 4) save(p + 3 * item, img->depth, a);
}

int image_to_planes(const host_image *img, int rx1, int ry1, int w, int h, int premultiplied, float *rgb,
                    float *alpha)
{
    size_t item = depth_size(img->depth), px = item * (size_t)img->channels;
    int opaque = 1;
    for (int row = 0; row < h; row++) {
        int y = ry1 + (h - 1 - row); /* top-down frame, bottom-up image */
        float *out = rgb ? rgb + (size_t)row * w * 3 : NULL;
        float *a_out = alpha ? alpha + (size_t)row * w : NULL;
        int inside_y = y >= img->y1 && y < img->y2;
        int x0 = rx1 < img->x1 ? img->x1 : rx1, x1 = rx1 + w > img->x2 ? img->x2 : rx1 + w;
        if (!inside_y || x0 >= x1) {
            if (out) memset(out, 0, (size_t)w * 3 * sizeof(float));
            if (a_out) memset(a_out, 0, (size_t)w * sizeof(float));
            opaque = 0;
            continue;
        }
        for (int x = rx1; x < x0; x++) { /* left of the bounds: transparent black */
            if (out) out[3 * (x - rx1)] = out[3 * (x - rx1) + 1] = out[3 * (x - rx1) + 2] = 0.0f;
            if (a_out) a_out[x - rx1] = 0.0f;
            opaque = 0;
        }
        const uint8_t *p = img->data + (long)(y - img->y1) * img->row_bytes + (size_t)(x0 - img->x1) * px;
        int four = img->channels == 4;
        if (img->depth == DEPTH_FLOAT) { /* the common case: loops the compiler vectorises */
            const float *restrict v = (const float *)(const void *)p;
            float *restrict o = out ? out + 3 * (x0 - rx1) : NULL, *restrict ao = a_out ? a_out + (x0 - rx1) : NULL;
            int n = x1 - x0, ones = 1;
            if (four)
                for (int i = 0; i < n; i++) ones &= v[4 * i + 3] == 1.0f;
            if (!ones) opaque = 0;
            if (o && four && premultiplied) {
                for (int i = 0; i < n; i++) {
                    float a = v[4 * i + 3];
                    o[3 * i] = a > 0.0f ? v[4 * i] / a : 0.0f;
                    o[3 * i + 1] = a > 0.0f ? v[4 * i + 1] / a : 0.0f;
                    o[3 * i + 2] = a > 0.0f ? v[4 * i + 2] / a : 0.0f;
                }
            } else if (o && four) {
                for (int i = 0; i < n; i++) {
                    o[3 * i] = v[4 * i];
                    o[3 * i + 1] = v[4 * i + 1];
                    o[3 * i + 2] = v[4 * i + 2];
                }
            } else if (o) {
                memcpy(o, v, (size_t)n * 3 * sizeof(float));
            }
            for (int i = 0; ao && i < n; i++) ao[i] = four ? v[4 * i + 3] : 1.0f;
        } else {
            for (int x = x0; x < x1; x++, p += px) {
                float a = four ? load(p + 3 * item, img->depth) : 1.0f;
                if (a != 1.0f) opaque = 0;
                if (out) {
                    float *o = out + 3 * (x - rx1);
                    for (int c = 0; c < 3; c++) {
                        float v = load(p + c * item, img->depth);
                        o[c] = premultiplied && four ? (a > 0.0f ? v / a : 0.0f) : v;
                    }
                }
                if (a_out) a_out[x - rx1] = a;
            }
        }
        for (int x = x1; x < rx1 + w; x++) { /* right of the bounds */
            if (out) out[3 * (x - rx1)] = out[3 * (x - rx1) + 1] = out[3 * (x - rx1) + 2] = 0.0f;
            if (a_out) a_out[x - rx1] = 0.0f;
            opaque = 0;
        }
    }
    return opaque;
}

void store_row(const host_image *img, int x, int y, int n, const float *rgb, const float *alpha, float alpha_value,
               int premultiply)
{
    if (n <= 0) return;
    size_t item = depth_size(img->depth), px = item * (size_t)img->channels;
    uint8_t *p = img->data + (long)(y - img->y1) * img->row_bytes + (size_t)(x - img->x1) * px;
    int four = img->channels == 4;
    if (img->depth == DEPTH_FLOAT && four && rgb) { /* the common case: loops the compiler vectorises */
        float *restrict o = (float *)(void *)p;
        const float *restrict c = rgb, *restrict al = alpha;
        if (al && premultiply) {
            for (int i = 0; i < n; i++) {
                float a = al[i];
                o[4 * i] = c[3 * i] * a;
                o[4 * i + 1] = c[3 * i + 1] * a;
                o[4 * i + 2] = c[3 * i + 2] * a;
                o[4 * i + 3] = a;
            }
        } else if (al) {
            for (int i = 0; i < n; i++) {
                o[4 * i] = c[3 * i];
                o[4 * i + 1] = c[3 * i + 1];
                o[4 * i + 2] = c[3 * i + 2];
                o[4 * i + 3] = al[i];
            }
        } else {
            float a = alpha_value, m = premultiply ? a : 1.0f;
            for (int i = 0; i < n; i++) {
                o[4 * i] = c[3 * i] * m;
                o[4 * i + 1] = c[3 * i + 1] * m;
                o[4 * i + 2] = c[3 * i + 2] * m;
                o[4 * i + 3] = a;
            }
        }
        return;
    }
    if (img->depth == DEPTH_FLOAT) {
        float *o = (float *)(void *)p;
        for (int i = 0; i < n; i++) {
            float a = alpha ? alpha[i] : alpha_value, m = premultiply ? a : 1.0f;
            float v[4] = {rgb ? rgb[3 * i] * m : 0.0f, rgb ? rgb[3 * i + 1] * m : 0.0f, rgb ? rgb[3 * i + 2] * m : 0.0f, a};
            memcpy(o, v, four ? 16 : 12);
            o += img->channels;
        }
        return;
    }
    for (int i = 0; i < n; i++, p += px) {
        float a = alpha ? alpha[i] : alpha_value, m = premultiply ? a : 1.0f;
        for (int c = 0; c < 3; c++) save(p + c * item, img->depth, rgb ? rgb[3 * i + c] * m : 0.0f);
        if (four) save(p + 3 * item, img->depth, a);
    }
}
