/* The C client of the dcvsr frame server (docs/protocol.md), usable without the OpenFX effect.
 *
 * One dcvsr_client is one connection to the engine; it is not shared between threads (open one
 * per thread, or guard it). A session is one clip in the engine; its render calls the source
 * callback for each frame the engine asks for and the sink callback for each finished frame.
 * Every wait has a deadline and polls an abort callback, so a host never hangs on the engine.
 */
#ifndef DCVSR_CLIENT_H
#define DCVSR_CLIENT_H

#include <stddef.h>
#include <stdint.h>

/* Errors: code > 0 is the engine's ERROR code (docs/protocol.md); code < 0 is local. */
enum {
    DCVSR_OK = 0,
    DCVSR_ERR_START = -1,    /* no engine runs and none could be started */
    DCVSR_ERR_GONE = -2,     /* the connection was lost (the engine died or stopped) */
    DCVSR_ERR_PROTOCOL = -3, /* the engine sent something this client cannot read */
    DCVSR_ERR_ABORTED = -4,  /* the caller's abort callback said stop */
    DCVSR_ERR_TIMEOUT = -5,  /* the engine did not answer in time */
    DCVSR_ERR_SOURCE = -6,   /* the source or sink callback failed */
    DCVSR_ERR_USAGE = -7,    /* a bad argument */
    DCVSR_ERR_RUNTIME = -8   /* the runtime folder or its token is missing or not private */
};

typedef struct {
    int code;
    char message[2048];
} dcvsr_error;

typedef struct dcvsr_client dcvsr_client;
typedef struct dcvsr_session dcvsr_session;

typedef struct {
    const char *runtime_dir;  /* NULL: DCVSR_RUNTIME_DIR, XDG_RUNTIME_DIR/dcvsr, ... */
    const char *transport;    /* "unix" or "tcp"; NULL: DCVSR_TRANSPORT, <runtime>/transport, default */
    int autostart;            /* 1 start an engine when none runs, 0 never, -1 DCVSR_AUTOSTART */
    double connect_timeout;   /* seconds to wait for a starting engine (0: 60) */
    double idle_timeout;      /* seconds without a message from a busy engine (0: 600) */
    const char *client_name;  /* sent in HELLO (NULL: "dcvsr-c") */
} dcvsr_connect_options;

int dcvsr_connect(const dcvsr_connect_options *options, dcvsr_client **out, dcvsr_error *err);
void dcvsr_disconnect(dcvsr_client *client);
/* The transport in use ("unix" or "tcp") and the engine's pid. */
const char *dcvsr_client_transport(const dcvsr_client *client);
uint64_t dcvsr_engine_pid(const dcvsr_client *client);
/* STATUS: a one-line summary ("pid 123, renderer dcvsr, 2 sessions") into buf. */
int dcvsr_status(dcvsr_client *client, char *buf, size_t size, dcvsr_error *err);
/* STOP: the engine cancels everything and exits. */
int dcvsr_stop_engine(dcvsr_client *client, dcvsr_error *err);

/* A session setting: name -> bool, integer, float, text or null. */
typedef enum { DCVSR_SET_NULL, DCVSR_SET_BOOL, DCVSR_SET_INT, DCVSR_SET_FLOAT, DCVSR_SET_TEXT } dcvsr_setting_type;
typedef struct {
    const char *name;
    dcvsr_setting_type type;
    int64_t i;        /* BOOL and INT */
    double f;         /* FLOAT */
    const char *s;    /* TEXT */
} dcvsr_setting;

typedef struct {
    const char *clip;            /* the clip's identity */
    uint32_t width, height;
    uint64_t frames;
    uint32_t fps_num, fps_den;
    const char *dtype;           /* "u8", "u16", "f16", "f32" */
    int channels;                /* 1, 3 or 4; interleaved layout */
    int matrix, transfer, primaries, range; /* H.273 code points */
    const dcvsr_setting *settings;
    size_t n_settings;
    const uint64_t *cuts;
    size_t n_cuts;
    int out_slots;               /* 0: the engine's default */
} dcvsr_clip;

int dcvsr_open(dcvsr_client *client, const dcvsr_clip *clip, dcvsr_session **out, dcvsr_error *err);
/* CLOSE the session in the engine and free it (also when the connection is gone). */
void dcvsr_close(dcvsr_session *session);
void dcvsr_session_out_size(const dcvsr_session *session, uint32_t *width, uint32_t *height);
/* Bytes of one source / output frame (tight interleaved rows, top row first). */
size_t dcvsr_source_bytes(const dcvsr_session *session);
size_t dcvsr_output_bytes(const dcvsr_session *session);

/* PLAN: the source frames [*first, *stop) that a render of output frames [start, stop) asks for. */
int dcvsr_plan(dcvsr_session *session, uint64_t start, uint64_t stop, uint64_t *first, uint64_t *last_stop,
               dcvsr_error *err);

typedef struct {
    void *ctx;
    /* Write source frame `frame` into dst (dcvsr_source_bytes, the session's format, top row
     * first). 0, or -1 with err filled in (the render is cancelled). */
    int (*source)(void *ctx, uint64_t frame, void *dst, size_t nbytes, dcvsr_error *err);
    /* Take output frame `frame` (valid only during the call). 0, or -1 to cancel. */
    int (*sink)(void *ctx, uint64_t frame, const void *pixels, size_t nbytes, dcvsr_error *err);
    void (*progress)(void *ctx, uint64_t done, uint64_t total);  /* optional */
    int (*should_abort)(void *ctx);                               /* optional, polled */
} dcvsr_render_callbacks;

/* RENDER output frames [start, stop): serves NEED_SOURCE, hands each FRAME_READY to the sink and
 * RELEASEs its slot; on abort sends CANCEL and waits (bounded) for the render to end. */
int dcvsr_render(dcvsr_session *session, uint64_t start, uint64_t stop, const dcvsr_render_callbacks *cb,
                 dcvsr_error *err);

/* Counters for benchmarks: pixel bytes this client copied (source into slots or buffers, output
 * out of them) and sent or received inline over the socket. */
typedef struct {
    uint64_t source_bytes_copied, output_bytes_copied, inline_bytes_sent, inline_bytes_received;
} dcvsr_counters;
void dcvsr_get_counters(const dcvsr_client *client, dcvsr_counters *out);

#endif
