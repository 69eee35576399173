/* Render: one output frame through the engine. The engine asks for the source frames it needs
 * (NEED_SOURCE), which come from clipGetImage at their own times; the finished frame is written
 * straight from the engine's slot into the host's image (one copy each way). Colour is sent
 * straight (unpremultiplied) and upscaled by the engine; alpha is upscaled by a plain resampler
 * here and the colour premultiplied again. Every wait polls the host's abort(). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effect.h"
#include "pixels.h"

typedef struct {
    instance *in;
    const geometry *geo;
    double first;
    int premultiplied;        /* the source clip's colour is premultiplied */
    float *frame;             /* the source frame, RGBA, top-down */
    float *eng;               /* the same at the engine's size (when resized) */
    float *alpha;             /* alpha of the frame being rendered, at the fit size (or NULL) */
    host_image out;
    OfxRectI window;
    int format_error;         /* a depth or components the effect cannot take */
} job;

static int fail(dcvsr_error *err, int format, job *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->code = DCVSR_ERR_SOURCE;
    if (format) j->format_error = 1;
    return -1;
}

static int read_image(OfxPropertySetHandle h, host_image *img)
{
    char *depth = NULL, *components = NULL;
    void *data = NULL;
    int bounds[4] = {0, 0, 0, 0}, row = 0;
    g.prop->propGetPointer(h, kOfxImagePropData, 0, &data);
    g.prop->propGetIntN(h, kOfxImagePropBounds, 4, bounds);
    g.prop->propGetInt(h, kOfxImagePropRowBytes, 0, &row);
    g.prop->propGetString(h, kOfxImageEffectPropPixelDepth, 0, &depth);
    g.prop->propGetString(h, kOfxImageEffectPropComponents, 0, &components);
    img->data = data;
    img->x1 = bounds[0];
    img->y1 = bounds[1];
    img->x2 = bounds[2];
    img->y2 = bounds[3];
    img->row_bytes = row;
    img->depth = depth_from_name(depth);
    img->channels = components && strcmp(components, kOfxImageComponentRGBA) == 0 ? 4
                  : components && strcmp(components, kOfxImageComponentRGB) == 0 ? 3 : 0;
    return data && img->depth != DEPTH_UNKNOWN && img->channels ? 0 : -1;
}

/* Fetch the source image at clip time t; NULL (err set) when the host has none or it has a
 * pixel format the effect cannot take. Release it with clipReleaseImage. */
static OfxPropertySetHandle fetch(job *j, OfxTime t, host_image *img, dcvsr_error *err)
{
    OfxPropertySetHandle h = NULL;
    if (g.effect->clipGetImage(j->in->source, t, NULL, &h) != kOfxStatOK || !h) {
        fail(err, 0, j, "the host gave no source frame at time %g", t);
        return NULL;
    }
    if (read_image(h, img)) {
        g.effect->clipReleaseImage(h);
        fail(err, 1, j, "the source frame at time %g has a pixel format the effect cannot take (it takes RGB or "
             "RGBA in 8-bit, 16-bit, half or float)", t);
        return NULL;
    }
    return h;
}

/* The source frame resized to the engine's size, RGBA (hosts that keep the project size). */
static const float *engine_sized(job *j, const host_image *img)
{
    const geometry *geo = j->geo;
    image_to_rgba(img, geo->src_x1, geo->src_y1, geo->src_w, geo->src_h, j->premultiplied, j->frame);
    resample(j->frame, geo->src_w, geo->src_h, 4, j->eng, geo->eng_w, geo->eng_h);
    return j->eng;
}

static int source(void *ctx, uint64_t frame, void *dst, size_t nbytes, dcvsr_error *err)
{
    job *j = ctx;
    const geometry *geo = j->geo;
    size_t n = (size_t)geo->eng_w * geo->eng_h;
    if (nbytes != n * 3 * sizeof(float)) return fail(err, 0, j, "the engine's source frame size differs");
    host_image img;
    OfxPropertySetHandle h = fetch(j, j->first + (double)frame, &img, err);
    if (!h) return -1;
    float *out = dst;
    if (!geo->fit) { /* one pass from the host's image into the engine's slot */
        image_to_planes(&img, geo->src_x1, geo->src_y1, geo->src_w, geo->src_h, j->premultiplied, out, NULL);
    } else {
        const float *rgba = engine_sized(j, &img);
        for (size_t i = 0; i < n; i++) {
            out[3 * i] = rgba[4 * i];
            out[3 * i + 1] = rgba[4 * i + 1];
            out[3 * i + 2] = rgba[4 * i + 2];
        }
    }
    g.effect->clipReleaseImage(h);
    return 0;
}

