/* A test OpenFX host: loads a built bundle as a real host does (dlopen / LoadLibrary) and drives
 * the plug-in through every action a host calls, serving clipGetImage at any time asked (when it
 * offers temporal access), counting images fetched and released, and refusing what it does not
 * offer. Output frames go to a file (float RGBA, top row first); a report goes to stdout.
 *
 *   ofx_host BUNDLE OUT [options]
 *     --context filter|general     --size W H        --frames-in-clip N   --par P
 *     --depth float|half|short|byte|none             --components RGBA|RGB
 *     --premult                    (source colour premultiplied by a ramp alpha)
 *     --alpha one|ramp             --rows tight|padded|negative          --bounds-margin M
 *     --no-temporal                --no-multires     --nan-fill           --render-scale S
 *     --render LIST                frames to render in this order, e.g. 3,4,5 or 7,2,5
 *     --threads N                  render the list on N threads at once
 *     --param name=value           set a parameter before rendering (repeatable)
 *     --abort-after K              abort() answers 1 after K polls within a render
 *     --describe-only              stop after the describe actions
 *     --cached-sources             make every source image before rendering and hand out the cached
 *                                  images themselves (as a host serves its cache; benchmarks)
 *
 * Source pixel (frame f, column x, row y from the top, channel c) = ((7f + 3x + 5y + 11c) mod 256)
 * / 255, as in tests/ofx_client/render.c and tests/test_ofx_client.py. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ofx_host_api.h"

#ifdef _WIN32
#include <windows.h>
typedef HANDLE thread_t;
typedef CRITICAL_SECTION lock_t;
static void lock_init(lock_t *l) { InitializeCriticalSection(l); }
static void lock_take(lock_t *l) { EnterCriticalSection(l); }
static void lock_drop(lock_t *l) { LeaveCriticalSection(l); }
static int lock_try(lock_t *l) { return TryEnterCriticalSection(l) ? 0 : -1; }
static void lock_free(lock_t *l) { DeleteCriticalSection(l); }
#else
#include <dlfcn.h>
#include <pthread.h>
typedef pthread_t thread_t;
typedef pthread_mutex_t lock_t;
static void lock_init(lock_t *l)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(l, &a);
    pthread_mutexattr_destroy(&a);
}
static void lock_take(lock_t *l) { pthread_mutex_lock(l); }
static void lock_drop(lock_t *l) { pthread_mutex_unlock(l); }
static int lock_try(lock_t *l) { return pthread_mutex_trylock(l) == 0 ? 0 : -1; }
static void lock_free(lock_t *l) { pthread_mutex_destroy(l); }
#endif

static double seconds(void)
{
#ifdef _WIN32
    LARGE_INTEGER now, freq;
    QueryPerformanceCounter(&now);
    QueryPerformanceFrequency(&freq);
    return (double)now.QuadPart / (double)freq.QuadPart;
#else
    struct timespec ts;
    return clock_gettime(CLOCK_MONOTONIC, &ts) == 0 ? (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 : 0.0;
#endif
}

/* ---- options ---- */
static struct {
    const char *bundle, *out, *context, *depth, *components, *alpha, *rows;
    int width, height, frames, margin, temporal, multires, nan_fill, premult, threads, abort_after;
    int describe_only, cached_sources;
    double par, render_scale;
    int render[256], n_render;
    const char *params[32];
    int n_params;
} opt = {NULL, NULL, "filter", "float", "RGBA", "one", "tight", 24, 16, 12, 0, 1, 1, 0, 0, 1, -1, 0, 0, 1.0, 1.0,
         {0}, 0, {0}, 0};

static lock_t big_lock; /* the host's own state; plug-in calls may come from several threads */

static void say(const char *fmt, ...)
{
    va_list ap;
    lock_take(&big_lock);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
    lock_drop(&big_lock);
}

/* ---- property sets ---- */
enum { T_INT, T_DOUBLE, T_STRING, T_POINTER };
typedef struct {
    char name[128];
    int type, n;
    int i[16];
    double d[16];
    char *s[16];
    void *p[16];
} prop;

struct ofxh_propset {
    prop *props;
    int n, cap;
};

static prop *find(ofxh_propset *ps, const char *name)
{
    for (int k = 0; k < ps->n; k++)
        if (strcmp(ps->props[k].name, name) == 0) return &ps->props[k];
    return NULL;
}

static prop *make(ofxh_propset *ps, const char *name, int type)
{
    prop *p = find(ps, name);
    if (p) return p->type == type ? p : NULL;
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 16;
        ps->props = realloc(ps->props, (size_t)ps->cap * sizeof(prop));
    }
    p = &ps->props[ps->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->type = type;
    return p;
}

static void propset_free(ofxh_propset *ps)
{
    for (int k = 0; k < ps->n; k++)
        for (int j = 0; j < 16; j++) free(ps->props[k].s[j]);
    free(ps->props);
    ps->props = NULL;
    ps->n = ps->cap = 0;
}

#define SETTER(fn, type_code, ctype, field, assign)                                   \
    static ofxh_status fn(ofxh_propset *ps, const char *name, int index, ctype v)     \
    {                                                                                 \
        if (!ps || index < 0 || index >= 16) return OFXH_ERR_BAD_INDEX;               \
        lock_take(&big_lock);                                                         \
        prop *p = make(ps, name, type_code);                                          \
        if (p) {                                                                      \
            assign;                                                                   \
            if (index + 1 > p->n) p->n = index + 1;                                   \
        }                                                                             \
        lock_drop(&big_lock);                                                         \
        return p ? OFXH_OK : OFXH_ERR_VALUE;                                          \
    }
SETTER(set_pointer, T_POINTER, void *, p, p->p[index] = v)
SETTER(set_string, T_STRING, const char *, s, (free(p->s[index]), p->s[index] = strdup(v ? v : "")))
SETTER(set_double, T_DOUBLE, double, d, p->d[index] = v)
SETTER(set_int, T_INT, int, i, p->i[index] = v)

#define SETTER_N(fn, one, ctype)                                                     \
    static ofxh_status fn(ofxh_propset *ps, const char *name, int count, ctype v)    \
    {                                                                                \
        for (int k = 0; k < count; k++) {                                            \
            ofxh_status st = one(ps, name, k, v[k]);                                 \
            if (st) return st;                                                       \
        }                                                                            \
        return OFXH_OK;                                                              \
    }
SETTER_N(set_pointer_n, set_pointer, void *const *)
SETTER_N(set_string_n, set_string, const char *const *)
SETTER_N(set_double_n, set_double, const double *)
SETTER_N(set_int_n, set_int, const int *)

