/* Instances: their clips, parameters, engine pool, and the engine status line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effect.h"
#include "os.h"

instance *instance_of(OfxImageEffectHandle handle)
{
    OfxPropertySetHandle p;
    void *data = NULL;
    if (g.effect->getPropertySet(handle, &p) != kOfxStatOK) return NULL;
    g.prop->propGetPointer(p, kOfxPropInstanceData, 0, &data);
    return data;
}

int param_int(OfxParamHandle p, OfxTime t)
{
    int v = 0;
    if (p) g.param->paramGetValueAtTime(p, t, &v);
    return v;
}

double param_double(OfxParamHandle p, OfxTime t)
{
    double v = 0;
    if (p) g.param->paramGetValueAtTime(p, t, &v);
    return v;
}

void param_string(OfxParamHandle p, OfxTime t, char *out, size_t size)
{
    char *v = NULL;
    out[0] = 0;
    if (p && g.param->paramGetValueAtTime(p, t, &v) == kOfxStatOK && v) snprintf(out, size, "%s", v);
}

static OfxParamHandle handle_of(OfxParamSetHandle set, const char *name)
{
    OfxParamHandle h = NULL;
    g.param->paramGetHandle(set, name, &h, NULL);
    return h;
}

OfxStatus action_create_instance(OfxImageEffectHandle effect)
{
    instance *in = calloc(1, sizeof *in);
    if (!in) return kOfxStatErrMemory;
    in->handle = effect;
    OfxParamSetHandle set;
    OfxPropertySetHandle props;
    if (g.effect->getParamSet(effect, &set) != kOfxStatOK || g.effect->getPropertySet(effect, &props) != kOfxStatOK
        || g.effect->clipGetHandle(effect, kOfxImageEffectSimpleSourceClipName, &in->source, NULL) != kOfxStatOK
        || g.effect->clipGetHandle(effect, kOfxImageEffectOutputClipName, &in->output, NULL) != kOfxStatOK
        || g.thread->mutexCreate(&in->lock, 0) != kOfxStatOK) {
        free(in);
        return kOfxStatFailed;
    }
    for (int i = 0; i < DCVSR_N_PARAMS; i++) in->params[i] = handle_of(set, DCVSR_PARAMS[i].name);
    in->source_width = handle_of(set, PARAM_SOURCE_WIDTH);
    in->source_height = handle_of(set, PARAM_SOURCE_HEIGHT);
    in->source_par = handle_of(set, PARAM_SOURCE_PAR);
    in->advanced = handle_of(set, PARAM_ADVANCED);
    in->status = handle_of(set, PARAM_STATUS);
    /* The clip's identity in the engine; the engine's cache keys on content, so a random id per
     * instance costs nothing in reuse and can never confuse two clips. */
    snprintf(in->clip_id, sizeof in->clip_id, "ofx:%016llx%016llx", (unsigned long long)dc_random64(),
             (unsigned long long)dc_random64());
    g.prop->propSetPointer(props, kOfxPropInstanceData, 0, in);
    return kOfxStatOK;
}

OfxStatus action_destroy_instance(OfxImageEffectHandle effect)
{
    instance *in = instance_of(effect);
    if (!in) return kOfxStatOK;
    workers_close_all(in);
    g.thread->mutexDestroy(in->lock);
    OfxPropertySetHandle props;
    if (g.effect->getPropertySet(effect, &props) == kOfxStatOK) g.prop->propSetPointer(props, kOfxPropInstanceData, 0, NULL);
    free(in);
    return kOfxStatOK;
}

OfxStatus action_purge_caches(OfxImageEffectHandle effect)
{
    instance *in = instance_of(effect);
    if (in) workers_close_all(in);
    return kOfxStatOK;
}

/* "Check Engine": ask a running engine for its state; never starts one. */
static void refresh_status(instance *in)
{
    dcvsr_connect_options o = {0};
    o.autostart = 0;
    o.connect_timeout = 5;
    o.idle_timeout = 10;
    o.client_name = "DC-VSR Upscale (OpenFX) status";
    dcvsr_client *c;
    dcvsr_error err = {0};
    char line[512];
    if (dcvsr_connect(&o, &c, &err) == 0) {
        if (dcvsr_status(c, line, sizeof line, &err) != 0) snprintf(line, sizeof line, "%.500s", err.message);
        dcvsr_disconnect(c);
    } else {
        snprintf(line, sizeof line, "not running (it starts with the first render): %.400s", err.message);
    }
    g.param->paramSetValue(in->status, line);
}

OfxStatus action_instance_changed(OfxImageEffectHandle effect, OfxPropertySetHandle in_args)
{
    instance *in = instance_of(effect);
    char *type = NULL, *name = NULL;
    if (!in || !in_args) return kOfxStatReplyDefault;
    g.prop->propGetString(in_args, kOfxPropType, 0, &type);
    g.prop->propGetString(in_args, kOfxPropName, 0, &name);
    if (type && name && strcmp(type, kOfxTypeParameter) == 0 && strcmp(name, PARAM_REFRESH) == 0) {
        refresh_status(in);
        return kOfxStatOK;
    }
    return kOfxStatReplyDefault;
}
