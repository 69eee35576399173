/* The test host's own OpenFX declarations, written independently of ofx_bridge/openfx (a wrong
 * constant shared by both would otherwise pass): struct layouts with their sizes and member
 * offsets checked below (LP64 and LLP64 give the same: every pointer and function pointer is 8
 * bytes), and every name the host uses in one table of name -> value from the OpenFX 1.4/1.5
 * specification, which tests/test_ofx_effect.py also compares with the bridge's header. */
#ifndef OFXH_API_H
#define OFXH_API_H

#include <assert.h>
#include <stddef.h>

typedef int ofxh_status;
typedef struct ofxh_propset ofxh_propset; /* a property set handle points at one of these */

/* "ofxCore.h" OfxHost: the host's property set, then fetchSuite. */
typedef struct {
    ofxh_propset *host;
    const void *(*fetchSuite)(ofxh_propset *host, const char *name, int version);
} ofxh_host;

typedef ofxh_status (*ofxh_entry)(const char *action, const void *handle, ofxh_propset *in, ofxh_propset *out);

/* "ofxCore.h" OfxPlugin. */
typedef struct {
    const char *pluginApi;
    int apiVersion;
    const char *pluginIdentifier;
    unsigned int pluginVersionMajor, pluginVersionMinor;
    void (*setHost)(ofxh_host *host);
    ofxh_entry mainEntry;
} ofxh_plugin;

typedef struct { double x1, y1, x2, y2; } ofxh_rectd;
typedef struct { double min, max; } ofxh_ranged;

/* Suites, function by function in the specification's order ("ofxProperty.h",
 * "ofxImageEffect.h", "ofxParam.h", "ofxMemory.h", "ofxMultiThread.h", "ofxMessage.h" V2). */
typedef struct {
    ofxh_status (*setPointer)(ofxh_propset *, const char *, int, void *);
    ofxh_status (*setString)(ofxh_propset *, const char *, int, const char *);
    ofxh_status (*setDouble)(ofxh_propset *, const char *, int, double);
    ofxh_status (*setInt)(ofxh_propset *, const char *, int, int);
    ofxh_status (*setPointerN)(ofxh_propset *, const char *, int, void *const *);
    ofxh_status (*setStringN)(ofxh_propset *, const char *, int, const char *const *);
    ofxh_status (*setDoubleN)(ofxh_propset *, const char *, int, const double *);
    ofxh_status (*setIntN)(ofxh_propset *, const char *, int, const int *);
    ofxh_status (*getPointer)(ofxh_propset *, const char *, int, void **);
    ofxh_status (*getString)(ofxh_propset *, const char *, int, char **);
    ofxh_status (*getDouble)(ofxh_propset *, const char *, int, double *);
    ofxh_status (*getInt)(ofxh_propset *, const char *, int, int *);
    ofxh_status (*getPointerN)(ofxh_propset *, const char *, int, void **);
    ofxh_status (*getStringN)(ofxh_propset *, const char *, int, char **);
    ofxh_status (*getDoubleN)(ofxh_propset *, const char *, int, double *);
    ofxh_status (*getIntN)(ofxh_propset *, const char *, int, int *);
    ofxh_status (*reset)(ofxh_propset *, const char *);
    ofxh_status (*getDimension)(ofxh_propset *, const char *, int *);
} ofxh_property_suite;

typedef struct ofxh_effect ofxh_effect;
typedef struct ofxh_clip ofxh_clip;
typedef struct ofxh_paramset ofxh_paramset;
typedef struct ofxh_param ofxh_param;