#define GETTER(fn, type_code, ctype, expr)                                               \
    static ofxh_status fn(ofxh_propset *ps, const char *name, int index, ctype *out)     \
    {                                                                                    \
        if (!ps) return OFXH_ERR_BAD_HANDLE;                                             \
        lock_take(&big_lock);                                                            \
        prop *p = find(ps, name);                                                        \
        ofxh_status st = !p ? OFXH_ERR_UNKNOWN : p->type != type_code ? OFXH_ERR_VALUE   \
                       : index < 0 || index >= p->n ? OFXH_ERR_BAD_INDEX : OFXH_OK;      \
        if (st == OFXH_OK) *out = expr;                                                  \
        lock_drop(&big_lock);                                                            \
        return st;                                                                       \
    }
GETTER(get_pointer, T_POINTER, void *, p->p[index])
GETTER(get_string, T_STRING, char *, p->s[index])
GETTER(get_double, T_DOUBLE, double, p->d[index])
GETTER(get_int, T_INT, int, p->i[index])

#define GETTER_N(fn, one, ctype)                                                     \
    static ofxh_status fn(ofxh_propset *ps, const char *name, int count, ctype *out) \
    {                                                                                \
        for (int k = 0; k < count; k++) {                                            \
            ofxh_status st = one(ps, name, k, &out[k]);                              \
            if (st) return st;                                                       \
        }                                                                            \
        return OFXH_OK;                                                              \
    }
GETTER_N(get_pointer_n, get_pointer, void *)
GETTER_N(get_string_n, get_string, char *)
GETTER_N(get_double_n, get_double, double)
GETTER_N(get_int_n, get_int, int)

static ofxh_status prop_reset(ofxh_propset *ps, const char *name)
{
    prop *p = find(ps, name);
    if (!p) return OFXH_ERR_UNKNOWN;
    p->n = 0;
    return OFXH_OK;
}

static ofxh_status get_dimension(ofxh_propset *ps, const char *name, int *count)
{
    prop *p = find(ps, name);
    if (!p) return OFXH_ERR_UNKNOWN;
    *count = p->n;
    return OFXH_OK;
}

static const ofxh_property_suite property_suite = {
    set_pointer, set_string, set_double, set_int, set_pointer_n, set_string_n, set_double_n, set_int_n,
    get_pointer, get_string, get_double, get_int, get_pointer_n, get_string_n, get_double_n, get_int_n,
    prop_reset, get_dimension,
};

/* ---- parameters ---- */
struct ofxh_param {
    char name[64], type[48];
    ofxh_propset props;
    int ival;
    double dval;
    char *sval;
};
struct ofxh_paramset {
    ofxh_param params[48];
    int n;
    ofxh_propset props;
};

static ofxh_param *param_find(ofxh_paramset *set, const char *name)
{
    for (int k = 0; k < set->n; k++)
        if (strcmp(set->params[k].name, name) == 0) return &set->params[k];
    return NULL;
}

static ofxh_status param_define(ofxh_paramset *set, const char *type, const char *name, ofxh_propset **props)
{
    if (param_find(set, name)) return OFXH_ERR_EXISTS;
    if (set->n == 48) return OFXH_ERR_MEMORY;
    ofxh_param *p = &set->params[set->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->type, sizeof p->type, "%s", type);
    set_string(&p->props, N(kOfxPropType), 0, N(kOfxTypeParameter));
    set_string(&p->props, N(kOfxPropName), 0, name);
    *props = &p->props;
    return OFXH_OK;
}

static ofxh_status param_get_handle(ofxh_paramset *set, const char *name, ofxh_param **param, ofxh_propset **props)
{
    ofxh_param *p = param_find(set, name);
    if (!p) return OFXH_ERR_UNKNOWN;
    *param = p;
    if (props) *props = &p->props;
    return OFXH_OK;
}

static ofxh_status paramset_props(ofxh_paramset *set, ofxh_propset **props) { *props = &set->props; return OFXH_OK; }
static ofxh_status param_props(ofxh_param *p, ofxh_propset **props) { *props = &p->props; return OFXH_OK; }

static int is_type(const ofxh_param *p, const char *type) { return strcmp(p->type, type) == 0; }

static ofxh_status get_value_va(ofxh_param *p, va_list ap)
{
    lock_take(&big_lock);
    if (is_type(p, N(kOfxParamTypeInteger)) || is_type(p, N(kOfxParamTypeChoice))) *va_arg(ap, int *) = p->ival;
    else if (is_type(p, N(kOfxParamTypeDouble))) *va_arg(ap, double *) = p->dval;
    else if (is_type(p, N(kOfxParamTypeString))) *va_arg(ap, char **) = p->sval ? p->sval : "";
    lock_drop(&big_lock);
    return OFXH_OK;
}

static ofxh_status param_get_value(ofxh_param *p, ...)
{
    va_list ap;
    va_start(ap, p);
    ofxh_status st = get_value_va(p, ap);
    va_end(ap);
    return st;
}

static ofxh_status param_get_value_at_time(ofxh_param *p, double t, ...)
{
    va_list ap;
    va_start(ap, t);
    ofxh_status st = get_value_va(p, ap);
    va_end(ap);
    return st;
}

static ofxh_status param_not_here(ofxh_param *p, double t, ...) { (void)p; (void)t; return OFXH_ERR_UNSUPPORTED; }
static ofxh_status param_integral(ofxh_param *p, double a, double b, ...) { (void)p; (void)a; (void)b; return OFXH_ERR_UNSUPPORTED; }

static void param_set_text(ofxh_param *p, const char *v)
{
    free(p->sval);
    p->sval = strdup(v ? v : "");
}

static ofxh_status param_set_value(ofxh_param *p, ...)
{
    va_list ap;
    va_start(ap, p);
    lock_take(&big_lock);
    if (is_type(p, N(kOfxParamTypeInteger)) || is_type(p, N(kOfxParamTypeChoice))) p->ival = va_arg(ap, int);
    else if (is_type(p, N(kOfxParamTypeDouble))) p->dval = va_arg(ap, double);
    else if (is_type(p, N(kOfxParamTypeString))) param_set_text(p, va_arg(ap, const char *));
    lock_drop(&big_lock);
    va_end(ap);
    say("param-set %s\n", p->name);
    return OFXH_OK;
}

static ofxh_status param_num_keys(ofxh_param *p, unsigned int *n) { (void)p; *n = 0; return OFXH_OK; }
static ofxh_status param_key_time(ofxh_param *p, unsigned int k, double *t) { (void)p; (void)k; (void)t; return OFXH_ERR_BAD_INDEX; }
static ofxh_status param_key_index(ofxh_param *p, double t, int d, int *i) { (void)p; (void)t; (void)d; (void)i; return OFXH_FAILED; }
static ofxh_status param_delete_key(ofxh_param *p, double t) { (void)p; (void)t; return OFXH_ERR_BAD_INDEX; }
static ofxh_status param_delete_all(ofxh_param *p) { (void)p; return OFXH_OK; }
static ofxh_status param_copy(ofxh_param *a, ofxh_param *b, double o, const ofxh_ranged *r) { (void)a; (void)b; (void)o; (void)r; return OFXH_ERR_UNSUPPORTED; }
static ofxh_status param_edit(ofxh_paramset *s, const char *n) { (void)s; (void)n; return OFXH_OK; }
static ofxh_status param_edit_end(ofxh_paramset *s) { (void)s; return OFXH_OK; }

