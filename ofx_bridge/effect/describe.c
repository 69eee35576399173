/* Describe and DescribeInContext: what the effect is, its clips and its parameters. Runs when a
 * host scans plug-ins, with no engine: the parameters come from the generated settings table. */
#include "effect.h"

static void set_strings(OfxPropertySetHandle p, const char *name, const char *const *values, int n)
{
    for (int i = 0; i < n; i++) g.prop->propSetString(p, name, i, values[i]);
}

OfxStatus action_describe(OfxImageEffectHandle effect)
{
    OfxPropertySetHandle p;
    if (g.effect->getPropertySet(effect, &p) != kOfxStatOK) return kOfxStatErrBadHandle;
    g.prop->propSetString(p, kOfxPropLabel, 0, "DC-VSR Upscale");
    g.prop->propSetString(p, kOfxImageEffectPluginPropGrouping, 0, "dcvsr");
    g.prop->propSetString(p, kOfxPropPluginDescription, 0,
                          "Video super-resolution with DC-VSR, rendered by the dcvsr engine (a separate process "
                          "that owns the model; started when none runs). Quality 'preview' for scrubbing, "
                          "'full' for the final render.");
    static const char *const contexts[] = {kOfxImageEffectContextFilter, kOfxImageEffectContextGeneral};
    set_strings(p, kOfxImageEffectPropSupportedContexts, contexts, 2);
    static const char *const depths[] = {kOfxBitDepthFloat, kOfxBitDepthHalf, kOfxBitDepthShort, kOfxBitDepthByte};
    set_strings(p, kOfxImageEffectPropSupportedPixelDepths, depths, 4);
    /* Whole frames only; the engine upscales whole frames. */
    g.prop->propSetInt(p, kOfxImageEffectPropSupportsTiles, 0, 0);
    g.prop->propSetInt(p, kOfxImageEffectPropSupportsMultiResolution, 0, 1);
    g.prop->propSetInt(p, kOfxImageEffectPropTemporalClipAccess, 0, 1);
    g.prop->propSetInt(p, kOfxImageEffectPropSupportsMultipleClipDepths, 0, 0);
    g.prop->propSetInt(p, kOfxImageEffectPropSupportsMultipleClipPARs, 0, 0);
    g.prop->propSetInt(p, kOfxImageEffectPluginPropHostFrameThreading, 0, 0);
    /* Fully safe: each render takes an engine connection of its own from the instance's pool
     * (guarded by a mutex), so several frames of one instance render at once. */
    g.prop->propSetString(p, kOfxImageEffectPluginRenderThreadSafety, 0, kOfxImageEffectRenderFullySafe);
    g.prop->propSetString(p, kOfxPropIcon, 1, DCVSR_PLUGIN_ID ".png");
    return kOfxStatOK;
}

static void define_clip(OfxImageEffectHandle effect, const char *name, int temporal)
{
    OfxPropertySetHandle p;
    if (g.effect->clipDefine(effect, name, &p) != kOfxStatOK) return;
    static const char *const components[] = {kOfxImageComponentRGBA, kOfxImageComponentRGB};
    set_strings(p, kOfxImageEffectPropSupportedComponents, components, 2);
    g.prop->propSetInt(p, kOfxImageEffectPropSupportsTiles, 0, 0);
    if (temporal) g.prop->propSetInt(p, kOfxImageEffectPropTemporalClipAccess, 0, 1);
}

static OfxPropertySetHandle define_param(OfxParamSetHandle set, const char *type, const char *name,
                                         const char *label, const char *hint)
{
    OfxPropertySetHandle p = NULL;
    if (g.param->paramDefine(set, type, name, &p) != kOfxStatOK || !p) return NULL;
    g.prop->propSetString(p, kOfxPropLabel, 0, label);
    if (hint) g.prop->propSetString(p, kOfxParamPropHint, 0, hint);
    return p;
}