typedef struct {
    ofxh_status (*getPropertySet)(ofxh_effect *, ofxh_propset **);
    ofxh_status (*getParamSet)(ofxh_effect *, ofxh_paramset **);
    ofxh_status (*clipDefine)(ofxh_effect *, const char *, ofxh_propset **);
    ofxh_status (*clipGetHandle)(ofxh_effect *, const char *, ofxh_clip **, ofxh_propset **);
    ofxh_status (*clipGetPropertySet)(ofxh_clip *, ofxh_propset **);
    ofxh_status (*clipGetImage)(ofxh_clip *, double, const ofxh_rectd *, ofxh_propset **);
    ofxh_status (*clipReleaseImage)(ofxh_propset *);
    ofxh_status (*clipGetRegionOfDefinition)(ofxh_clip *, double, ofxh_rectd *);
    int (*abort)(ofxh_effect *);
    ofxh_status (*imageMemoryAlloc)(ofxh_effect *, size_t, void **);
    ofxh_status (*imageMemoryFree)(void *);
    ofxh_status (*imageMemoryLock)(void *, void **);
    ofxh_status (*imageMemoryUnlock)(void *);
} ofxh_effect_suite;

typedef struct {
    ofxh_status (*paramDefine)(ofxh_paramset *, const char *, const char *, ofxh_propset **);
    ofxh_status (*paramGetHandle)(ofxh_paramset *, const char *, ofxh_param **, ofxh_propset **);
    ofxh_status (*paramSetGetPropertySet)(ofxh_paramset *, ofxh_propset **);
    ofxh_status (*paramGetPropertySet)(ofxh_param *, ofxh_propset **);
    ofxh_status (*paramGetValue)(ofxh_param *, ...);
    ofxh_status (*paramGetValueAtTime)(ofxh_param *, double, ...);
    ofxh_status (*paramGetDerivative)(ofxh_param *, double, ...);
    ofxh_status (*paramGetIntegral)(ofxh_param *, double, double, ...);
    ofxh_status (*paramSetValue)(ofxh_param *, ...);
    ofxh_status (*paramSetValueAtTime)(ofxh_param *, double, ...);
    ofxh_status (*paramGetNumKeys)(ofxh_param *, unsigned int *);
    ofxh_status (*paramGetKeyTime)(ofxh_param *, unsigned int, double *);
    ofxh_status (*paramGetKeyIndex)(ofxh_param *, double, int, int *);
    ofxh_status (*paramDeleteKey)(ofxh_param *, double);
    ofxh_status (*paramDeleteAllKeys)(ofxh_param *);
    ofxh_status (*paramCopy)(ofxh_param *, ofxh_param *, double, const ofxh_ranged *);
    ofxh_status (*paramEditBegin)(ofxh_paramset *, const char *);
    ofxh_status (*paramEditEnd)(ofxh_paramset *);
} ofxh_param_suite;

typedef struct {
    ofxh_status (*memoryAlloc)(void *, size_t, void **);
    ofxh_status (*memoryFree)(void *);
} ofxh_memory_suite;

typedef struct ofxh_mutex ofxh_mutex;
typedef struct {
    ofxh_status (*multiThread)(void (*)(unsigned int, unsigned int, void *), unsigned int, void *);
    ofxh_status (*multiThreadNumCPUs)(unsigned int *);
    ofxh_status (*multiThreadIndex)(unsigned int *);
    int (*multiThreadIsSpawnedThread)(void);
    ofxh_status (*mutexCreate)(ofxh_mutex **, int);
    ofxh_status (*mutexDestroy)(ofxh_mutex *);
    ofxh_status (*mutexLock)(ofxh_mutex *);
    ofxh_status (*mutexUnLock)(ofxh_mutex *);
    ofxh_status (*mutexTryLock)(ofxh_mutex *);
} ofxh_thread_suite;

typedef struct {
    ofxh_status (*message)(void *, const char *, const char *, const char *, ...);
    ofxh_status (*setPersistentMessage)(void *, const char *, const char *, const char *, ...);
    ofxh_status (*clearPersistentMessage)(void *);
} ofxh_message_suite_v2;