static const ofxh_param_suite param_suite = {
    param_define, param_get_handle, paramset_props, param_props, param_get_value, param_get_value_at_time,
    param_not_here, param_integral, param_set_value, param_not_here, param_num_keys, param_key_time,
    param_key_index, param_delete_key, param_delete_all, param_copy, param_edit, param_edit_end,
};

/* ---- effects, clips, images ---- */
struct ofxh_clip {
    char name[32];
    ofxh_propset props;
    ofxh_effect *owner;
};

struct ofxh_effect {
    ofxh_propset props;
    ofxh_paramset params;
    ofxh_clip clips[4];
    int n_clips;
    int instance;
    char persistent[4096];
};

typedef struct {
    ofxh_propset props;
    uint8_t *memory;             /* from the pool, or NULL: the image is a cached source frame */
    int output, released, in_use;
    int frame;
    size_t bytes;
} image;

/* Image memory is reused, as hosts keep pools of image buffers (no page faults per frame). */
static struct { void *p; size_t n; } pool[16];

static void *take_buffer(size_t n)
{
    void *p = NULL;
    lock_take(&big_lock);
    for (int k = 0; k < 16; k++)
        if (pool[k].p && pool[k].n == n) { p = pool[k].p; pool[k].p = NULL; break; }
    lock_drop(&big_lock);
    return p ? p : calloc(1, n);
}

static void give_buffer(void *p, size_t n)
{
    lock_take(&big_lock);
    for (int k = 0; k < 16 && p; k++)
        if (!pool[k].p) { pool[k].p = p; pool[k].n = n; p = NULL; }
    lock_drop(&big_lock);
    free(p);
}

static float *results; /* out_w x out_h x 4 per rendered frame, top-down */
static image images[4096];
static uint8_t *source_cache[256]; /* made source images by frame (with margins and row layout) */
static uint8_t *output_fill;       /* what an output image holds before Render (0.25, or NaN) */
static int n_images, fetched_source, fetched_output, released, violations, abort_polls;
static _Thread_local int render_time = -1; /* the frame this thread is rendering */

static ofxh_status get_property_set(ofxh_effect *e, ofxh_propset **ps) { *ps = &e->props; return OFXH_OK; }
static ofxh_status get_param_set(ofxh_effect *e, ofxh_paramset **set) { *set = &e->params; return OFXH_OK; }