static void define_settings(OfxParamSetHandle set)
{
    for (int i = 0; i < DCVSR_N_PARAMS; i++) {
        const dcvsr_param_spec *s = &DCVSR_PARAMS[i];
        OfxPropertySetHandle p;
        switch (s->kind) {
        case DCVSR_PARAM_CHOICE:
            p = define_param(set, kOfxParamTypeChoice, s->name, s->label, s->hint);
            if (!p) break;
            set_strings(p, kOfxParamPropChoiceOption, s->choices, s->n_choices);
            g.prop->propSetInt(p, kOfxParamPropDefault, 0, (int)s->default_value);
            g.prop->propSetInt(p, kOfxParamPropAnimates, 0, 0);
            break;
        case DCVSR_PARAM_INT:
            p = define_param(set, kOfxParamTypeInteger, s->name, s->label, s->hint);
            if (!p) break;
            g.prop->propSetInt(p, kOfxParamPropDefault, 0, (int)s->default_value);
            g.prop->propSetInt(p, kOfxParamPropMin, 0, (int)s->minimum);
            g.prop->propSetInt(p, kOfxParamPropMax, 0, (int)s->maximum);
            g.prop->propSetInt(p, kOfxParamPropDisplayMin, 0, (int)s->minimum);
            g.prop->propSetInt(p, kOfxParamPropDisplayMax, 0, s->maximum < 1000 ? (int)s->maximum : 1000);
            g.prop->propSetInt(p, kOfxParamPropAnimates, 0, 0);
            break;
        case DCVSR_PARAM_STRING:
            p = define_param(set, kOfxParamTypeString, s->name, s->label, s->hint);
            if (!p) break;
            g.prop->propSetString(p, kOfxParamPropStringMode, 0, kOfxParamStringIsSingleLine);
            g.prop->propSetString(p, kOfxParamPropDefault, 0, "");
            g.prop->propSetInt(p, kOfxParamPropAnimates, 0, 0);
            break;
        }
    }
}

static void define_extras(OfxParamSetHandle set)
{
    static const char *const size_hint =
        "hosts that keep the project size (Resolve's Edit and Color pages): the clip's real resolution "
        "before the host resized it to the timeline, e.g. 720 x 576; 0: the frame divided by the scale";
    const char *names[] = {PARAM_SOURCE_WIDTH, PARAM_SOURCE_HEIGHT};
    const char *labels[] = {"Source Width", "Source Height"};
    for (int i = 0; i < 2; i++) {
        OfxPropertySetHandle p = define_param(set, kOfxParamTypeInteger, names[i], labels[i], size_hint);
        if (!p) continue;
        g.prop->propSetInt(p, kOfxParamPropDefault, 0, 0);
        g.prop->propSetInt(p, kOfxParamPropMin, 0, 0);
        g.prop->propSetInt(p, kOfxParamPropMax, 0, 65536);
        g.prop->propSetInt(p, kOfxParamPropDisplayMax, 0, 4096);
        g.prop->propSetInt(p, kOfxParamPropAnimates, 0, 0);
    }
    OfxPropertySetHandle p = define_param(set, kOfxParamTypeDouble, PARAM_SOURCE_PAR, "Source Pixel Aspect",
                                          "the source's pixel aspect ratio (e.g. 1.0667 for 4:3 PAL 720 x 576); "
                                          "0: square pixels (when Source Width and Height are given; else the frame's)");
    if (p) {
        g.prop->propSetDouble(p, kOfxParamPropDefault, 0, 0.0);
        g.prop->propSetDouble(p, kOfxParamPropMin, 0, 0.0);
        g.prop->propSetDouble(p, kOfxParamPropMax, 0, 4.0);
        g.prop->propSetInt(p, kOfxParamPropAnimates, 0, 0);
    }
    p = define_param(set, kOfxParamTypeString, PARAM_ADVANCED, "Advanced Settings",
                     "other settings of `dcvsr upscale --help` as name=value pairs separated by spaces, "
                     "e.g. 'tile_size=64 guidance=0.5'");
    if (p) {
        g.prop->propSetString(p, kOfxParamPropStringMode, 0, kOfxParamStringIsSingleLine);
        g.prop->propSetString(p, kOfxParamPropDefault, 0, "");
        g.prop->propSetInt(p, kOfxParamPropAnimates, 0, 0);
    }
    p = define_param(set, kOfxParamTypeString, PARAM_STATUS, "Engine", "the dcvsr engine's state (read only)");
    if (p) {
        g.prop->propSetString(p, kOfxParamPropStringMode, 0, kOfxParamStringIsLabel);
        g.prop->propSetString(p, kOfxParamPropDefault, 0, "press Check Engine to ask");
        g.prop->propSetInt(p, kOfxParamPropEnabled, 0, 0);
        g.prop->propSetInt(p, kOfxParamPropPersistant, 0, 0);
        g.prop->propSetInt(p, kOfxParamPropEvaluateOnChange, 0, 0);
        g.prop->propSetInt(p, kOfxParamPropAnimates, 0, 0);
    }
    p = define_param(set, kOfxParamTypePushButton, PARAM_REFRESH, "Check Engine",
                     "ask the dcvsr engine for its state (does not start one)");
}

OfxStatus action_describe_in_context(OfxImageEffectHandle effect, OfxPropertySetHandle in_args)
{
    (void)in_args; /* filter and general contexts take the same clips */
    define_clip(effect, kOfxImageEffectSimpleSourceClipName, 1);
    define_clip(effect, kOfxImageEffectOutputClipName, 0);
    OfxParamSetHandle set;
    if (g.effect->getParamSet(effect, &set) != kOfxStatOK) return kOfxStatErrBadHandle;
    define_settings(set);
    define_extras(set);
    return kOfxStatOK;
}