static int sink(void *ctx, uint64_t frame, const void *pixels, size_t nbytes, dcvsr_error *err)
{
    job *j = ctx;
    const geometry *geo = j->geo;
    (void)frame;
    if (nbytes != (size_t)geo->out_w * geo->out_h * 3 * sizeof(float))
        return fail(err, 0, j, "the engine's output frame size differs");
    const float *colour = pixels;
    float *fitted = NULL;
    if (geo->fit) {
        fitted = malloc((size_t)geo->fit_w * geo->fit_h * 3 * sizeof(float));
        if (!fitted) return fail(err, 0, j, "out of memory");
        resample(colour, geo->out_w, geo->out_h, 3, fitted, geo->fit_w, geo->fit_h);
        colour = fitted;
    }
    int premultiply = j->premultiplied && j->out.channels == 4;
    int fx0 = geo->dst_x1 + geo->fit_x, fx1 = fx0 + geo->fit_w; /* the picture's columns */
    int px0 = j->window.x1 > fx0 ? j->window.x1 : fx0, px1 = j->window.x2 < fx1 ? j->window.x2 : fx1;
    for (int y = j->window.y1; y < j->window.y2; y++) {
        int fy = (geo->fit_h - 1) - (y - geo->dst_y1 - geo->fit_y); /* top-down row in the fitted frame */
        if (fy < 0 || fy >= geo->fit_h || px0 >= px1) { /* bars and anything outside: transparent black */
            store_row(&j->out, j->window.x1, y, j->window.x2 - j->window.x1, NULL, NULL, 0.0f, 0);
            continue;
        }
        store_row(&j->out, j->window.x1, y, px0 - j->window.x1, NULL, NULL, 0.0f, 0);
        size_t at = (size_t)fy * geo->fit_w + (size_t)(px0 - fx0);
        store_row(&j->out, px0, y, px1 - px0, colour + 3 * at, j->alpha ? j->alpha + at : NULL, 1.0f, premultiply);
        store_row(&j->out, px1, y, j->window.x2 - px1, NULL, NULL, 0.0f, 0);
    }
    free(fitted);
    return 0;
}

static int aborted(void *ctx)
{
    job *j = ctx;
    return g.effect->abort(j->in->handle) != 0;
}

/* The alpha of the frame being rendered, resampled to the size its colour lands at; left NULL
 * (alpha 1 everywhere) when the frame is opaque. */
static int prepare_alpha(job *j, OfxTime t, dcvsr_error *err)
{
    const geometry *geo = j->geo;
    host_image img;
    OfxPropertySetHandle h = fetch(j, t, &img, err);
    if (!h) return -1;
    size_t n = (size_t)geo->eng_w * geo->eng_h;
    /* Most frames are opaque: look before copying their alpha out. */
    int opaque = !geo->fit && image_to_planes(&img, geo->src_x1, geo->src_y1, geo->src_w, geo->src_h, 0, NULL, NULL);
    if (opaque) {
        g.effect->clipReleaseImage(h);
        return 0;
    }
    float *a = malloc(n * sizeof(float));
    if (!a) {
        g.effect->clipReleaseImage(h);
        return fail(err, 0, j, "out of memory");
    }
    if (!geo->fit) {
        image_to_planes(&img, geo->src_x1, geo->src_y1, geo->src_w, geo->src_h, 0, NULL, a);
    } else {
        const float *rgba = engine_sized(j, &img);
        opaque = 1;
        for (size_t i = 0; i < n; i++) {
            a[i] = rgba[4 * i + 3];
            if (a[i] != 1.0f) opaque = 0;
        }
    }
    g.effect->clipReleaseImage(h);
    if (!opaque) {
        j->alpha = malloc((size_t)geo->fit_w * geo->fit_h * sizeof(float));
        if (!j->alpha) { free(a); return fail(err, 0, j, "out of memory"); }
        resample(a, geo->eng_w, geo->eng_h, 1, j->alpha, geo->fit_w, geo->fit_h);
    }
    free(a);
    return 0;
}

static const char *advice(int code)
{
    switch (code) {
    case DCVSR_ERR_START:
        return "Install dcvsr (its engine runs DC-VSR) or point DCVSR_ENGINE_CMD at it, then render again.";
    case DCVSR_ERR_GONE:
    case DCVSR_ERR_TIMEOUT:
        return "The engine stopped during the render; render again to start a new one (see its engine.log).";
    case DCVSR_ERR_RUNTIME:
        return "Fix the dcvsr runtime folder as said, then render again.";
    case DCVSR_ERR_ABORTED:
        return "The host cancelled the render.";
    case 202:
        return "Check the effect's parameters (and Advanced Settings).";
    case 401:
        return "The engine could not load its model: check the Model parameter (`dcvsr models list`).";
    case 201:
    case 203:
        return "The clip does not fit what the engine takes (its size or frame range).";
    default:
        return "";
    }
}

