/* An instance's engine connections: one session per connection, several connections when the
 * host renders several frames at once, never one socket shared by two threads. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effect.h"

#define MAX_IDLE 4

static dcvsr_setting *add(session_spec *s, const char *name)
{
    /* A later setting of the same name replaces an earlier one (the advanced field may repeat). */
    for (size_t i = 0; i < s->clip.n_settings; i++)
        if (strcmp(s->settings[i].name, name) == 0) return &s->settings[i];
    if (s->clip.n_settings >= sizeof s->settings / sizeof s->settings[0]) return NULL;
    dcvsr_setting *x = &s->settings[s->clip.n_settings++];
    memset(x, 0, sizeof *x);
    x->name = name;
    return x;
}

static void add_text(session_spec *s, const char *name, const char *value)
{
    dcvsr_setting *x = add(s, name);
    if (!x) return;
    size_t slot = (size_t)(x - s->settings);
    snprintf(s->text[slot], sizeof s->text[slot], "%s", value);
    x->type = DCVSR_SET_TEXT;
    x->s = s->text[slot];
}

static void add_int(session_spec *s, const char *name, int64_t v)
{
    dcvsr_setting *x = add(s, name);
    if (x) { x->type = DCVSR_SET_INT; x->i = v; }
}

static void add_float(session_spec *s, const char *name, double v)
{
    dcvsr_setting *x = add(s, name);
    if (x) { x->type = DCVSR_SET_FLOAT; x->f = v; }
}

/* "name=value name=value": true/false, integers, numbers with a point, else text. */
static int add_advanced(session_spec *s, const char *line, char *why, size_t why_size)
{
    const char *p = line;
    while (*p) {
        while (isspace((unsigned char)*p)) p++;
        if (!*p) break;
        const char *eq = strchr(p, '='), *end = p;
        while (*end && !isspace((unsigned char)*end)) end++;
        if (!eq || eq > end || eq == p) {
            snprintf(why, why_size, "Advanced Settings: '%.*s' is not name=value", (int)(end - p), p);
            return -1;
        }
        if (s->n_names >= 40) {
            snprintf(why, why_size, "Advanced Settings: too many settings");
            return -1;
        }
        char value[256];
        char *stored = s->names[s->n_names++];
        snprintf(stored, sizeof s->names[0], "%.*s", (int)(eq - p), p);
        snprintf(value, sizeof value, "%.*s", (int)(end - eq - 1), eq + 1);
        char *num_end;
        if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0) {
            dcvsr_setting *y = add(s, stored);
            if (y) { y->type = DCVSR_SET_BOOL; y->i = value[0] == 't'; }
        } else if (strtoll(value, &num_end, 10), *value && !*num_end) {
            add_int(s, stored, strtoll(value, NULL, 10));
        } else if (strtod(value, &num_end), *value && !*num_end) {
            add_float(s, stored, strtod(value, NULL));
        } else {
            add_text(s, stored, value);
        }
        p = end;
    }
    return 0;
}

