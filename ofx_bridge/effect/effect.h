/* The "DC-VSR Upscale" OpenFX effect: shared declarations of its actions (one action per
 * function, as in the OpenFX examples). */
#ifndef DCVSR_EFFECT_H
#define DCVSR_EFFECT_H

#include "dcvsr_client.h"
#include "dcvsr_settings.h"
#include "ofx_api.h"
#include "ofx_api_extra.h"

#define DCVSR_PLUGIN_ID "org.dcvsr.Upscale"

/* The host's suites, fetched at Load. */
typedef struct {
    OfxHost *host;
    const OfxPropertySuiteV1 *prop;
    const OfxImageEffectSuiteV1 *effect;
    const OfxParameterSuiteV1 *param;
    const OfxMemorySuiteV1 *memory;
    const OfxMultiThreadSuiteV1 *thread;
    const OfxMessageSuiteV2 *message;
    int host_multires;    /* the host follows a bigger region of definition */
    int host_temporal;    /* the host serves clipGetImage at other times */
} suites;
extern suites g;

/* Extra parameters besides the settings' (dcvsr_settings.h). */
#define PARAM_SOURCE_WIDTH "source_width"
#define PARAM_SOURCE_HEIGHT "source_height"
#define PARAM_SOURCE_PAR "source_pixel_aspect"
#define PARAM_ADVANCED "advanced"
#define PARAM_STATUS "engine_status"
#define PARAM_REFRESH "refresh_status"

/* An engine connection with one open session, kept between renders of an instance. */
typedef struct worker {
    dcvsr_client *client;
    dcvsr_session *session;
    char key[2048];           /* everything the session was opened with */
    struct worker *next;
} worker;

typedef struct {
    OfxImageEffectHandle handle;
    OfxImageClipHandle source, output;
    OfxParamHandle params[DCVSR_N_PARAMS];
    OfxParamHandle source_width, source_height, source_par, advanced, status;
    OfxMutexHandle lock;      /* guards idle: renders run on several threads at once */
    worker *idle;
    int n_idle;
    char clip_id[64];
} instance;

/* How source pixels become output pixels for one render (pixel coordinates at the render scale). */
typedef struct {
    double factor;            /* the DC-VSR scale */
    double par;               /* the source clip's pixel aspect ratio */
    int src_x1, src_y1, src_w, src_h;   /* the source frame (its region of definition) */
    int eng_w, eng_h;         /* the frames sent to the engine */
    int out_w, out_h;         /* the frames the engine returns */
    int dst_x1, dst_y1, dst_w, dst_h;   /* the output's region of definition */
    int fit_x, fit_y, fit_w, fit_h;     /* where the engine's frame lands in it (relative) */
    int fit;                  /* 0: the output is the engine's frame (multi-resolution host) */
} geometry;

instance *instance_of(OfxImageEffectHandle handle);
int param_int(OfxParamHandle p, OfxTime t);
double param_double(OfxParamHandle p, OfxTime t);
void param_string(OfxParamHandle p, OfxTime t, char *out, size_t size);
double scale_factor(instance *in, OfxTime t);
/* The geometry of frame t at render scale (sx, sy); 0, or -1 if the source has no frame there. */
int compute_geometry(instance *in, OfxTime t, double sx, double sy, geometry *geo);
/* The source clip's frame range (first, count) and rate. */
void source_range(instance *in, double *first, double *count, double *fps);

OfxStatus action_load(void);
OfxStatus action_unload(void);
OfxStatus action_describe(OfxImageEffectHandle effect);
OfxStatus action_describe_in_context(OfxImageEffectHandle effect, OfxPropertySetHandle in_args);
OfxStatus action_create_instance(OfxImageEffectHandle effect);
OfxStatus action_destroy_instance(OfxImageEffectHandle effect);
OfxStatus action_instance_changed(OfxImageEffectHandle effect, OfxPropertySetHandle in_args);
OfxStatus action_purge_caches(OfxImageEffectHandle effect);
OfxStatus action_get_region_of_definition(OfxImageEffectHandle effect, OfxPropertySetHandle in_args,
                                          OfxPropertySetHandle out_args);
OfxStatus action_get_clip_preferences(OfxImageEffectHandle effect, OfxPropertySetHandle out_args);
OfxStatus action_get_frames_needed(OfxImageEffectHandle effect, OfxPropertySetHandle in_args,
                                   OfxPropertySetHandle out_args);
OfxStatus action_is_identity(OfxImageEffectHandle effect, OfxPropertySetHandle in_args,
                             OfxPropertySetHandle out_args);
OfxStatus action_render(OfxImageEffectHandle effect, OfxPropertySetHandle in_args);

/* The engine pool of an instance (engine_pool.c). */
typedef struct {
    char key[2048];
    dcvsr_clip clip;
    dcvsr_setting settings[40];
    char text[40][256];        /* storage for text settings, by slot */
    char names[40][64];        /* storage for the names of advanced settings */
    int n_names;
} session_spec;
int session_spec_build(instance *in, OfxTime t, const geometry *geo, double render_scale, int temporal,
                       session_spec *spec, char *why, size_t why_size);
/* A worker whose session matches spec (connecting and opening as needed), or NULL with err. */
worker *worker_take(instance *in, const session_spec *spec, dcvsr_error *err);
/* Give a worker back after a render: kept when ok, closed otherwise. */
void worker_give(instance *in, worker *w, int ok);
void workers_close_all(instance *in);

#endif