static OfxStatus finish(instance *in, OfxStatus status, const char *fmt, ...)
{
    if (!g.message) return status;
    if (status == kOfxStatOK) {
        g.message->clearPersistentMessage(in->handle);
        return status;
    }
    char text[2600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    g.message->setPersistentMessage(in->handle, kOfxMessageError, "", "%s", text);
    return status;
}

OfxStatus action_render(OfxImageEffectHandle effect, OfxPropertySetHandle in_args)
{
    instance *in = instance_of(effect);
    if (!in) return kOfxStatErrBadHandle;
    OfxTime t = 0;
    double scale[2] = {1, 1};
    int window[4] = {0, 0, 0, 0};
    g.prop->propGetDouble(in_args, kOfxPropTime, 0, &t);
    g.prop->propGetDoubleN(in_args, kOfxImageEffectPropRenderScale, 2, scale);
    g.prop->propGetIntN(in_args, kOfxImageEffectPropRenderWindow, 4, window);
    geometry geo;
    if (compute_geometry(in, t, scale[0], scale[1], &geo) != 0)
        return finish(in, kOfxStatFailed, "DC-VSR Upscale: the source has no frame at time %g.", t);
    double first, count, fps;
    source_range(in, &first, &count, &fps);
    if (t < first || t >= first + count)
        return finish(in, kOfxStatFailed, "DC-VSR Upscale: time %g is outside the source clip (%g..%g).", t, first,
                      first + count - 1);
    session_spec spec;
    char why[512];
    if (session_spec_build(in, t, &geo, scale[0] < scale[1] ? scale[0] : scale[1], g.host_temporal, &spec, why,
                           sizeof why))
        return finish(in, kOfxStatFailed, "DC-VSR Upscale: %s", why);

    job j = {0};
    j.in = in;
    j.geo = &geo;
    j.first = first;
    OfxPropertySetHandle clip_props;
    char *premult = NULL;
    if (g.effect->clipGetPropertySet(in->source, &clip_props) == kOfxStatOK)
        g.prop->propGetString(clip_props, kOfxImageEffectPropPreMultiplication, 0, &premult);
    j.premultiplied = premult && strcmp(premult, kOfxImagePreMultiplied) == 0;
    /* Resizing goes through a straight RGBA frame; without it, pixels go straight to the slot. */
    j.frame = geo.fit ? malloc((size_t)geo.src_w * geo.src_h * 4 * sizeof(float)) : NULL;
    j.eng = geo.fit ? malloc((size_t)geo.eng_w * geo.eng_h * 4 * sizeof(float)) : NULL;
    OfxPropertySetHandle out_handle = NULL;
    dcvsr_error err = {0};
    OfxStatus status = kOfxStatOK;
    worker *w = NULL;
    int ok = 0;
    if (geo.fit && (!j.frame || !j.eng)) {
        status = finish(in, kOfxStatErrMemory, "DC-VSR Upscale: out of memory for a %dx%d frame.", geo.src_w, geo.src_h);
        goto done;
    }
    if (g.effect->clipGetImage(in->output, t, NULL, &out_handle) != kOfxStatOK || !out_handle) {
        status = finish(in, kOfxStatFailed, "DC-VSR Upscale: the host gave no output image at time %g.", t);
        goto done;
    }
    if (read_image(out_handle, &j.out)) {
        status = finish(in, kOfxStatErrFormat, "DC-VSR Upscale: the output image has a pixel format the effect "
                        "cannot write (it writes RGB or RGBA in 8-bit, 16-bit, half or float).");
        goto done;
    }
    /* Render what was asked and the host's image holds. */
    j.window.x1 = window[0] > j.out.x1 ? window[0] : j.out.x1;
    j.window.y1 = window[1] > j.out.y1 ? window[1] : j.out.y1;
    j.window.x2 = window[2] < j.out.x2 ? window[2] : j.out.x2;
    j.window.y2 = window[3] < j.out.y2 ? window[3] : j.out.y2;
    int opaque_clip = premult && strcmp(premult, kOfxImageOpaque) == 0;
    if (j.out.channels == 4 && !opaque_clip && prepare_alpha(&j, t, &err)) goto failed;
    w = worker_take(in, &spec, &err);
    if (!w) goto failed;
    uint64_t idx = (uint64_t)(t - first);
    if (!g.host_temporal) {
        uint64_t a = 0, b = 0;
        if (dcvsr_plan(w->session, idx, idx + 1, &a, &b, &err)) goto failed;
        if (a != idx || b != idx + 1) {
            snprintf(err.message, sizeof err.message, "this host gives effects no access to other frames, and the "
                     "engine needs frames %llu..%llu for frame %llu", (unsigned long long)a,
                     (unsigned long long)b - 1, (unsigned long long)idx);
            err.code = DCVSR_ERR_SOURCE;
            goto failed;
        }
    }
    dcvsr_render_callbacks cb = {&j, source, sink, NULL, aborted};
    if (dcvsr_render(w->session, idx, idx + 1, &cb, &err)) goto failed;
    ok = 1;
    status = finish(in, kOfxStatOK, "");
    goto done;
failed:
    if (j.format_error)
        status = finish(in, kOfxStatErrFormat, "DC-VSR Upscale: %s", err.message);
    else
        status = finish(in, kOfxStatFailed, "DC-VSR Upscale: %s.%s%s", err.message, *advice(err.code) ? " " : "",
                        advice(err.code));
done:
    worker_give(in, w, ok);
    if (out_handle) g.effect->clipReleaseImage(out_handle);
    free(j.frame);
    free(j.eng);
    free(j.alpha);
    return status;
}
