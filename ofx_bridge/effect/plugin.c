/* The plug-in's entry points and the dispatch of actions. Only OfxGetNumberOfPlugins,
 * OfxGetPlugin and OfxSetHost are exported (-fvisibility=hidden; the test checks nm -D). */
#include <string.h>

#include "effect.h"

suites g;

static OfxStatus main_entry(const char *action, const void *handle, OfxPropertySetHandle in_args,
                            OfxPropertySetHandle out_args);

static void set_host(OfxHost *host) { g.host = host; }

static OfxPlugin plugin = {
    kOfxImageEffectPluginApi, kOfxImageEffectPluginApiVersion, DCVSR_PLUGIN_ID, 1, 0, set_host, main_entry,
};

DCVSR_OFX_EXPORT int OfxGetNumberOfPlugins(void);
DCVSR_OFX_EXPORT OfxPlugin *OfxGetPlugin(int nth);
DCVSR_OFX_EXPORT OfxStatus OfxSetHost(const OfxHost *host);

DCVSR_OFX_EXPORT int OfxGetNumberOfPlugins(void) { return 1; }

DCVSR_OFX_EXPORT OfxPlugin *OfxGetPlugin(int nth) { return nth == 0 ? &plugin : NULL; }

/* OpenFX 1.5: a host may hand over the host struct before OfxGetPlugin. */
DCVSR_OFX_EXPORT OfxStatus OfxSetHost(const OfxHost *host)
{
    g.host = (OfxHost *)host;
    return kOfxStatOK;
}

OfxStatus action_load(void)
{
    if (!g.host || !g.host->fetchSuite) return kOfxStatErrMissingHostFeature;
    OfxPropertySetHandle h = g.host->host;
    g.prop = g.host->fetchSuite(h, kOfxPropertySuite, 1);
    g.effect = g.host->fetchSuite(h, kOfxImageEffectSuite, 1);
    g.param = g.host->fetchSuite(h, kOfxParameterSuite, 1);
    g.memory = g.host->fetchSuite(h, kOfxMemorySuite, 1);
    g.thread = g.host->fetchSuite(h, kOfxMultiThreadSuite, 1);
    g.message = g.host->fetchSuite(h, kOfxMessageSuite, 2);
    if (!g.prop || !g.effect || !g.param || !g.thread) return kOfxStatErrMissingHostFeature;
    int v = 0;
    g.host_multires = g.prop->propGetInt(h, kOfxImageEffectPropSupportsMultiResolution, 0, &v) == kOfxStatOK && v;
    v = 0;
    g.host_temporal = g.prop->propGetInt(h, kOfxImageEffectPropTemporalClipAccess, 0, &v) == kOfxStatOK && v;
    return kOfxStatOK;
}

OfxStatus action_unload(void) { return kOfxStatOK; }

static OfxStatus main_entry(const char *action, const void *handle, OfxPropertySetHandle in_args,
                            OfxPropertySetHandle out_args)
{
    OfxImageEffectHandle effect = (OfxImageEffectHandle)handle;
    if (!action) return kOfxStatErrValue;
    if (strcmp(action, kOfxActionLoad) == 0) return action_load();
    if (!g.prop) return kOfxStatErrFatal; /* Load did not run or failed */
    if (strcmp(action, kOfxActionUnload) == 0) return action_unload();
    if (strcmp(action, kOfxActionDescribe) == 0) return action_describe(effect);
    if (strcmp(action, kOfxImageEffectActionDescribeInContext) == 0)
        return action_describe_in_context(effect, in_args);
    if (strcmp(action, kOfxActionCreateInstance) == 0) return action_create_instance(effect);
    if (strcmp(action, kOfxActionDestroyInstance) == 0) return action_destroy_instance(effect);
    if (strcmp(action, kOfxActionInstanceChanged) == 0) return action_instance_changed(effect, in_args);
    if (strcmp(action, kOfxActionPurgeCaches) == 0) return action_purge_caches(effect);
    if (strcmp(action, kOfxImageEffectActionGetRegionOfDefinition) == 0)
        return action_get_region_of_definition(effect, in_args, out_args);
    if (strcmp(action, kOfxImageEffectActionGetClipPreferences) == 0)
        return action_get_clip_preferences(effect, out_args);
    if (strcmp(action, kOfxImageEffectActionGetFramesNeeded) == 0)
        return action_get_frames_needed(effect, in_args, out_args);
    if (strcmp(action, kOfxImageEffectActionIsIdentity) == 0) return action_is_identity(effect, in_args, out_args);
    if (strcmp(action, kOfxImageEffectActionRender) == 0) return action_render(effect, in_args);
    /* BeginSequenceRender, EndSequenceRender and the rest: nothing to do; sessions outlive a
     * sequence so that scrubbing reuses the engine's kept state. */
    return kOfxStatReplyDefault;
}
