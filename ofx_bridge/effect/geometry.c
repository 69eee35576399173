/* Where the output lies: the region of definition, clip preferences, the frames a render needs,
 * and the mapping of source pixels to output pixels for one render.
 *
 * Hosts that follow a bigger region of definition (kOfxImageEffectPropSupportsMultiResolution:
 * Nuke, Natron, Resolve's Fusion page) get an output `scale` times the source. Hosts that keep the
 * project size (Resolve's Edit and Color pages) get an output the size of the input: the frame is
 * resampled down to the source size (parameters, else frame / scale), upscaled by DC-VSR, and
 * fitted inside the frame keeping its display aspect (pillarbox or letterbox). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "effect.h"

double scale_factor(instance *in, OfxTime t)
{
    int i = param_int(in->params[0], t);
    return DCVSR_SCALE_FACTORS[i >= 0 && i < DCVSR_SCALE_CHOICES_N ? i : DCVSR_SCALE_CHOICES_N - 1];
}

void source_range(instance *in, double *first, double *count, double *fps)
{
    OfxPropertySetHandle p;
    double range[2] = {0, 0};
    *fps = 24.0;
    if (g.effect->clipGetPropertySet(in->source, &p) == kOfxStatOK) {
        g.prop->propGetDoubleN(p, kOfxImageEffectPropFrameRange, 2, range);
        g.prop->propGetDouble(p, kOfxImageEffectPropFrameRate, 0, fps);
    }
    *first = range[0];
    *count = floor(range[1] - range[0] + 1.0);
    if (*count < 1) *count = 1;
}

static double clip_par(OfxImageClipHandle clip)
{
    OfxPropertySetHandle p;
    double par = 1.0;
    if (g.effect->clipGetPropertySet(clip, &p) == kOfxStatOK) g.prop->propGetDouble(p, kOfxImagePropPixelAspectRatio, 0, &par);
    return par > 0 ? par : 1.0;
}

int compute_geometry(instance *in, OfxTime t, double sx, double sy, geometry *geo)
{
    OfxRectD rod;
    memset(geo, 0, sizeof *geo);
    if (g.effect->clipGetRegionOfDefinition(in->source, t, &rod) != kOfxStatOK) return -1;
    geo->factor = scale_factor(in, t);
    geo->par = clip_par(in->source);
    /* Canonical to pixel coordinates: x by render scale over pixel aspect, y by render scale. */
    geo->src_x1 = (int)floor(rod.x1 * sx / geo->par + 1e-6);
    geo->src_y1 = (int)floor(rod.y1 * sy + 1e-6);
    geo->src_w = (int)ceil(rod.x2 * sx / geo->par - 1e-6) - geo->src_x1;
    geo->src_h = (int)ceil(rod.y2 * sy - 1e-6) - geo->src_y1;
    if (geo->src_w <= 0 || geo->src_h <= 0) return -1;
    if (g.host_multires) {
        geo->eng_w = geo->src_w;
        geo->eng_h = geo->src_h;
        geo->out_w = (int)lrint(geo->eng_w * geo->factor);
        geo->out_h = (int)lrint(geo->eng_h * geo->factor);
        geo->dst_x1 = (int)lrint(geo->src_x1 * geo->factor);
        geo->dst_y1 = (int)lrint(geo->src_y1 * geo->factor);
        geo->dst_w = geo->out_w;
        geo->dst_h = geo->out_h;
        geo->fit_w = geo->out_w;
        geo->fit_h = geo->out_h;
        return 0;
    }
    /* The host keeps the frame size: find the source's own size and fit the upscale inside. */
    int sw = param_int(in->source_width, t), sh = param_int(in->source_height, t);
    double spar = param_double(in->source_par, t);
    double full_w = geo->src_w / sx, full_h = geo->src_h / sy; /* the frame at full resolution */
    if (sw <= 0 || sh <= 0) { /* not given: the frame was the source enlarged by the scale */
        sw = (int)lrint(full_w / geo->factor);
        sh = (int)lrint(full_h / geo->factor);
        if (spar <= 0) spar = geo->par * (full_w / sw) / (full_h / sh); /* fills the frame exactly */
    }
    if (spar <= 0) spar = 1.0; /* a given size without a pixel aspect: square pixels */
    geo->eng_w = (int)lrint(sw * sx);
    geo->eng_h = (int)lrint(sh * sy);
    if (geo->eng_w < 1) geo->eng_w = 1;
    if (geo->eng_h < 1) geo->eng_h = 1;
    geo->out_w = (int)lrint(geo->eng_w * geo->factor);
    geo->out_h = (int)lrint(geo->eng_h * geo->factor);
    geo->dst_x1 = geo->src_x1;
    geo->dst_y1 = geo->src_y1;
    geo->dst_w = geo->src_w;
    geo->dst_h = geo->src_h;
    double source_aspect = sw * spar / sh, frame_aspect = full_w * geo->par / full_h;
    if (source_aspect > frame_aspect) { /* wider: letterbox */
        geo->fit_w = geo->dst_w;
        geo->fit_h = (int)lrint(geo->dst_h * frame_aspect / source_aspect);
    } else {                            /* narrower: pillarbox */
        geo->fit_h = geo->dst_h;
        geo->fit_w = (int)lrint(geo->dst_w * source_aspect / frame_aspect);
    }
    if (geo->fit_w < 1) geo->fit_w = 1;
    if (geo->fit_h < 1) geo->fit_h = 1;
    geo->fit_x = (geo->dst_w - geo->fit_w) / 2;
    geo->fit_y = (geo->dst_h - geo->fit_h) / 2;
    geo->fit = 1;
    return 0;
}