#define FP sizeof(void (*)(void))
static_assert(sizeof(void *) == 8 && FP == 8, "a 64-bit host");
static_assert(sizeof(ofxh_host) == 16 && offsetof(ofxh_host, fetchSuite) == 8, "OfxHost layout");
static_assert(offsetof(ofxh_plugin, apiVersion) == 8 && offsetof(ofxh_plugin, pluginIdentifier) == 16
              && offsetof(ofxh_plugin, pluginVersionMajor) == 24 && offsetof(ofxh_plugin, pluginVersionMinor) == 28
              && offsetof(ofxh_plugin, setHost) == 32 && offsetof(ofxh_plugin, mainEntry) == 40
              && sizeof(ofxh_plugin) == 48, "OfxPlugin layout");
static_assert(sizeof(ofxh_rectd) == 32 && sizeof(ofxh_ranged) == 16, "OfxRectD, OfxRangeD");
static_assert(sizeof(ofxh_property_suite) == 18 * FP && offsetof(ofxh_property_suite, getPointer) == 8 * FP
              && offsetof(ofxh_property_suite, getDimension) == 17 * FP, "OfxPropertySuiteV1 layout");
static_assert(sizeof(ofxh_effect_suite) == 13 * FP && offsetof(ofxh_effect_suite, clipGetImage) == 5 * FP
              && offsetof(ofxh_effect_suite, abort) == 8 * FP, "OfxImageEffectSuiteV1 layout");
static_assert(sizeof(ofxh_param_suite) == 18 * FP && offsetof(ofxh_param_suite, paramGetValueAtTime) == 5 * FP
              && offsetof(ofxh_param_suite, paramSetValue) == 8 * FP, "OfxParameterSuiteV1 layout");
static_assert(sizeof(ofxh_memory_suite) == 2 * FP, "OfxMemorySuiteV1 layout");
static_assert(sizeof(ofxh_thread_suite) == 9 * FP && offsetof(ofxh_thread_suite, mutexCreate) == 4 * FP,
              "OfxMultiThreadSuiteV1 layout");
static_assert(sizeof(ofxh_message_suite_v2) == 3 * FP
              && offsetof(ofxh_message_suite_v2, setPersistentMessage) == FP, "OfxMessageSuiteV2 layout");

/* Status codes ("ofxCore.h"). */
enum {
    OFXH_OK = 0, OFXH_FAILED = 1, OFXH_ERR_FATAL = 2, OFXH_ERR_UNKNOWN = 3, OFXH_ERR_MISSING_HOST_FEATURE = 4,
    OFXH_ERR_UNSUPPORTED = 5, OFXH_ERR_EXISTS = 6, OFXH_ERR_FORMAT = 7, OFXH_ERR_MEMORY = 8,
    OFXH_ERR_BAD_HANDLE = 9, OFXH_ERR_BAD_INDEX = 10, OFXH_ERR_VALUE = 11, OFXH_REPLY_YES = 12,
    OFXH_REPLY_NO = 13, OFXH_REPLY_DEFAULT = 14
};