static ofxh_status clip_define(ofxh_effect *e, const char *name, ofxh_propset **ps)
{
    if (e->n_clips == 4) return OFXH_ERR_MEMORY;
    ofxh_clip *c = &e->clips[e->n_clips++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->owner = e;
    *ps = &c->props;
    return OFXH_OK;
}

static ofxh_status clip_get_handle(ofxh_effect *e, const char *name, ofxh_clip **clip, ofxh_propset **ps)
{
    if (!e->instance) return OFXH_ERR_BAD_HANDLE;
    for (int k = 0; k < e->n_clips; k++)
        if (strcmp(e->clips[k].name, name) == 0) {
            *clip = &e->clips[k];
            if (ps) *ps = &e->clips[k].props;
            return OFXH_OK;
        }
    return OFXH_ERR_UNKNOWN;
}

static ofxh_status clip_props(ofxh_clip *c, ofxh_propset **ps) { *ps = &c->props; return OFXH_OK; }

enum { D_BYTE, D_SHORT, D_HALF, D_FLOAT };
static int depth_code = D_FLOAT; /* decided once: samples are converted in the hot loops */

static size_t sample_bytes(void)
{
    return depth_code == D_BYTE ? 1 : depth_code == D_FLOAT ? 4 : 2;
}

static const char *depth_name(void)
{
    if (strcmp(opt.depth, "none") == 0) return N(kOfxBitDepthNone); /* a depth no effect can take */
    return strcmp(opt.depth, "byte") == 0 ? N(kOfxBitDepthByte) : strcmp(opt.depth, "short") == 0 ? N(kOfxBitDepthShort)
         : strcmp(opt.depth, "half") == 0 ? N(kOfxBitDepthHalf) : N(kOfxBitDepthFloat);
}

static int channels(void) { return strcmp(opt.components, "RGB") == 0 ? 3 : 4; }

/* The pixel format the host offers, the same on a clip and on each image fetched from it. */
static void set_pixel_format(ofxh_propset *props)
{
    set_string(props, N(kOfxImageEffectPropPixelDepth), 0, depth_name());
    set_string(props, N(kOfxImageEffectPropComponents), 0,
               channels() == 4 ? N(kOfxImageComponentRGBA) : N(kOfxImageComponentRGB));
    set_string(props, N(kOfxImageEffectPropPreMultiplication), 0,
               opt.premult ? N(kOfxImagePreMultiplied) : N(kOfxImageUnPreMultiplied));
    set_double(props, N(kOfxImagePropPixelAspectRatio), 0, opt.par);
}

/* binary32 -> binary16, round to nearest even (the host's own, not the plug-in's) */
static uint16_t to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int e = (int)((x >> 23) & 0xFF) - 112;
    uint32_t m = x & 0x7FFFFF;
    if (((x >> 23) & 0xFF) == 0xFF) return (uint16_t)(sign | 0x7C00 | (m ? 0x200 : 0));
    if (e >= 31) return (uint16_t)(sign | 0x7C00);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        m |= 0x800000;
        int s = 14 - e;
        uint32_t h = m >> s, r = m & ((1u << s) - 1), half = 1u << (s - 1);
        if (r > half || (r == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (m >> 13), r = m & 0x1FFF;
    if (r > 0x1000 || (r == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

static float from_half(uint16_t h)
{
    int e = (h >> 10) & 0x1F, m = h & 0x3FF;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 0x400), e - 25);
    return (h & 0x8000) ? -v : v;
}

static void put_sample(uint8_t *p, float v)
{
    switch (sample_bytes()) {
    case 1: p[0] = (uint8_t)lrintf(v * 255.0f); break;
    case 4: memcpy(p, &v, 4); break;
    default:
        if (depth_code == D_HALF) {
            uint16_t h = to_half(v);
            memcpy(p, &h, 2);
        } else {
            uint16_t s = (uint16_t)lrintf(v * 65535.0f);
            memcpy(p, &s, 2);
        }
    }
}

static float get_sample(const uint8_t *p)
{
    uint16_t s;
    switch (sample_bytes()) {
    case 1: return p[0] / 255.0f;
    case 4: { float v; memcpy(&v, p, 4); return v; }
    default:
        memcpy(&s, p, 2);
        return depth_code == D_HALF ? from_half(s) : s / 65535.0f;
    }
}

/* The output's size: the region of definition the plug-in asks for where the host follows it,
 * else the source's (set after GetRegionOfDefinition). */
static int rod_w, rod_h;
static int out_width(void) { return rod_w ? rod_w : opt.width; }
static int out_height(void) { return rod_h ? rod_h : opt.height; }
static int scaled(int v) { return (int)lrint(v * opt.render_scale); }

/* A new image of w x h pixels at (x1, y1) with margins, laid out as --rows says, in memory (a
 * cached source frame, handed out as it is) or, when NULL, in a buffer from the pool. */
static image *new_image(int x1, int y1, int w, int h, int output, int frame, uint8_t *memory, uint8_t **data,
                        long *row_bytes)
{
    lock_take(&big_lock);
    image *im = NULL;
    for (int k = 0; k < n_images; k++)
        if (!images[k].in_use) { im = &images[k]; break; }
    if (!im && n_images < 4096) im = &images[n_images++];
    if (im) {
        memset(im, 0, sizeof *im);
        im->in_use = 1;
    }
    lock_drop(&big_lock);
    if (!im) return NULL;
    int m = output ? 0 : opt.margin;
    int bw = w + 2 * m, bh = h + 2 * m;
    size_t px = sample_bytes() * (size_t)channels();
    long row = (long)(bw * px) + (strcmp(opt.rows, "padded") == 0 ? 64 : 0);
    im->memory = memory ? NULL : take_buffer((size_t)bh * (size_t)row);
    im->bytes = (size_t)bh * (size_t)row;
    uint8_t *base = memory ? memory : im->memory;
    if (strcmp(opt.rows, "negative") == 0) { /* rows stored top-down: data at the last row, going back */
        base += (size_t)(bh - 1) * (size_t)row;
        row = -row;
    }
    im->output = output;
    im->frame = frame;
    int bounds[4] = {x1 - m, y1 - m, x1 + w + m, y1 + h + m};
    int rod[4] = {x1, y1, x1 + w, y1 + h};
    set_pointer(&im->props, N(kOfxImagePropData), 0, base);
    set_int_n(&im->props, N(kOfxImagePropBounds), 4, bounds);
    set_int_n(&im->props, N(kOfxImagePropRegionOfDefinition), 4, rod);
    set_int(&im->props, N(kOfxImagePropRowBytes), 0, (int)row);
    set_pixel_format(&im->props);
    *data = base;
    *row_bytes = row;
    return im;
}

static float pattern(int f, int x, int y, int c) { return (float)((7 * f + 3 * x + 5 * y + 11 * c) % 256) / 255.0f; }
static float alpha_at(int x, int w) { return strcmp(opt.alpha, "ramp") == 0 ? (float)x / (float)(w > 1 ? w - 1 : 1) : 1.0f; }

/* What an image holds before anyone writes it: a source frame's pattern (margins beyond its RoD
 * hold garbage), or an output image's fill. */
static void fill_image(uint8_t *data, long row, int w, int h, int m, int is_output, int frame)
{
    int bw = w + 2 * m, bh = h + 2 * m, nc = channels();
    size_t item = sample_bytes();
    for (int yi = 0; yi < bh; yi++) {
        uint8_t *p = data + (long)yi * row;
        for (int xi = 0; xi < bw; xi++) {
            int x = xi - m, y_top = (h - 1) - (yi - m); /* image rows go up; the pattern is top-down */
            for (int c = 0; c < nc; c++, p += item) {
                float v;
                if (is_output) v = opt.nan_fill && (depth_code == D_HALF || depth_code == D_FLOAT) ? NAN : 0.25f;
                else if (x < 0 || x >= w || y_top < 0 || y_top >= h) v = 0.5f; /* beyond the RoD: garbage */
                else if (c < 3) v = pattern(frame, x, y_top, c) * (opt.premult ? alpha_at(x, w) : 1.0f);
                else v = alpha_at(x, w);
                put_sample(p, v);
            }
        }
    }
}

/* --cached-sources: every source frame made before rendering starts (its memory as an image's,
 * rows laid out as --rows says), so that a render only reads them. */
static void cache_sources(void)
{
    int w = scaled(opt.width), h = scaled(opt.height), m = opt.margin, bh = h + 2 * m;
    long row = (long)((w + 2 * m) * sample_bytes() * (size_t)channels()) + (strcmp(opt.rows, "padded") == 0 ? 64 : 0);
    for (int f = 0; f < opt.frames && f < 256; f++) {
        uint8_t *memory = malloc((size_t)bh * (size_t)row);
        if (!memory) return;
        int negative = strcmp(opt.rows, "negative") == 0;
        fill_image(negative ? memory + (size_t)(bh - 1) * (size_t)row : memory, negative ? -row : row, w, h, m, 0, f);
        source_cache[f] = memory;
    }
}

static ofxh_status clip_get_image(ofxh_clip *clip, double time, const ofxh_rectd *region, ofxh_propset **out)
{
    (void)region;
    int frame = (int)lrint(time);
    int is_output = strcmp(clip->name, N(kOfxImageEffectOutputClipName)) == 0;
    if (!is_output) {
        if (frame < 0 || frame >= opt.frames) { say("violation: source frame %d outside the clip\n", frame); violations++; return OFXH_FAILED; }
        if (!opt.temporal && frame != render_time) {
            lock_take(&big_lock); violations++; lock_drop(&big_lock);
            say("violation: source frame %d asked while rendering %d, without temporal access\n", frame, render_time);
            return OFXH_FAILED;
        }
    } else if (frame != render_time) {
        say("violation: output image at %d while rendering %d\n", frame, render_time);
        violations++;
        return OFXH_FAILED;
    }
    int w = is_output ? scaled(out_width()) : scaled(opt.width), h = is_output ? scaled(out_height()) : scaled(opt.height);
    uint8_t *data;
    long row;
    uint8_t *shared = !is_output && opt.cached_sources && frame < 256 ? source_cache[frame] : NULL;
    image *im = new_image(0, 0, w, h, is_output, frame, shared, &data, &row);
    if (!im) return OFXH_ERR_MEMORY;
    int m = is_output ? 0 : opt.margin, bh = h + 2 * m;
    long abs_row = row < 0 ? -row : row;
    uint8_t *first_row = row < 0 ? data + (long)(bh - 1) * row : data; /* the lowest address */
    /* Source frames are made once and copied from then on, as a host serves them from its cache. */
    lock_take(&big_lock);
    uint8_t **slot = is_output ? &output_fill : frame < 256 ? &source_cache[frame] : NULL;
    uint8_t *cached = slot ? *slot : NULL;
    lock_drop(&big_lock);
    if (shared || (is_output && !opt.nan_fill && !results)) {
        /* A cached source frame as it is; an output image's memory as it comes (here: a reused
         * buffer, whatever it holds). */
    } else if (cached) {
        memcpy(first_row, cached, (size_t)bh * (size_t)abs_row);
    } else {
        fill_image(data, row, w, h, m, is_output, frame);
        if (slot) {
            uint8_t *copy = malloc((size_t)bh * (size_t)abs_row);
            if (copy) memcpy(copy, first_row, (size_t)bh * (size_t)abs_row);
            lock_take(&big_lock);
            if (!*slot) *slot = copy; else free(copy);
            lock_drop(&big_lock);
        }
    }
    lock_take(&big_lock);
    if (is_output) fetched_output++; else fetched_source++;
    lock_drop(&big_lock);
    *out = &im->props;
    return OFXH_OK;
}


static ofxh_status clip_release_image(ofxh_propset *ps)
{
    image *im = (image *)ps; /* props is the first member */
    if (!im->in_use || im->released) { violations++; say("violation: image released twice\n"); return OFXH_ERR_BAD_HANDLE; }
    if (im->output && results) {
        int w = scaled(out_width()), h = scaled(out_height()), nc = channels();
        size_t item = sample_bytes();
        void *data;
        int row;
        get_pointer(ps, N(kOfxImagePropData), 0, &data);
        get_int(ps, N(kOfxImagePropRowBytes), 0, &row);
        int slot = -1;
        for (int k = 0; k < opt.n_render; k++) if (opt.render[k] == im->frame) slot = k;
        for (int yi = 0; yi < h && slot >= 0; yi++) {
            const uint8_t *p = (const uint8_t *)data + (long)yi * row;
            float *dst = results + ((size_t)slot * h * w + (size_t)(h - 1 - yi) * w) * 4;
            if (depth_code == D_FLOAT && nc == 4) {
                memcpy(dst, p, (size_t)w * 16);
                continue;
            }
            for (int x = 0; x < w; x++, dst += 4) {
                for (int c = 0; c < nc; c++) dst[c] = get_sample(p + ((size_t)x * nc + c) * item);
                if (nc == 3) dst[3] = 1.0f;
            }
        }
    }
    lock_take(&big_lock);
    im->released = 1;
    released++;
    if (im->memory) give_buffer(im->memory, im->bytes);
    propset_free(&im->props);
    im->in_use = 0;
    lock_drop(&big_lock);
    return OFXH_OK;
}

static ofxh_status clip_get_rod(ofxh_clip *clip, double t, ofxh_rectd *r)
{
    (void)t;
    int out = strcmp(clip->name, N(kOfxImageEffectOutputClipName)) == 0;
    r->x1 = 0;
    r->y1 = 0;
    r->x2 = (out ? out_width() : opt.width) * opt.par; /* canonical: x in square pixels */
    r->y2 = out ? out_height() : opt.height;
    return OFXH_OK;
}

static int host_abort(ofxh_effect *e)
{
    (void)e;
    lock_take(&big_lock);
    int polls = ++abort_polls;
    lock_drop(&big_lock);
    return opt.abort_after >= 0 && polls > opt.abort_after;
}

static ofxh_status mem_alloc(ofxh_effect *e, size_t n, void **h) { (void)e; *h = malloc(n); return *h ? OFXH_OK : OFXH_ERR_MEMORY; }
static ofxh_status mem_free(void *h) { free(h); return OFXH_OK; }
static ofxh_status mem_lock(void *h, void **p) { *p = h; return OFXH_OK; }
static ofxh_status mem_unlock(void *h) { (void)h; return OFXH_OK; }

static const ofxh_effect_suite effect_suite = {
    get_property_set, get_param_set, clip_define, clip_get_handle, clip_props, clip_get_image,
    clip_release_image, clip_get_rod, host_abort, mem_alloc, mem_free, mem_lock, mem_unlock,
};

static ofxh_status memory_alloc(void *h, size_t n, void **p) { (void)h; *p = malloc(n); return *p ? OFXH_OK : OFXH_ERR_MEMORY; }
static ofxh_status memory_free(void *p) { free(p); return OFXH_OK; }
static const ofxh_memory_suite memory_suite = {memory_alloc, memory_free};

struct ofxh_mutex { lock_t l; };
static ofxh_status multi_thread(void (*f)(unsigned int, unsigned int, void *), unsigned int n, void *arg)
{
    for (unsigned int k = 0; k < n; k++) f(k, n, arg);
    return OFXH_OK;
}
static ofxh_status num_cpus(unsigned int *n) { *n = 1; return OFXH_OK; }
static ofxh_status thread_index(unsigned int *i) { *i = 0; return OFXH_OK; }
static int is_spawned(void) { return 0; }
static ofxh_status mutex_create(ofxh_mutex **m, int count)
{
    *m = malloc(sizeof **m);
    lock_init(&(*m)->l);
    for (int k = 0; k < count; k++) lock_take(&(*m)->l);
    return OFXH_OK;
}
static ofxh_status mutex_destroy(ofxh_mutex *m) { lock_free(&m->l); free(m); return OFXH_OK; }
static ofxh_status mutex_lock(ofxh_mutex *m) { lock_take(&m->l); return OFXH_OK; }
static ofxh_status mutex_unlock(ofxh_mutex *m) { lock_drop(&m->l); return OFXH_OK; }
static ofxh_status mutex_trylock(ofxh_mutex *m) { return lock_try(&m->l) == 0 ? OFXH_OK : OFXH_FAILED; }
static const ofxh_thread_suite thread_suite = {
    multi_thread, num_cpus, thread_index, is_spawned, mutex_create, mutex_destroy, mutex_lock, mutex_unlock, mutex_trylock,
};

static ofxh_status message(void *handle, const char *type, const char *id, const char *fmt, ...)
{
    (void)handle;
    (void)id;
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    say("message %s: %s\n", type, text);
    return OFXH_OK;
}
static ofxh_status persistent(void *handle, const char *type, const char *id, const char *fmt, ...)
{
    (void)id;
    ofxh_effect *e = handle;
    va_list ap;
    va_start(ap, fmt);
    lock_take(&big_lock);
    vsnprintf(e->persistent, sizeof e->persistent, fmt, ap);
    lock_drop(&big_lock);
    va_end(ap);
    say("persistent %s: %s\n", type, e->persistent);
    return OFXH_OK;
}
static ofxh_status clear_persistent(void *handle)
{
    ofxh_effect *e = handle;
    lock_take(&big_lock);
    e->persistent[0] = 0;
    lock_drop(&big_lock);
    return OFXH_OK;
}
static const ofxh_message_suite_v2 message_suite = {message, persistent, clear_persistent};

static ofxh_propset host_props;
static const void *fetch_suite(ofxh_propset *host, const char *name, int version)
{
    (void)host;
    if (strcmp(name, N(kOfxPropertySuite)) == 0 && version == 1) return &property_suite;
    if (strcmp(name, N(kOfxImageEffectSuite)) == 0 && version == 1) return &effect_suite;
    if (strcmp(name, N(kOfxParameterSuite)) == 0 && version == 1) return &param_suite;
    if (strcmp(name, N(kOfxMemorySuite)) == 0 && version == 1) return &memory_suite;
    if (strcmp(name, N(kOfxMultiThreadSuite)) == 0 && version == 1) return &thread_suite;
    if (strcmp(name, N(kOfxMessageSuite)) == 0 && (version == 1 || version == 2)) return &message_suite;
    say("fetch-suite unknown %s %d\n", name, version);
    return NULL;
}
static ofxh_host host = {&host_props, fetch_suite};

/* ---- driving the plug-in ---- */
static ofxh_plugin *plugin;

static ofxh_status call(const char *action, const void *handle, ofxh_propset *in, ofxh_propset *out)
{
    ofxh_status st = plugin->mainEntry(action, handle, in, out);
    say("action %s -> %d\n", action, st);
    return st;
}

static void dump_strings(ofxh_propset *ps, const char *label, const char *name)
{
    prop *p = find(ps, name);
    say("%s %s =", label, name);
    for (int k = 0; p && k < p->n; k++) say(" %s", p->type == T_STRING ? p->s[k] : "?");
    say("\n");
}

static void dump_int(ofxh_propset *ps, const char *label, const char *name)
{
    int v = -999;
    get_int(ps, name, 0, &v);
    say("%s %s = %d\n", label, name, v);
}

static void dump_params(ofxh_effect *e)
{
    for (int k = 0; k < e->params.n; k++) {
        ofxh_param *p = &e->params.params[k];
        prop *def = find(&p->props, N(kOfxParamPropDefault));
        int imin = 0, imax = 0;
        char *mode = NULL;
        get_int(&p->props, N(kOfxParamPropMin), 0, &imin);
        get_int(&p->props, N(kOfxParamPropMax), 0, &imax);
        get_string(&p->props, N(kOfxParamPropStringMode), 0, &mode);
        say("param %s %s default=", p->name, p->type);
        if (def && def->type == T_INT) say("%d", def->i[0]);
        else if (def && def->type == T_DOUBLE) say("%g", def->d[0]);
        else if (def && def->type == T_STRING) say("'%s'", def->s[0]);
        say(" min=%d max=%d mode=%s choices=", imin, imax, mode ? mode : "-");
        prop *choices = find(&p->props, N(kOfxParamPropChoiceOption));
        for (int c = 0; choices && c < choices->n; c++) say("%s%s", c ? "," : "", choices->s[c]);
        say("\n");
    }
}

/* An instance built from a context's descriptor: its clips and parameters with their defaults. */
static void instantiate(ofxh_effect *desc, ofxh_effect *inst)
{
    memset(inst, 0, sizeof *inst);
    inst->instance = 1;
    set_string(&inst->props, N(kOfxImageEffectPropContext), 0, opt.context);
    set_int(&inst->props, "OfxPropIsInteractive", 0, 0);
    for (int k = 0; k < desc->n_clips; k++) {
        ofxh_clip *c = &inst->clips[inst->n_clips++];
        snprintf(c->name, sizeof c->name, "%s", desc->clips[k].name);
        c->owner = inst;
        int out = strcmp(c->name, N(kOfxImageEffectOutputClipName)) == 0;
        double range[2] = {0, opt.frames - 1};
        set_string(&c->props, N(kOfxPropName), 0, c->name);
        set_pixel_format(&c->props);
        set_double(&c->props, N(kOfxImageEffectPropFrameRate), 0, 24.0);
        set_double_n(&c->props, N(kOfxImageEffectPropFrameRange), 2, range);
        set_int(&c->props, N(kOfxImageClipPropConnected), 0, 1);
        (void)out;
    }
    for (int k = 0; k < desc->params.n; k++) {
        ofxh_param *src = &desc->params.params[k], *p = &inst->params.params[inst->params.n++];
        memset(p, 0, sizeof *p);
        snprintf(p->name, sizeof p->name, "%s", src->name);
        snprintf(p->type, sizeof p->type, "%s", src->type);
        set_string(&p->props, N(kOfxPropName), 0, p->name);
        prop *def = find(&src->props, N(kOfxParamPropDefault));
        if (def && def->type == T_INT) p->ival = def->i[0];
        if (def && def->type == T_DOUBLE) p->dval = def->d[0];
        param_set_text(p, def && def->type == T_STRING ? def->s[0] : "");
    }
}

static int apply_params(ofxh_effect *inst)
{
    for (int k = 0; k < opt.n_params; k++) {
        char name[64];
        const char *eq = strchr(opt.params[k], '=');
        if (!eq) return -1;
        snprintf(name, sizeof name, "%.*s", (int)(eq - opt.params[k]), opt.params[k]);
        ofxh_param *p = param_find(&inst->params, name);
        if (!p) { say("no parameter %s\n", name); return -1; }
        if (is_type(p, N(kOfxParamTypeDouble))) p->dval = atof(eq + 1);
        else if (is_type(p, N(kOfxParamTypeString))) param_set_text(p, eq + 1);
        else p->ival = atoi(eq + 1);
    }
    return 0;
}

static ofxh_effect instance_effect;

static void render_frame(int frame)
{
    ofxh_propset in = {0};
    double scale[2] = {opt.render_scale, opt.render_scale};
    int window[4] = {0, 0, scaled(out_width()), scaled(out_height())};
    set_double(&in, N(kOfxPropTime), 0, frame);
    set_string(&in, N(kOfxImageEffectPropFieldToRender), 0, N(kOfxImageFieldNone));
    set_int_n(&in, N(kOfxImageEffectPropRenderWindow), 4, window);
    set_double_n(&in, N(kOfxImageEffectPropRenderScale), 2, scale);
    set_int(&in, "OfxImageEffectPropSequentialRenderStatus", 0, 0);
    set_int(&in, "OfxImageEffectPropInteractiveRenderStatus", 0, 0);
    render_time = frame;
    lock_take(&big_lock);
    abort_polls = 0;
    lock_drop(&big_lock);
    ofxh_status st = plugin->mainEntry(N(kOfxImageEffectActionRender), &instance_effect, &in, NULL);
    render_time = -1;
    lock_take(&big_lock);
    char message_now[4096];
    snprintf(message_now, sizeof message_now, "%s", instance_effect.persistent);
    lock_drop(&big_lock);
    say("render %d -> %d message=%s\n", frame, st, message_now[0] ? message_now : "-");
    propset_free(&in);
}

typedef struct { int first, step; } slice;

#ifdef _WIN32
static DWORD WINAPI render_slice(LPVOID arg)
#else
static void *render_slice(void *arg)
#endif
{
    slice *s = arg;
    for (int k = s->first; k < opt.n_render; k += s->step) render_frame(opt.render[k]);
#ifdef _WIN32
    return 0;
#else
    return NULL;
#endif
}

static void *load_symbol(void *lib, const char *name)
{
#ifdef _WIN32
    return (void *)GetProcAddress((HMODULE)lib, name);
#else
    return dlsym(lib, name);
#endif
}

static int parse(int argc, char **argv)
{
    if (argc < 3) return -1;
    opt.bundle = argv[1];
    opt.out = argv[2];
    for (int k = 3; k < argc; k++) {
        const char *a = argv[k];
#define NEXT (k + 1 < argc ? argv[++k] : "")
        if (strcmp(a, "--context") == 0) opt.context = strcmp(NEXT, "general") == 0 ? N(kOfxImageEffectContextGeneral) : N(kOfxImageEffectContextFilter);
        else if (strcmp(a, "--size") == 0) { opt.width = atoi(NEXT); opt.height = atoi(NEXT); }
        else if (strcmp(a, "--frames-in-clip") == 0) opt.frames = atoi(NEXT);
        else if (strcmp(a, "--par") == 0) opt.par = atof(NEXT);
        else if (strcmp(a, "--depth") == 0) opt.depth = NEXT;
        else if (strcmp(a, "--components") == 0) opt.components = NEXT;
        else if (strcmp(a, "--premult") == 0) opt.premult = 1;
        else if (strcmp(a, "--alpha") == 0) opt.alpha = NEXT;
        else if (strcmp(a, "--rows") == 0) opt.rows = NEXT;
        else if (strcmp(a, "--bounds-margin") == 0) opt.margin = atoi(NEXT);
        else if (strcmp(a, "--no-temporal") == 0) opt.temporal = 0;
        else if (strcmp(a, "--no-multires") == 0) opt.multires = 0;
        else if (strcmp(a, "--nan-fill") == 0) opt.nan_fill = 1;
        else if (strcmp(a, "--render-scale") == 0) opt.render_scale = atof(NEXT);
        else if (strcmp(a, "--threads") == 0) opt.threads = atoi(NEXT);
        else if (strcmp(a, "--abort-after") == 0) opt.abort_after = atoi(NEXT);
        else if (strcmp(a, "--describe-only") == 0) opt.describe_only = 1;
        else if (strcmp(a, "--cached-sources") == 0) opt.cached_sources = 1;
        else if (strcmp(a, "--param") == 0 && opt.n_params < 32) opt.params[opt.n_params++] = NEXT;
        else if (strcmp(a, "--render") == 0) {
            char *list = strdup(NEXT);
            for (char *t = strtok(list, ","); t && opt.n_render < 256; t = strtok(NULL, ",")) opt.render[opt.n_render++] = atoi(t);
            free(list);
        } else return -1;
#undef NEXT
    }
    return 0;
}

int main(int argc, char **argv)
{
    lock_init(&big_lock);
    if (parse(argc, argv)) {
        fprintf(stderr, "usage: ofx_host BUNDLE OUT [options] (see host.c)\n");
        return 2;
    }
    depth_code = strcmp(opt.depth, "byte") == 0 ? D_BYTE : strcmp(opt.depth, "short") == 0 ? D_SHORT
               : strcmp(opt.depth, "half") == 0 ? D_HALF : D_FLOAT;
    char path[2048];
#ifdef _WIN32
    snprintf(path, sizeof path, "%s\\Contents\\Win64\\DCVSR.ofx", opt.bundle);
    void *lib = (void *)LoadLibraryA(path);
#else
    snprintf(path, sizeof path, "%s/Contents/Linux-x86-64/DCVSR.ofx", opt.bundle);
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
#endif
    if (!lib) { say("cannot load %s\n", path); return 3; }
    /* Host properties: what this host offers. */
    const char *comps[] = {N(kOfxImageComponentRGBA), N(kOfxImageComponentRGB)};
    const char *depths[] = {N(kOfxBitDepthFloat), N(kOfxBitDepthHalf), N(kOfxBitDepthShort), N(kOfxBitDepthByte)};
    int api[2] = {1, 4};
    set_string(&host_props, N(kOfxPropType), 0, N(kOfxTypeImageEffectHost));
    set_string(&host_props, N(kOfxPropName), 0, "org.dcvsr.TestHost");
    set_int_n(&host_props, N(kOfxPropAPIVersion), 2, api);
    set_int(&host_props, N(kOfxImageEffectPropSupportsMultiResolution), 0, opt.multires);
    set_int(&host_props, N(kOfxImageEffectPropTemporalClipAccess), 0, opt.temporal);
    set_int(&host_props, N(kOfxImageEffectPropSupportsTiles), 0, 1);
    set_int(&host_props, N(kOfxImageEffectPropSupportsMultipleClipDepths), 0, 0);
    set_string_n(&host_props, N(kOfxImageEffectPropSupportedComponents), 2, comps);
    set_string_n(&host_props, N(kOfxImageEffectPropSupportedPixelDepths), 4, depths);

    ofxh_status (*set_host_fn)(const ofxh_host *) = (ofxh_status (*)(const ofxh_host *))load_symbol(lib, "OfxSetHost");
    int (*count_fn)(void) = (int (*)(void))load_symbol(lib, "OfxGetNumberOfPlugins");
    ofxh_plugin *(*get_fn)(int) = (ofxh_plugin * (*)(int)) load_symbol(lib, "OfxGetPlugin");
    if (!count_fn || !get_fn) { say("missing entry points\n"); return 3; }
    if (set_host_fn) say("OfxSetHost -> %d\n", set_host_fn(&host));
    say("plugins %d\n", count_fn());
    plugin = get_fn(0);
    say("plugin %s api %s version %d %u.%u\n", plugin->pluginIdentifier, plugin->pluginApi, plugin->apiVersion,
        plugin->pluginVersionMajor, plugin->pluginVersionMinor);
    if (strcmp(plugin->pluginApi, N(kOfxImageEffectPluginApi)) != 0 || plugin->apiVersion != 1) return 3;
    plugin->setHost(&host);

    static ofxh_effect descriptor, filter_desc, general_desc;
    if (call(N(kOfxActionLoad), NULL, NULL, NULL) != OFXH_OK) return 4;
    if (call(N(kOfxActionDescribe), &descriptor, NULL, NULL) != OFXH_OK) return 4;
    dump_strings(&descriptor.props, "describe", N(kOfxImageEffectPropSupportedContexts));
    dump_strings(&descriptor.props, "describe", N(kOfxImageEffectPropSupportedPixelDepths));
    dump_strings(&descriptor.props, "describe", N(kOfxImageEffectPluginRenderThreadSafety));
    dump_strings(&descriptor.props, "describe", N(kOfxPropLabel));
    dump_int(&descriptor.props, "describe", N(kOfxImageEffectPropSupportsTiles));
    dump_int(&descriptor.props, "describe", N(kOfxImageEffectPropSupportsMultiResolution));
    dump_int(&descriptor.props, "describe", N(kOfxImageEffectPropTemporalClipAccess));
    dump_int(&descriptor.props, "describe", N(kOfxImageEffectPluginPropHostFrameThreading));
    ofxh_propset ctx_args = {0};
    set_string(&ctx_args, N(kOfxImageEffectPropContext), 0, N(kOfxImageEffectContextFilter));
    if (call(N(kOfxImageEffectActionDescribeInContext), &filter_desc, &ctx_args, NULL) != OFXH_OK) return 4;
    set_string(&ctx_args, N(kOfxImageEffectPropContext), 0, N(kOfxImageEffectContextGeneral));
    if (call(N(kOfxImageEffectActionDescribeInContext), &general_desc, &ctx_args, NULL) != OFXH_OK) return 4;
    for (int k = 0; k < filter_desc.n_clips; k++) {
        say("clip %s\n", filter_desc.clips[k].name);
        dump_strings(&filter_desc.clips[k].props, "clip", N(kOfxImageEffectPropSupportedComponents));
        dump_int(&filter_desc.clips[k].props, "clip", N(kOfxImageEffectPropTemporalClipAccess));
    }
    dump_params(&filter_desc);
    if (opt.describe_only) {
        call(N(kOfxActionUnload), NULL, NULL, NULL);
        return 0;
    }
    ofxh_effect *desc = strcmp(opt.context, N(kOfxImageEffectContextGeneral)) == 0 ? &general_desc : &filter_desc;
    instantiate(desc, &instance_effect);
    if (apply_params(&instance_effect)) return 2;
    if (call(N(kOfxActionCreateInstance), &instance_effect, NULL, NULL) != OFXH_OK) return 5;

    ofxh_propset prefs = {0}, args = {0}, out = {0};
    if (call(N(kOfxImageEffectActionGetClipPreferences), &instance_effect, NULL, &prefs) == OFXH_OK)
        dump_strings(&prefs, "prefs", OFXH_CLIP_COMPONENTS "Output");
    int t0 = opt.n_render ? opt.render[0] : 0;
    double scale[2] = {opt.render_scale, opt.render_scale};
    set_double(&args, N(kOfxPropTime), 0, t0);
    set_double_n(&args, N(kOfxImageEffectPropRenderScale), 2, scale);
    if (call(N(kOfxImageEffectActionGetRegionOfDefinition), &instance_effect, &args, &out) == OFXH_OK) {
        double r[4];
        get_double_n(&out, N(kOfxImageEffectPropRegionOfDefinition), 4, r);
        say("rod %g %g %g %g\n", r[0], r[1], r[2], r[3]);
        if (opt.multires) {
            rod_w = (int)lrint((r[2] - r[0]) / opt.par);
            rod_h = (int)lrint(r[3] - r[1]);
        }
    } else {
        say("rod default\n");
    }
    propset_free(&out);
    if (call(N(kOfxImageEffectActionGetFramesNeeded), &instance_effect, &args, &out) == OFXH_OK) {
        double r[2] = {-1, -1};
        get_double_n(&out, OFXH_CLIP_FRAME_RANGE "Source", 2, r);
        say("frames-needed %g %g\n", r[0], r[1]);
    }
    propset_free(&out);
    set_string(&args, N(kOfxImageEffectPropFieldToRender), 0, N(kOfxImageFieldNone));
    call(N(kOfxImageEffectActionIsIdentity), &instance_effect, &args, &out);
    propset_free(&out);
    ofxh_propset seq = {0};
    double range[2] = {0, opt.frames - 1};
    set_double_n(&seq, N(kOfxImageEffectPropFrameRange), 2, range);
    set_double(&seq, "OfxImageEffectPropFrameStep", 0, 1.0);
    set_double_n(&seq, N(kOfxImageEffectPropRenderScale), 2, scale);
    call(N(kOfxImageEffectActionBeginSequenceRender), &instance_effect, &seq, NULL);

    say("output %d %d\n", scaled(out_width()), scaled(out_height()));
    size_t frame_floats = (size_t)scaled(out_width()) * scaled(out_height()) * 4;
    /* OUT "-": keep no output (benchmarks: a host would show the frame, not convert it). */
    if (strcmp(opt.out, "-") != 0) results = calloc(frame_floats * (size_t)(opt.n_render ? opt.n_render : 1), sizeof(float));
    int n_threads = opt.threads < 1 ? 1 : opt.threads > 8 ? 8 : opt.threads;
    if (opt.cached_sources) cache_sources();
    double started = seconds();
    thread_t threads[8];
    slice slices[8];
    for (int k = 0; k < n_threads; k++) {
        slices[k].first = k;
        slices[k].step = n_threads;
#ifdef _WIN32
        threads[k] = CreateThread(NULL, 0, render_slice, &slices[k], 0, NULL);
#else
        pthread_create(&threads[k], NULL, render_slice, &slices[k]);
#endif
    }
    for (int k = 0; k < n_threads; k++) {
#ifdef _WIN32
        WaitForSingleObject(threads[k], INFINITE);
        CloseHandle(threads[k]);
#else
        pthread_join(threads[k], NULL);
#endif
    }
    say("render-seconds %.6f\n", seconds() - started);
    call(N(kOfxImageEffectActionEndSequenceRender), &instance_effect, &seq, NULL);
    /* "Check Engine": an instance change from the user. */
    ofxh_propset changed = {0};
    set_string(&changed, N(kOfxPropType), 0, N(kOfxTypeParameter));
    set_string(&changed, N(kOfxPropName), 0, "refresh_status");
    set_string(&changed, N(kOfxPropChangeReason), 0, N(kOfxChangeUserEdited));
    set_double(&changed, N(kOfxPropTime), 0, 0);
    set_double_n(&changed, N(kOfxImageEffectPropRenderScale), 2, scale);
    call(N(kOfxActionBeginInstanceChanged), &instance_effect, &changed, NULL);
    call(N(kOfxActionInstanceChanged), &instance_effect, &changed, NULL);
    call(N(kOfxActionEndInstanceChanged), &instance_effect, &changed, NULL);
    ofxh_param *status = param_find(&instance_effect.params, "engine_status");
    say("status %s\n", status && status->sval ? status->sval : "-");
    call(N(kOfxActionDestroyInstance), &instance_effect, NULL, NULL);
    call(N(kOfxActionUnload), NULL, NULL, NULL);

    FILE *f = results ? fopen(opt.out, "wb") : NULL;
    if (f) {
        fwrite(results, sizeof(float), frame_floats * (size_t)opt.n_render, f);
        fclose(f);
    }
    say("accounting fetched-source %d fetched-output %d released %d violations %d\n", fetched_source,
        fetched_output, released, violations);
    say("leaked %d\n", fetched_source + fetched_output - released);
    return 0;
}
