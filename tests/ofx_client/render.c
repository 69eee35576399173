/* The C client end to end, for tests and the benchmark: render frames of a synthetic clip and
 * write the output frames (f32 RGB, top row first) one after another to a file.
 *
 *   render RUNTIME_DIR TRANSPORT WIDTH HEIGHT FRAMES START STOP OUT [name=value settings...]
 *
 * Source pixel (frame f, x, y, channel c) = ((7f + 3x + 5y + 11c) mod 256) / 255, the same
 * pattern tests/test_ofx_client.py feeds the Python client. A value with a '.' is a float, "true"
 * and "false" are booleans, digits are integers, anything else is text. Prints the counters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcvsr_client.h"

typedef struct {
    uint32_t width, height;
    FILE *out;
    uint64_t frames_written;
} job;

static int source(void *ctx, uint64_t frame, void *dst, size_t nbytes, dcvsr_error *err)
{
    job *j = ctx;
    float *p = dst;
    (void)err;
    if (nbytes != (size_t)j->width * j->height * 3 * sizeof(float)) return -1;
    for (uint32_t y = 0; y < j->height; y++)
        for (uint32_t x = 0; x < j->width; x++)
            for (int c = 0; c < 3; c++)
                *p++ = (float)((7 * frame + 3 * x + 5 * y + 11 * (uint64_t)c) % 256) / 255.0f;
    return 0;
}

static int sink(void *ctx, uint64_t frame, const void *pixels, size_t nbytes, dcvsr_error *err)
{
    job *j = ctx;
    (void)frame;
    (void)err;
    j->frames_written++;
    return fwrite(pixels, 1, nbytes, j->out) == nbytes ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 9) {
        fprintf(stderr, "usage: render RUNTIME_DIR TRANSPORT WIDTH HEIGHT FRAMES START STOP OUT [k=v...]\n");
        return 2;
    }
    job j = {(uint32_t)atoi(argv[3]), (uint32_t)atoi(argv[4]), NULL, 0};
    dcvsr_setting settings[32];
    size_t n = 0;
    for (int i = 9; i < argc && n < 32; i++, n++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) return 2;
        *eq = 0;
        const char *v = eq + 1;
        settings[n].name = argv[i];
        if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
            settings[n].type = DCVSR_SET_BOOL;
            settings[n].i = v[0] == 't';
        } else if (strchr(v, '.') && strspn(v, "-0123456789.") == strlen(v)) {
            settings[n].type = DCVSR_SET_FLOAT;
            settings[n].f = atof(v);
        } else if (*v && strspn(v, "-0123456789") == strlen(v)) {
            settings[n].type = DCVSR_SET_INT;
            settings[n].i = atoll(v);
        } else {
            settings[n].type = DCVSR_SET_TEXT;
            settings[n].s = v;
        }
    }
    dcvsr_connect_options o = {argv[1], argv[2], -1, 60, 120, "dcvsr-c render test"}; /* DCVSR_AUTOSTART */
    dcvsr_client *client;
    dcvsr_error err = {0};
    if (dcvsr_connect(&o, &client, &err)) {
        printf("error %d %s\n", err.code, err.message);
        return 1;
    }
    dcvsr_clip clip = {"c-render-test", j.width, j.height, (uint64_t)atoll(argv[5]), 24, 1, "f32", 3,
                       1, 1, 1, 1, settings, n, NULL, 0, 0};
    dcvsr_session *session;
    if (dcvsr_open(client, &clip, &session, &err)) {
        printf("error %d %s\n", err.code, err.message);
        dcvsr_disconnect(client);
        return 1;
    }
    j.out = fopen(argv[8], "wb");
    dcvsr_render_callbacks cb = {&j, source, sink, NULL, NULL};
    /* DCVSR_RENDER_PER_FRAME=1: one request per frame, as an OpenFX host asks (benchmarks). */
    const char *per_frame = getenv("DCVSR_RENDER_PER_FRAME");
    uint64_t start = (uint64_t)atoll(argv[6]), stop = (uint64_t)atoll(argv[7]);
    int rc = 0;
    if (per_frame && *per_frame == '1')
        for (uint64_t i = start; i < stop && !rc; i++) rc = dcvsr_render(session, i, i + 1, &cb, &err);
    else
        rc = dcvsr_render(session, start, stop, &cb, &err);
    fclose(j.out);
    uint32_t ow, oh;
    dcvsr_session_out_size(session, &ow, &oh);
    dcvsr_counters k;
    dcvsr_get_counters(client, &k);
    dcvsr_close(session);
    dcvsr_disconnect(client);
    if (rc) {
        printf("error %d %s\n", err.code, err.message);
        return 1;
    }
    printf("ok out %ux%u frames %llu transport %s source_copied %llu output_copied %llu inline_sent %llu "
           "inline_received %llu\n", ow, oh, (unsigned long long)j.frames_written, argv[2],
           (unsigned long long)k.source_bytes_copied, (unsigned long long)k.output_bytes_copied,
           (unsigned long long)k.inline_bytes_sent, (unsigned long long)k.inline_bytes_received);
    return 0;
}