OfxStatus action_get_region_of_definition(OfxImageEffectHandle effect, OfxPropertySetHandle in_args,
                                          OfxPropertySetHandle out_args)
{
    instance *in = instance_of(effect);
    OfxTime t = 0;
    OfxRectD rod;
    if (!in || !g.host_multires) return kOfxStatReplyDefault; /* the host keeps the source's */
    g.prop->propGetDouble(in_args, kOfxPropTime, 0, &t);
    if (g.effect->clipGetRegionOfDefinition(in->source, t, &rod) != kOfxStatOK) return kOfxStatReplyDefault;
    double f = scale_factor(in, t);
    double r[4] = {rod.x1 * f, rod.y1 * f, rod.x2 * f, rod.y2 * f};
    g.prop->propSetDoubleN(out_args, kOfxImageEffectPropRegionOfDefinition, 4, r);
    return kOfxStatOK;
}

OfxStatus action_get_clip_preferences(OfxImageEffectHandle effect, OfxPropertySetHandle out_args)
{
    instance *in = instance_of(effect);
    OfxPropertySetHandle p;
    char *components = NULL, *premult = NULL;
    if (!in || g.effect->clipGetPropertySet(in->source, &p) != kOfxStatOK) return kOfxStatReplyDefault;
    g.prop->propGetString(p, kOfxImageEffectPropComponents, 0, &components);
    g.prop->propGetString(p, kOfxImageEffectPropPreMultiplication, 0, &premult);
    /* The output keeps the source's components and alpha state (and so its display aspect). */
    if (components && (strcmp(components, kOfxImageComponentRGBA) == 0 || strcmp(components, kOfxImageComponentRGB) == 0))
        g.prop->propSetString(out_args, kDcvsrClipPropComponentsPrefix kOfxImageEffectOutputClipName, 0, components);
    if (premult) g.prop->propSetString(out_args, kOfxImageEffectPropPreMultiplication, 0, premult);
    g.prop->propSetInt(out_args, kOfxImageEffectFrameVarying, 0, 0);
    return kOfxStatOK;
}

/* At most the frame's segment and its overlap: the engine's PLAN says which source frames a
 * render of this frame asks for; hosts that pre-render every declared frame (Nuke, Natron) would
 * otherwise fetch a long TAP chain, whose older frames come through clipGetImage instead. */
#define MAX_DECLARED_BEFORE 84

OfxStatus action_get_frames_needed(OfxImageEffectHandle effect, OfxPropertySetHandle in_args,
                                   OfxPropertySetHandle out_args)
{
    instance *in = instance_of(effect);
    OfxTime t = 0;
    if (!in) return kOfxStatReplyDefault;
    g.prop->propGetDouble(in_args, kOfxPropTime, 0, &t);
    double range[2] = {t, t};
    double first, count, fps;
    source_range(in, &first, &count, &fps);
    geometry geo;
    session_spec spec;
    char why[256];
    dcvsr_error err;
    if (g.host_temporal && compute_geometry(in, t, 1.0, 1.0, &geo) == 0
        && session_spec_build(in, t, &geo, 1.0, 1, &spec, why, sizeof why) == 0) {
        worker *w = worker_take(in, &spec, &err);
        if (w) {
            uint64_t idx = (uint64_t)(t - first), a, b;
            int ok = dcvsr_plan(w->session, idx, idx + 1, &a, &b, &err) == 0;
            if (ok && b > a) {
                double lo = first + (double)a, hi = first + (double)b - 1;
                if (lo < t - MAX_DECLARED_BEFORE) lo = t - MAX_DECLARED_BEFORE;
                range[0] = lo < t ? lo : t;
                range[1] = hi > t ? hi : t;
            }
            worker_give(in, w, ok);
        }
    }
    g.prop->propSetDoubleN(out_args, kDcvsrClipPropFrameRangePrefix kOfxImageEffectSimpleSourceClipName, 2, range);
    return kOfxStatOK;
}

OfxStatus action_is_identity(OfxImageEffectHandle effect, OfxPropertySetHandle in_args,
                             OfxPropertySetHandle out_args)
{
    (void)effect;
    (void)in_args;
    (void)out_args;
    return kOfxStatReplyDefault; /* an upscale is never the identity */
}
