/* Pixels between OpenFX images and the engine's frames: sample types, bottom-up rows with any row
 * stride, straight (unpremultiplied) colour, and a plain resampler. No colour maths here: the
 * frames' colour is described to the engine with H.273 tags and converted there. */
#ifndef DCVSR_PIXELS_H
#define DCVSR_PIXELS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { DEPTH_BYTE, DEPTH_SHORT, DEPTH_HALF, DEPTH_FLOAT, DEPTH_UNKNOWN } pixel_depth;

/* An OpenFX image as the host hands it: data is the pixel at (bounds x1, y1), the bottom-left;
 * rows go up by row_bytes, which may be negative or padded. */
typedef struct {
    uint8_t *data;
    int x1, y1, x2, y2;   /* bounds, pixel coordinates, x1 <= x < x2 */
    long row_bytes;
    int channels;         /* 3 RGB, 4 RGBA */
    pixel_depth depth;
} host_image;

pixel_depth depth_from_name(const char *name);
size_t depth_size(pixel_depth d);
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);

/* Read the image into a top-down RGBA float frame covering the rectangle (rx1, ry1)..(rx1+w, ry1+h)
 * of pixel coordinates; pixels outside the image's bounds are transparent black. A premultiplied
 * image is made straight (colour / alpha where alpha > 0). RGB images get alpha 1. */
void image_to_rgba(const host_image *img, int rx1, int ry1, int w, int h, int premultiplied, float *rgba);

/* Read the rectangle like image_to_rgba, but straight into tight RGB rows (rgb, may be NULL) and
 * an alpha plane (alpha, may be NULL): one pass, no intermediate frame. Returns 1 when every
 * alpha read is exactly 1 (an opaque frame), else 0. */
int image_to_planes(const host_image *img, int rx1, int ry1, int w, int h, int premultiplied, float *rgb,
                    float *alpha);

/* Resample a top-down frame of `channels` floats per pixel from sw x sh to dw x dh with a tent
 * filter as wide as the scale (bilinear when enlarging, an area-like average when reducing). */
void resample(const float *src, int sw, int sh, int channels, float *dst, int dw, int dh);

/* Store one pixel (straight colour rgb, alpha a) into the image at pixel (x, y), converting to
 * its depth; premultiply multiplies the colour by alpha first. Integer depths round and clamp. */
void store_pixel(const host_image *img, int x, int y, const float rgb[3], float a, int premultiply);

/* Store n pixels of row y from x on: colour from tight RGB (NULL: black), alpha from a plane
 * (NULL: alpha_value for every pixel), premultiplied on request. The depth is decided once per row. */
void store_row(const host_image *img, int x, int y, int n, const float *rgb, const float *alpha, float alpha_value,
               int premultiply);

#endif