/* Every name the host uses: the macro name in the specification and its value. */
#define OFXH_NAMES(X) \
    X(kOfxImageEffectPluginApi, "OfxImageEffectPluginAPI") \
    X(kOfxPropertySuite, "OfxPropertySuite") \
    X(kOfxImageEffectSuite, "OfxImageEffectSuite") \
    X(kOfxParameterSuite, "OfxParameterSuite") \
    X(kOfxMemorySuite, "OfxMemorySuite") \
    X(kOfxMultiThreadSuite, "OfxMultiThreadSuite") \
    X(kOfxMessageSuite, "OfxMessageSuite") \
    X(kOfxActionLoad, "OfxActionLoad") \
    X(kOfxActionUnload, "OfxActionUnload") \
    X(kOfxActionDescribe, "OfxActionDescribe") \
    X(kOfxActionCreateInstance, "OfxActionCreateInstance") \
    X(kOfxActionDestroyInstance, "OfxActionDestroyInstance") \
    X(kOfxActionInstanceChanged, "OfxActionInstanceChanged") \
    X(kOfxActionBeginInstanceChanged, "OfxActionBeginInstanceChanged") \
    X(kOfxActionEndInstanceChanged, "OfxActionEndInstanceChanged") \
    X(kOfxImageEffectActionDescribeInContext, "OfxImageEffectActionDescribeInContext") \
    X(kOfxImageEffectActionGetRegionOfDefinition, "OfxImageEffectActionGetRegionOfDefinition") \
    X(kOfxImageEffectActionGetClipPreferences, "OfxImageEffectActionGetClipPreferences") \
    X(kOfxImageEffectActionGetFramesNeeded, "OfxImageEffectActionGetFramesNeeded") \
    X(kOfxImageEffectActionIsIdentity, "OfxImageEffectActionIsIdentity") \
    X(kOfxImageEffectActionRender, "OfxImageEffectActionRender") \
    X(kOfxImageEffectActionBeginSequenceRender, "OfxImageEffectActionBeginSequenceRender") \
    X(kOfxImageEffectActionEndSequenceRender, "OfxImageEffectActionEndSequenceRender") \
    X(kOfxPropTime, "OfxPropTime") \
    X(kOfxPropType, "OfxPropType") \
    X(kOfxPropName, "OfxPropName") \
    X(kOfxPropLabel, "OfxPropLabel") \
    X(kOfxPropInstanceData, "OfxPropInstanceData") \
    X(kOfxPropChangeReason, "OfxPropChangeReason") \
    X(kOfxPropAPIVersion, "OfxPropAPIVersion") \
    X(kOfxTypeParameter, "OfxTypeParameter") \
    X(kOfxTypeImageEffectHost, "OfxTypeImageEffectHost") \
    X(kOfxChangeUserEdited, "OfxChangeUserEdited") \
    X(kOfxBitDepthNone, "OfxBitDepthNone") \
    X(kOfxBitDepthByte, "OfxBitDepthByte") \
    X(kOfxBitDepthShort, "OfxBitDepthShort") \
    X(kOfxBitDepthHalf, "OfxBitDepthHalf") \
    X(kOfxBitDepthFloat, "OfxBitDepthFloat") \
    X(kOfxImageComponentRGBA, "OfxImageComponentRGBA") \
    X(kOfxImageComponentRGB, "OfxImageComponentRGB") \
    X(kOfxImageOpaque, "OfxImageOpaque") \
    X(kOfxImagePreMultiplied, "OfxImageAlphaPremultiplied") \
    X(kOfxImageUnPreMultiplied, "OfxImageAlphaUnPremultiplied") \
    X(kOfxImageEffectContextFilter, "OfxImageEffectContextFilter") \
    X(kOfxImageEffectContextGeneral, "OfxImageEffectContextGeneral") \
    X(kOfxImageEffectSimpleSourceClipName, "Source") \
    X(kOfxImageEffectOutputClipName, "Output") \
    X(kOfxImageEffectRenderFullySafe, "OfxImageEffectRenderFullySafe") \
    X(kOfxImageEffectRenderInstanceSafe, "OfxImageEffectRenderInstanceSafe") \
    X(kOfxImageEffectRenderUnsafe, "OfxImageEffectRenderUnsafe") \
    X(kOfxImageEffectPluginRenderThreadSafety, "OfxImageEffectPluginRenderThreadSafety") \
    X(kOfxImageEffectPluginPropHostFrameThreading, "OfxImageEffectPluginPropHostFrameThreading") \
    X(kOfxImageEffectPluginPropGrouping, "OfxImageEffectPluginPropGrouping") \
    X(kOfxImageEffectPropSupportedContexts, "OfxImageEffectPropSupportedContexts") \
    X(kOfxImageEffectPropSupportedPixelDepths, "OfxImageEffectPropSupportedPixelDepths") \
    X(kOfxImageEffectPropSupportedComponents, "OfxImageEffectPropSupportedComponents") \
    X(kOfxImageEffectPropSupportsMultiResolution, "OfxImageEffectPropSupportsMultiResolution") \
    X(kOfxImageEffectPropSupportsTiles, "OfxImageEffectPropSupportsTiles") \
    X(kOfxImageEffectPropTemporalClipAccess, "OfxImageEffectPropTemporalClipAccess") \
    X(kOfxImageEffectPropSupportsMultipleClipDepths, "OfxImageEffectPropMultipleClipDepths") \
    X(kOfxImageEffectPropSupportsMultipleClipPARs, "OfxImageEffectPropSupportsMultipleClipPARs") \
    X(kOfxImageEffectPropContext, "OfxImageEffectPropContext") \
    X(kOfxImageEffectPropPixelDepth, "OfxImageEffectPropPixelDepth") \
    X(kOfxImageEffectPropComponents, "OfxImageEffectPropComponents") \
    X(kOfxImageEffectPropPreMultiplication, "OfxImageEffectPropPreMultiplication") \
    X(kOfxImageEffectPropFrameRate, "OfxImageEffectPropFrameRate") \
    X(kOfxImageEffectPropFrameRange, "OfxImageEffectPropFrameRange") \
    X(kOfxImageEffectPropRenderScale, "OfxImageEffectPropRenderScale") \
    X(kOfxImageEffectPropRenderWindow, "OfxImageEffectPropRenderWindow") \
    X(kOfxImageEffectPropRegionOfDefinition, "OfxImageEffectPropRegionOfDefinition") \
    X(kOfxImageEffectPropFieldToRender, "OfxImageEffectPropFieldToRender") \
    X(kOfxImageEffectFrameVarying, "OfxImageEffectFrameVarying") \
    X(kOfxImageClipPropConnected, "OfxImageClipPropConnected") \
    X(kOfxImagePropPixelAspectRatio, "OfxImagePropPixelAspectRatio") \
    X(kOfxImagePropData, "OfxImagePropData") \
    X(kOfxImagePropBounds, "OfxImagePropBounds") \
    X(kOfxImagePropRegionOfDefinition, "OfxImagePropRegionOfDefinition") \
    X(kOfxImagePropRowBytes, "OfxImagePropRowBytes") \
    X(kOfxImageFieldNone, "OfxFieldNone") \
    X(kOfxParamTypeInteger, "OfxParamTypeInteger") \
    X(kOfxParamTypeDouble, "OfxParamTypeDouble") \
    X(kOfxParamTypeChoice, "OfxParamTypeChoice") \
    X(kOfxParamTypeString, "OfxParamTypeString") \
    X(kOfxParamTypePushButton, "OfxParamTypePushButton") \
    X(kOfxParamPropDefault, "OfxParamPropDefault") \
    X(kOfxParamPropMin, "OfxParamPropMin") \
    X(kOfxParamPropMax, "OfxParamPropMax") \
    X(kOfxParamPropChoiceOption, "OfxParamPropChoiceOption") \
    X(kOfxParamPropStringMode, "OfxParamPropStringMode") \
    X(kOfxParamStringIsLabel, "OfxParamStringIsLabel") \
    X(kOfxMessageError, "OfxMessageError") \
    X(kOfxMessageMessage, "OfxMessageMessage")

#define OFXH_NAME_ENUM(macro, value) N_##macro,
enum { OFXH_NAMES(OFXH_NAME_ENUM) OFXH_N_NAMES };
#define OFXH_NAME_VALUE(macro, value) value,
static const char *const OFXH_VALUES[] = {OFXH_NAMES(OFXH_NAME_VALUE)};
#define N(macro) OFXH_VALUES[N_##macro]
/* "OfxImageClipPropComponents_" etc. + the clip's name. */
#define OFXH_CLIP_COMPONENTS "OfxImageClipPropComponents_"
#define OFXH_CLIP_FRAME_RANGE "OfxImageClipPropFrameRange_"

#endif