int session_spec_build(instance *in, OfxTime t, const geometry *geo, double render_scale, int temporal,
                       session_spec *s, char *why, size_t why_size)
{
    memset(s, 0, sizeof *s);
    double first, count, fps;
    source_range(in, &first, &count, &fps);
    s->clip.clip = in->clip_id;
    s->clip.width = (uint32_t)geo->eng_w;
    s->clip.height = (uint32_t)geo->eng_h;
    s->clip.frames = (uint64_t)count;
    /* 23.976 and friends are 1000/1001 rates. */
    double n1001 = fps * 1001.0 / 1000.0;
    if (fabs(n1001 - floor(n1001 + 0.5)) < 1e-3 && fabs(fps - floor(fps + 0.5)) > 1e-3) {
        s->clip.fps_num = (uint32_t)lrint(n1001) * 1000;
        s->clip.fps_den = 1001;
    } else {
        s->clip.fps_num = (uint32_t)lrint(fps * 1000);
        s->clip.fps_den = 1000;
    }
    if (s->clip.fps_num == 0) s->clip.fps_num = 24000;
    s->clip.dtype = "f32";
    s->clip.channels = 3;
    /* RGB samples (matrix 0), BT.709 primaries and transfer (Resolve's default Rec.709 timeline,
     * displayed with gamma 2.4), full range. OCIO names come with the engine's OpenColorIO. */
    s->clip.matrix = 0;
    s->clip.transfer = 1;
    s->clip.primaries = 1;
    s->clip.range = 1;
    s->clip.settings = s->settings;
    add_float(s, "scale", geo->factor);
    char text[256];
    for (int i = 1; i < DCVSR_N_PARAMS; i++) {
        const dcvsr_param_spec *p = &DCVSR_PARAMS[i];
        if (p->kind == DCVSR_PARAM_CHOICE) {
            int k = param_int(in->params[i], t);
            add_text(s, p->name, p->choices[k >= 0 && k < p->n_choices ? k : 0]);
        } else if (p->kind == DCVSR_PARAM_INT) {
            int v = param_int(in->params[i], t);
            if (v > 0 || strcmp(p->name, "seed") == 0) add_int(s, p->name, v);
        } else {
            param_string(in->params[i], t, text, sizeof text);
            if (*text) add_text(s, p->name, text);
        }
    }
    if (render_scale < 0.999) add_text(s, "quality", "preview"); /* proxy renders preview at their size */
    param_string(in->advanced, t, text, sizeof text);
    if (add_advanced(s, text, why, why_size)) return -1;
    if (!temporal) {
        /* No access to other frames: each frame on its own (no temporal window, no TAP chain). */
        add_int(s, "tile_frames", 1);
        add_int(s, "segment_frames", 1);
        add_int(s, "decode_chunk", 1);
        add_float(s, "frame_overlap", 0.0);
    }
    int n = snprintf(s->key, sizeof s->key, "%s|%ux%u|%llu|%u/%u", s->clip.clip, s->clip.width, s->clip.height,
                     (unsigned long long)s->clip.frames, s->clip.fps_num, s->clip.fps_den);
    for (size_t i = 0; i < s->clip.n_settings && n > 0 && (size_t)n < sizeof s->key; i++) {
        const dcvsr_setting *x = &s->settings[i];
        n += snprintf(s->key + n, sizeof s->key - (size_t)n, "|%s=%d:%lld:%.17g:%s", x->name, (int)x->type,
                      (long long)x->i, x->f, x->s ? x->s : "");
    }
    return 0;
}

worker *worker_take(instance *in, const session_spec *spec, dcvsr_error *err)
{
    g.thread->mutexLock(in->lock);
    worker **link = &in->idle, *w = NULL;
    for (; *link; link = &(*link)->next) {
        if (strcmp((*link)->key, spec->key) == 0) {
            w = *link;
            *link = w->next;
            in->n_idle--;
            break;
        }
    }
    g.thread->mutexUnLock(in->lock);
    if (w) return w;
    w = calloc(1, sizeof *w);
    if (!w) { err->code = DCVSR_ERR_USAGE; snprintf(err->message, sizeof err->message, "out of memory"); return NULL; }
    dcvsr_connect_options o = {0};
    o.autostart = -1;
    o.client_name = "DC-VSR Upscale (OpenFX)";
    if (dcvsr_connect(&o, &w->client, err)) { free(w); return NULL; }
    if (dcvsr_open(w->client, &spec->clip, &w->session, err)) {
        dcvsr_disconnect(w->client);
        free(w);
        return NULL;
    }
    snprintf(w->key, sizeof w->key, "%s", spec->key);
    return w;
}

static void worker_free(worker *w)
{
    dcvsr_close(w->session);
    dcvsr_disconnect(w->client);
    free(w);
}

void worker_give(instance *in, worker *w, int ok)
{
    if (!w) return;
    if (ok) {
        g.thread->mutexLock(in->lock);
        if (in->n_idle < MAX_IDLE) {
            w->next = in->idle;
            in->idle = w;
            in->n_idle++;
            w = NULL;
        }
        g.thread->mutexUnLock(in->lock);
    }
    if (w) worker_free(w);
}

void workers_close_all(instance *in)
{
    g.thread->mutexLock(in->lock);
    worker *w = in->idle;
    in->idle = NULL;
    in->n_idle = 0;
    g.thread->mutexUnLock(in->lock);
    while (w) {
        worker *next = w->next;
        worker_free(w);
        w = next;
    }
}
