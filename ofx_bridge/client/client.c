/* The connection, the handshake, starting the engine, sessions and the render loop. */
#include "dcvsr_client.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "os.h"
#include "slot.h"

#define POLL_MS 50               /* how often a wait looks at the abort callback */
#define CANCEL_GRACE 10.0        /* seconds a cancelled render may take to end */
#define MAX_SLOTS 64

struct dcvsr_client {
    dc_socket *sock;
    char runtime_dir[1024];
    char transport[8];           /* "unix" or "tcp" */
    uint64_t engine_pid;
    int inline_pixels;           /* the session transport: inline (TCP) or shm */
    uint32_t next_request;
    uint32_t max_payload;
    double idle_timeout;
    int broken;
    dcvsr_counters counters;
    uint8_t hdr[DC_HEADER_SIZE];
};

struct dcvsr_session {
    dcvsr_client *client;
    uint64_t id;
    uint32_t width, height, out_width, out_height;
    int channels, dtype;
    size_t item;
    uint8_t *segment;            /* shm: the mapping */
    size_t segment_size;
    size_t slot_offset[MAX_SLOTS];
    size_t n_slots;
    uint8_t *source_buffer;      /* inline: where the source callback writes */
};

static int set_error(dcvsr_error *err, int code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

static void join(char *out, size_t size, const char *dir, const char *name)
{
    snprintf(out, size, "%s%c%s", dir, DC_PATH_SEP, name);
}

/* ---- where the engine is ---- */
static void choose_transport(const dcvsr_connect_options *o, const char *dir, char out[8])
{
    const char *t = o->transport;
    if (!t || !*t) t = getenv("DCVSR_TRANSPORT");
    char *file = NULL;
    if (!t || !*t) {
        char path[1100];
        join(path, sizeof path, dir, "transport");
        file = dc_read_file(path, 64);
        if (file) {
            char *e = file + strlen(file);
            while (e > file && isspace((unsigned char)e[-1])) *--e = 0;
            t = file;
        }
    }
#ifdef _WIN32
    const char *fallback = "tcp";
#else
    const char *fallback = "unix";
#endif
    snprintf(out, 8, "%s", t && (strcmp(t, "tcp") == 0 || strcmp(t, "unix") == 0) ? t : fallback);
    free(file);
}

static dc_socket *open_socket(const dcvsr_client *c)
{
    char path[1100];
    if (strcmp(c->transport, "tcp") == 0) {
        join(path, sizeof path, c->runtime_dir, "engine.port");
        char *text = dc_read_file(path, 32);
        int port = text ? atoi(text) : 0;
        free(text);
        return port > 0 && port < 65536 ? dc_connect_tcp("127.0.0.1", port) : NULL;
    }
    const char *env = getenv("DCVSR_SOCKET");
    if (env && *env) return dc_connect_unix(env);
    join(path, sizeof path, c->runtime_dir, "engine.sock");
    return dc_connect_unix(path);
}

static int can_connect(const dcvsr_client *c)
{
    dc_socket *s = open_socket(c);
    dc_socket_close(s);
    return s != NULL;
}

/* Split a command line like a POSIX shell does for plain words, '...' and "..." (no expansion). */
static char **split_command(const char *line)
{
    size_t n = strlen(line);
    char **argv = calloc(n / 2 + 2, sizeof *argv);
    char *buf = malloc(n + 1);
    if (!argv || !buf) { free(argv); free(buf); return NULL; }
    size_t argc = 0, o = 0;
    const char *p = line;
    while (*p) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) break;
        argv[argc++] = buf + o;
        while (*p && !isspace((unsigned char)*p)) {
            if (*p == '\'' || *p == '"') {
                char q = *p++;
                while (*p && *p != q) {
                    if (q == '"' && *p == '\\' && p[1]) p++;
                    buf[o++] = *p++;
                }
                if (*p) p++;
            } else {
                if (*p == '\\' && p[1]) p++;
                buf[o++] = *p++;
            }
        }
        buf[o++] = 0;
    }
    if (argc == 0) { free(argv); free(buf); return NULL; }
    return argv; /* argv[0] points at the start of buf: free(argv[0]) then free(argv) */
}

static void free_command(char **argv)
{
    if (argv) { free(argv[0]); free(argv); }
}

/* The engine command file `dcvsr install` writes, by engine_command_file.py's rules: the one
 * DCVSR_ENGINE_COMMAND_FILE names, else the user's, else the system's, the first that exists. */
static int find_command_file(char *path, size_t size)
{
    const char *named = getenv("DCVSR_ENGINE_COMMAND_FILE");
    if (named && *named) return snprintf(path, size, "%s", named) < (int)size ? 0 : -1;
    int (*const folders[])(char *, size_t) = {dc_config_dir, dc_system_config_dir};
    for (size_t i = 0; i < sizeof folders / sizeof *folders; i++) {
        char dir[1024];
        if (folders[i](dir, sizeof dir) != 0) continue;
        join(path, size, dir, "engine-command");
        if (dc_is_file(path)) return 0;
    }
    return -1;
}

/* The engine command: DCVSR_ENGINE_CMD, else the engine command file, else `dcvsr serve` found on
 * PATH. NULL, with why in described, when the file holds no command. */
static char **engine_command(char *described, size_t size)
{
    const char *env = getenv("DCVSR_ENGINE_CMD");
    if (env && *env) {
        snprintf(described, size, "%s (DCVSR_ENGINE_CMD)", env);
        return split_command(env);
    }
    char path[1100];
    if (find_command_file(path, sizeof path) == 0) {
        char *text = dc_read_file(path, 4096);
        if (!text) {
            snprintf(described, size, "cannot read the engine command file %s", path);
            return NULL;
        }
        char *nl = strpbrk(text, "\r\n");
        if (nl) *nl = 0;
        snprintf(described, size, "%s (from %s)", text, path);
        char **argv = split_command(text);
        free(text);
        if (!argv) snprintf(described, size, "engine command file %s: the first line holds no command", path);
        return argv;
    }
    snprintf(described, size, "dcvsr serve (found on PATH)");
    return split_command("dcvsr serve");
}

static void log_tail(const char *log_path, char *out, size_t size)
{
    char *text = dc_read_file(log_path, 1 << 20);
    out[0] = 0;
    if (!text) return;
    size_t n = strlen(text), keep = size - 1 < 1200 ? size - 1 : 1200;
    snprintf(out, size, "%s", n > keep ? text + n - keep : text);
    free(text);
}

/* The same rules as the Python client (runtime/autostart.py): take start.lock, try once more,
 * run the command in a new session, poll until it accepts connections, fail early if it exits. */
static int start_engine(dcvsr_client *c, double timeout, dcvsr_error *err)
{
    char lock_path[1100], log_path[1100], described[1200], why[512];
    double deadline = dc_now() + timeout;
    join(lock_path, sizeof lock_path, c->runtime_dir, "start.lock");
    join(log_path, sizeof log_path, c->runtime_dir, "engine.log");
    dc_file_lock lock;
    if (dc_lock_file(lock_path, deadline, &lock))
        return set_error(err, DCVSR_ERR_START, "timed out waiting for another client to start the dcvsr engine "
                         "(lock %s)", lock_path);
    int rc = 0;
    if (can_connect(c)) goto done;
    char **argv = engine_command(described, sizeof described);
    if (!argv) {
        rc = set_error(err, DCVSR_ERR_START, "no command to start the dcvsr engine: %s; run dcvsr install or set "
                       "DCVSR_ENGINE_CMD", described);
        goto done;
    }
    intptr_t proc = dc_spawn(argv, c->runtime_dir, log_path, why, sizeof why);
    free_command(argv);
    if (!proc) {
        rc = set_error(err, DCVSR_ERR_START, "cannot start the dcvsr engine with %s: %s. Install dcvsr or set "
                       "DCVSR_ENGINE_CMD", described, why);
        goto done;
    }
    for (;;) {
        if (can_connect(c)) {
            dc_detach_process(proc);
            break;
        }
        int status;
        if (dc_process_exited(proc, &status)) {
            char tail[1300];
            log_tail(log_path, tail, sizeof tail);
            rc = set_error(err, DCVSR_ERR_START, "the dcvsr engine exited with status %d while starting "
                           "(command %s); log %s:\n%s", status, described, log_path, tail);
            break;
        }
        if (dc_now() > deadline) {
            char tail[1300];
            log_tail(log_path, tail, sizeof tail);
            dc_detach_process(proc);
            rc = set_error(err, DCVSR_ERR_START, "the dcvsr engine did not become ready within %.0f s "
                           "(command %s); log %s:\n%s", timeout, described, log_path, tail);
            break;
        }
        dc_sleep_ms(50);
    }
done:
    dc_unlock_file(&lock);
    return rc;
}

/* ---- messages over the socket ---- */
static int gone(dcvsr_client *c, dcvsr_error *err, const char *what)
{
    c->broken = 1;
    char log_path[1100];
    join(log_path, sizeof log_path, c->runtime_dir, "engine.log");
    return set_error(err, DCVSR_ERR_GONE, "lost the connection to the dcvsr engine (pid %llu): %s. It may have "
                     "crashed (see %s); the next connection starts a new one",
                     (unsigned long long)c->engine_pid, what, log_path);
}

static int send_message(dcvsr_client *c, int kind, uint32_t request, cb_value *fields, dcvsr_error *err)
{
    if (c->broken) return gone(c, err, "the connection is closed");
    cb_buffer b = {0};
    const char *why = NULL;
    if (dc_encode(kind, request, fields, &b, &why)) {
        cb_buffer_free(&b);
        return set_error(err, DCVSR_ERR_USAGE, "cannot encode %s: %s", dc_kind_name(kind), why ? why : "?");
    }
    size_t at = 0;
    int rc = 0;
    for (int i = 0; i < b.n_ext && !rc; i++) {
        rc = dc_socket_send(c->sock, b.data + at, b.ext[i].at - at);
        if (!rc) rc = dc_socket_send(c->sock, b.ext[i].ptr, b.ext[i].len);
        at = b.ext[i].at;
    }
    if (!rc) rc = dc_socket_send(c->sock, b.data + at, b.len - at);
    cb_buffer_free(&b);
    return rc ? gone(c, err, "sending failed") : 0;
}

/* Read exactly n bytes, waiting at most until deadline and polling abort. */
static int read_exact(dcvsr_client *c, uint8_t *buf, size_t n, double deadline, int started,
                      const dcvsr_render_callbacks *cb, dcvsr_error *err)
{
    size_t got = 0;
    while (got < n) {
        if (!started && got == 0 && cb && cb->should_abort && cb->should_abort(cb->ctx))
            return set_error(err, DCVSR_ERR_ABORTED, "aborted by the host");
        int w = dc_socket_wait(c->sock, POLL_MS);
        if (w < 0) return gone(c, err, "waiting failed");
        if (w == 0) {
            if (dc_now() > deadline) {
                c->broken = 1;
                return set_error(err, DCVSR_ERR_TIMEOUT, "the dcvsr engine sent nothing for %.0f s; giving up",
                                 c->idle_timeout);
            }
            continue;
        }
        long r = dc_socket_recv(c->sock, buf + got, n - got);
        if (r <= 0) return gone(c, err, got || started ? "connection closed mid-message" : "connection closed");
        got += (size_t)r;
    }
    return 0;
}

/* The next message. An abort is noticed only between messages, never in the middle of one. */
static int recv_message(dcvsr_client *c, dc_message *msg, const dcvsr_render_callbacks *cb, double timeout,
                        dcvsr_error *err)
{
    memset(msg, 0, sizeof *msg);
    if (c->broken) return gone(c, err, "the connection is closed");
    double deadline = dc_now() + timeout;
    int rc = read_exact(c, c->hdr, DC_HEADER_SIZE, deadline, 0, cb, err);
    if (rc) return rc;
    dc_header h;
    const char *why = NULL;
    if (dc_read_header(c->hdr, c->max_payload, &h, &why)) {
        c->broken = 1;
        return set_error(err, DCVSR_ERR_PROTOCOL, "the engine sent a message this client cannot read: %s", why);
    }
    uint8_t *payload = malloc(h.length ? h.length : 1);
    if (!payload) { c->broken = 1; return set_error(err, DCVSR_ERR_PROTOCOL, "out of memory for a message"); }
    rc = read_exact(c, payload, h.length, dc_now() + c->idle_timeout, 1, cb, err);
    if (rc) { free(payload); return rc; }
    if (dc_check_payload(h.kind, payload, h.length, 0, msg, &why)) {
        free(payload);
        c->broken = 1;
        return set_error(err, DCVSR_ERR_PROTOCOL, "the engine sent a message this client cannot read: %s", why);
    }
    msg->payload = payload;
    msg->request = h.request;
    return 0;
}

static int engine_error(const dc_message *m, dcvsr_error *err)
{
    char text[1800];
    dc_text(m, "message", text, sizeof text);
    int code = (int)dc_uint(m, "code");
    const char *name = dc_code_name(code);
    return set_error(err, code > 0 ? code : DC_INTERNAL, "engine error %d (%s): %s", code, name ? name : "?", text);
}

static uint32_t new_request(dcvsr_client *c)
{
    uint32_t id = c->next_request;
    c->next_request = id == UINT32_MAX ? 1 : id + 1;
    return id;
}

/* Send a request and wait for its one reply of kind expect (not for RENDER). */
static int call(dcvsr_client *c, int kind, cb_value *fields, int expect, dc_message *reply, dcvsr_error *err)
{
    uint32_t rid = new_request(c);
    int rc = send_message(c, kind, rid, fields, err);
    if (rc) return rc;
    for (;;) {
        rc = recv_message(c, reply, NULL, c->idle_timeout, err);
        if (rc) return rc;
        if (reply->kind == DC_ERROR && (reply->request == rid || reply->request == 0)) {
            rc = engine_error(reply, err);
            if (reply->request == 0) c->broken = 1;
            dc_message_free(reply);
            return rc;
        }
        if (reply->request == rid && reply->kind == expect) return 0;
        if (reply->request == rid) {
            int got = reply->kind;
            dc_message_free(reply);
            c->broken = 1;
            return set_error(err, DCVSR_ERR_PROTOCOL, "expected %s, got %s", dc_kind_name(expect), dc_kind_name(got));
        }
        dc_message_free(reply); /* a late message of a request that ended */
    }
}

/* ---- connecting ---- */
static int handshake(dcvsr_client *c, const char *client_name, dcvsr_error *err)
{
    char path[1100];
    join(path, sizeof path, c->runtime_dir, "token");
    if (dc_check_private_file(path) != 0)
        return set_error(err, DCVSR_ERR_RUNTIME, "token file %s is missing or not private to you", path);
    char *token = dc_read_file(path, 256);
    if (!token) return set_error(err, DCVSR_ERR_RUNTIME, "cannot read the token file %s", path);
    char *e = token + strlen(token);
    while (e > token && isspace((unsigned char)e[-1])) *--e = 0;
    cb_value versions[1] = {cb_uint(DC_VERSION)};
    cb_value fields[] = {
        cb_text("versions"), cb_array(versions, 1),
        cb_text("token"), cb_text(token),
        cb_text("client"), cb_text(client_name),
    };
    cb_value map = cb_map(fields, 3);
    dc_message reply;
    int rc = call(c, DC_HELLO, &map, DC_WELCOME, &reply, err);
    free(token);
    if (rc) return rc;
    c->engine_pid = dc_uint(&reply, "pid");
    const cb_value *caps = dc_field(&reply, "caps");
    int has_inline = 0;
    for (size_t i = 0; caps && i < caps->len; i++)
        if (caps->items[i].len == 6 && memcmp(caps->items[i].ptr, "inline", 6) == 0) has_inline = 1;
    dc_message_free(&reply);
    if (c->inline_pixels && !has_inline)
        return set_error(err, DCVSR_ERR_PROTOCOL, "the engine does not offer inline pixels, which TCP needs");
    return 0;
}

int dcvsr_connect(const dcvsr_connect_options *options, dcvsr_client **out, dcvsr_error *err)
{
    dcvsr_connect_options o = {0};
    if (options) o = *options;
    *out = NULL;
    dcvsr_client *c = calloc(1, sizeof *c);
    if (!c) return set_error(err, DCVSR_ERR_USAGE, "out of memory");
    c->next_request = 1;
    c->max_payload = DC_MAX_CONTROL_PAYLOAD;
    c->idle_timeout = o.idle_timeout > 0 ? o.idle_timeout : 600.0;
    double timeout = o.connect_timeout > 0 ? o.connect_timeout : 60.0;
    char why[512];
    if (o.runtime_dir && *o.runtime_dir) {
        snprintf(c->runtime_dir, sizeof c->runtime_dir, "%s", o.runtime_dir);
    } else if (dc_default_runtime_dir(c->runtime_dir, sizeof c->runtime_dir)) {
        free(c);
        return set_error(err, DCVSR_ERR_RUNTIME, "cannot tell where the dcvsr runtime folder is; set DCVSR_RUNTIME_DIR");
    }
    dc_make_private_dir(c->runtime_dir);
    if (dc_check_private_dir(c->runtime_dir, why, sizeof why)) {
        free(c);
        return set_error(err, DCVSR_ERR_RUNTIME, "%s", why);
    }
    choose_transport(&o, c->runtime_dir, c->transport);
    c->inline_pixels = strcmp(c->transport, "tcp") == 0;
    int autostart = o.autostart;
    if (autostart < 0) {
        const char *a = getenv("DCVSR_AUTOSTART");
        autostart = !(a && (strcmp(a, "0") == 0 || strcmp(a, "false") == 0 || strcmp(a, "no") == 0
                            || strcmp(a, "off") == 0));
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        c->sock = open_socket(c);
        if (!c->sock) {
            if (!autostart) {
                free(c);
                return set_error(err, DCVSR_ERR_START, "no dcvsr engine is running (runtime folder %s, transport "
                                 "%s) and autostart is off (DCVSR_AUTOSTART=0); start one with `dcvsr serve`",
                                 options && options->runtime_dir ? options->runtime_dir : "default",
                                 c->transport);
            }
            int rc = start_engine(c, timeout, err);
            if (rc) { free(c); return rc; }
            c->sock = open_socket(c);
            if (!c->sock) {
                free(c);
                return set_error(err, DCVSR_ERR_START, "the dcvsr engine started but refuses connections");
            }
        }
        c->broken = 0;
        int rc = handshake(c, o.client_name ? o.client_name : "dcvsr-c", err);
        if (rc == 0) { *out = c; return 0; }
        dc_socket_close(c->sock);
        c->sock = NULL;
        /* A dying engine can accept into its backlog and then reset: once it is gone the next
         * attempt finds no listener (and starts one). */
        if (rc != DCVSR_ERR_GONE || attempt) { free(c); return rc; }
        dc_sleep_ms(200);
    }
    free(c);
    return set_error(err, DCVSR_ERR_START, "could not connect to the dcvsr engine");
}

void dcvsr_disconnect(dcvsr_client *c)
{
    if (!c) return;
    dc_socket_close(c->sock);
    free(c);
}

const char *dcvsr_client_transport(const dcvsr_client *c) { return c->transport; }
uint64_t dcvsr_engine_pid(const dcvsr_client *c) { return c->engine_pid; }
void dcvsr_get_counters(const dcvsr_client *c, dcvsr_counters *out) { *out = c->counters; }

int dcvsr_status(dcvsr_client *c, char *buf, size_t size, dcvsr_error *err)
{
    dc_message reply;
    int rc = call(c, DC_STATUS, NULL, DC_STATUS_REPLY, &reply, err);
    if (rc) return rc;
    char renderer[256];
    dc_text(&reply, "renderer", renderer, sizeof renderer);
    snprintf(buf, size, "engine pid %llu, renderer %s, %llu sessions", (unsigned long long)dc_uint(&reply, "pid"),
             renderer, (unsigned long long)dc_uint(&reply, "sessions"));
    dc_message_free(&reply);
    return 0;
}

int dcvsr_stop_engine(dcvsr_client *c, dcvsr_error *err)
{
    dc_message reply;
    int rc = call(c, DC_STOP, NULL, DC_STOPPING, &reply, err);
    if (!rc) dc_message_free(&reply);
    c->broken = 1;
    return rc;
}

/* ---- sessions ---- */
static cb_value setting_value(const dcvsr_setting *s)
{
    switch (s->type) {
    case DCVSR_SET_BOOL: return cb_bool((int)s->i);
    case DCVSR_SET_INT: return cb_int(s->i);
    case DCVSR_SET_FLOAT: return cb_float(s->f);
    case DCVSR_SET_TEXT: return cb_text(s->s);
    default: return cb_null();
    }
}

static int attach(dcvsr_session *s, const dc_message *opened, dcvsr_error *err)
{
    const cb_value *slots = dc_field(opened, "slots");
    s->segment_size = (size_t)dc_uint(opened, "segment_size");
    if (!slots || slots->len == 0 || slots->len > MAX_SLOTS)
        return set_error(err, DCVSR_ERR_PROTOCOL, "the engine sent an invalid slot table");
    for (size_t i = 0; i < slots->len; i++) {
        uint64_t off = slots->items[i].u;
        if (off >= s->segment_size || (i && off <= s->slot_offset[i - 1]))
            return set_error(err, DCVSR_ERR_PROTOCOL, "the engine sent an invalid slot table");
        s->slot_offset[i] = (size_t)off;
    }
    s->n_slots = slots->len;
    char name[256], why[512];
    dc_text(opened, "segment", name, sizeof name);
    s->segment = dc_shm_map(name, s->segment_size, why, sizeof why);
    if (!s->segment) return set_error(err, DCVSR_ERR_PROTOCOL, "%s", why);
    return 0;
}

int dcvsr_open(dcvsr_client *c, const dcvsr_clip *clip, dcvsr_session **out, dcvsr_error *err)
{
    *out = NULL;
    int dtype = dc_dtype_code(clip->dtype ? clip->dtype : "");
    if (!dtype) return set_error(err, DCVSR_ERR_USAGE, "unknown pixel type %s", clip->dtype ? clip->dtype : "(none)");
    if (clip->n_settings > 64 || clip->n_cuts > 100000) return set_error(err, DCVSR_ERR_USAGE, "too many settings or cuts");
    cb_value settings[128];
    for (size_t i = 0; i < clip->n_settings; i++) {
        settings[2 * i] = cb_text(clip->settings[i].name);
        settings[2 * i + 1] = setting_value(&clip->settings[i]);
    }
    cb_value *cuts = calloc(clip->n_cuts + 1, sizeof *cuts);
    if (!cuts) return set_error(err, DCVSR_ERR_USAGE, "out of memory");
    for (size_t i = 0; i < clip->n_cuts; i++) cuts[i] = cb_uint(clip->cuts[i]);
    const char *transport = c->inline_pixels ? "inline" : "shm";
    cb_value fields[] = {
        cb_text("clip"), cb_text(clip->clip),
        cb_text("width"), cb_uint(clip->width),
        cb_text("height"), cb_uint(clip->height),
        cb_text("frames"), cb_uint(clip->frames),
        cb_text("fps_num"), cb_uint(clip->fps_num),
        cb_text("fps_den"), cb_uint(clip->fps_den),
        cb_text("dtype"), cb_text(clip->dtype),
        cb_text("channels"), cb_uint((uint64_t)clip->channels),
        cb_text("layout"), cb_text("interleaved"),
        cb_text("matrix"), cb_uint((uint64_t)clip->matrix),
        cb_text("transfer"), cb_uint((uint64_t)clip->transfer),
        cb_text("primaries"), cb_uint((uint64_t)clip->primaries),
        cb_text("range"), cb_uint((uint64_t)clip->range),
        cb_text("settings"), cb_map(settings, clip->n_settings),
        cb_text("cuts"), cb_array(cuts, clip->n_cuts),
        cb_text("transport"), cb_text(transport),
        cb_text("out_slots"), clip->out_slots > 0 ? cb_uint((uint64_t)clip->out_slots) : cb_null(),
    };
    cb_value map = cb_map(fields, sizeof fields / sizeof fields[0] / 2);
    dc_message reply;
    int rc = call(c, DC_OPEN, &map, DC_OPENED, &reply, err);
    free(cuts);
    if (rc) return rc;
    dcvsr_session *s = calloc(1, sizeof *s);
    if (!s) { dc_message_free(&reply); return set_error(err, DCVSR_ERR_USAGE, "out of memory"); }
    s->client = c;
    s->id = dc_uint(&reply, "session");
    s->width = clip->width;
    s->height = clip->height;
    s->out_width = (uint32_t)dc_uint(&reply, "out_width");
    s->out_height = (uint32_t)dc_uint(&reply, "out_height");
    s->channels = clip->channels;
    s->dtype = dtype;
    s->item = dc_dtype_size(dtype);
    char chosen[16];
    dc_text(&reply, "transport", chosen, sizeof chosen);
    if (strcmp(chosen, transport) != 0) {
        rc = set_error(err, DCVSR_ERR_PROTOCOL, "the engine chose the %s transport, not %s", chosen, transport);
    } else if (!c->inline_pixels) {
        rc = attach(s, &reply, err);
    } else {
        s->source_buffer = malloc(dcvsr_source_bytes(s));
        if (!s->source_buffer) rc = set_error(err, DCVSR_ERR_USAGE, "out of memory for a source frame");
        size_t largest = dcvsr_source_bytes(s) > dcvsr_output_bytes(s) ? dcvsr_source_bytes(s) : dcvsr_output_bytes(s);
        if (largest + 4096 > c->max_payload && largest + 4096 < UINT32_MAX) c->max_payload = (uint32_t)(largest + 4096);
    }
    dc_message_free(&reply);
    if (rc) { dcvsr_close(s); return rc; }
    *out = s;
    return 0;
}

void dcvsr_session_out_size(const dcvsr_session *s, uint32_t *w, uint32_t *h)
{
    *w = s->out_width;
    *h = s->out_height;
}

size_t dcvsr_source_bytes(const dcvsr_session *s)
{
    return (size_t)s->width * s->height * (size_t)s->channels * s->item;
}

size_t dcvsr_output_bytes(const dcvsr_session *s)
{
    return (size_t)s->out_width * s->out_height * (size_t)s->channels * s->item;
}

void dcvsr_close(dcvsr_session *s)
{
    if (!s) return;
    dcvsr_client *c = s->client;
    if (!c->broken && s->id) {
        cb_value fields[] = {cb_text("session"), cb_uint(s->id)};
        cb_value map = cb_map(fields, 1);
        dc_message reply;
        dcvsr_error ignored;
        if (call(c, DC_CLOSE, &map, DC_CLOSED, &reply, &ignored) == 0) dc_message_free(&reply);
    }
    dc_shm_unmap(s->segment, s->segment_size);
    free(s->source_buffer);
    free(s);
}

int dcvsr_plan(dcvsr_session *s, uint64_t start, uint64_t stop, uint64_t *first, uint64_t *last_stop,
               dcvsr_error *err)
{
    cb_value fields[] = {cb_text("session"), cb_uint(s->id), cb_text("start"), cb_uint(start),
                         cb_text("stop"), cb_uint(stop)};
    cb_value map = cb_map(fields, 3);
    dc_message reply;
    int rc = call(s->client, DC_PLAN, &map, DC_PLAN_REPLY, &reply, err);
    if (rc) return rc;
    *first = dc_uint(&reply, "start");
    *last_stop = dc_uint(&reply, "stop");
    dc_message_free(&reply);
    return 0;
}

/* ---- rendering ---- */
static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int k = 0; k < n; k++) p[k] = (uint8_t)(v >> (8 * k));
}

static int slot_bounds(const dcvsr_session *s, const dc_message *m, int output, size_t *off, size_t *size,
                       dcvsr_error *err)
{
    const cb_value *slot = dc_field(m, "slot");
    size_t out_slots = s->n_slots; /* the engine says how many are output slots; check range only */
    if (!slot || slot->u >= s->n_slots)
        return set_error(err, DCVSR_ERR_PROTOCOL, "the engine named slot %llu of %zu",
                         slot ? (unsigned long long)slot->u : 0ull, out_slots);
    size_t i = (size_t)slot->u;
    *off = s->slot_offset[i];
    *size = (i + 1 < s->n_slots ? s->slot_offset[i + 1] : s->segment_size) - *off;
    (void)output;
    return 0;
}

static int serve_source(dcvsr_session *s, uint32_t rid, const dc_message *m, const dcvsr_render_callbacks *cb,
                        dcvsr_error *err)
{
    dcvsr_client *c = s->client;
    uint64_t frame = dc_uint(m, "frame"), seq = dc_uint(m, "seq");
    size_t nbytes = dcvsr_source_bytes(s);
    if (c->inline_pixels) {
        if (cb->source(cb->ctx, frame, s->source_buffer, nbytes, err)) return DCVSR_ERR_SOURCE;
        c->counters.source_bytes_copied += nbytes;
        c->counters.inline_bytes_sent += nbytes;
        cb_value fields[] = {cb_text("session"), cb_uint(s->id), cb_text("frame"), cb_uint(frame),
                             cb_text("seq"), cb_uint(seq), cb_text("data"), cb_bytes(s->source_buffer, nbytes)};
        cb_value map = cb_map(fields, 4);
        return send_message(c, DC_SOURCE_READY, rid, &map, err);
    }
    size_t off, size;
    int rc = slot_bounds(s, m, 0, &off, &size, err);
    if (rc) return rc;
    dc_slot_header h;
    const char *why = NULL;
    if (dc_slot_unpack(s->segment + off, &h) || dc_slot_check(&h, s->width, s->height, s->channels, s->dtype, size, &why))
        return set_error(err, DCVSR_ERR_PROTOCOL, "source slot check failed: %s", why ? why : "not a slot header");
    if (h.row_stride != (uint64_t)s->width * s->channels * s->item)
        return set_error(err, DCVSR_ERR_PROTOCOL, "source slot rows are padded; this client writes tight rows");
    if (cb->source(cb->ctx, frame, s->segment + off + h.data_offset, nbytes, err)) return DCVSR_ERR_SOURCE;
    c->counters.source_bytes_copied += nbytes;
    /* Stamp: one more pixel write, the hand-over's sequence and frame, then the message. */
    put_le(s->segment + off + 8, (uint64_t)(uint32_t)(h.generation + 1), 4);
    put_le(s->segment + off + 16, seq, 8);
    put_le(s->segment + off + 24, frame, 8);
    cb_value fields[] = {cb_text("session"), cb_uint(s->id), cb_text("frame"), cb_uint(frame),
                         cb_text("seq"), cb_uint(seq), cb_text("slot"), cb_uint(dc_uint(m, "slot"))};
    cb_value map = cb_map(fields, 4);
    return send_message(c, DC_SOURCE_READY, rid, &map, err);
}

static int take_frame(dcvsr_session *s, uint32_t rid, const dc_message *m, const dcvsr_render_callbacks *cb,
                      int deliver, dcvsr_error *err)
{
    dcvsr_client *c = s->client;
    uint64_t frame = dc_uint(m, "frame"), seq = dc_uint(m, "seq");
    size_t nbytes = dcvsr_output_bytes(s);
    if (c->inline_pixels) {
        const cb_value *data = dc_field(m, "data");
        if (!data || data->len != nbytes)
            return set_error(err, DCVSR_ERR_PROTOCOL, "inline frame %llu has %zu bytes, not %zu",
                             (unsigned long long)frame, data ? data->len : 0, nbytes);
        c->counters.inline_bytes_received += nbytes;
        if (deliver && cb->sink(cb->ctx, frame, data->ptr, nbytes, err)) return DCVSR_ERR_SOURCE;
        if (deliver) c->counters.output_bytes_copied += nbytes;
        return 0;
    }
    size_t off, size;
    int rc = slot_bounds(s, m, 1, &off, &size, err);
    if (rc) return rc;
    dc_slot_header h;
    const char *why = NULL;
    if (dc_slot_unpack(s->segment + off, &h)
        || dc_slot_check(&h, s->out_width, s->out_height, s->channels, s->dtype, size, &why))
        return set_error(err, DCVSR_ERR_PROTOCOL, "output slot check failed: %s", why ? why : "not a slot header");
    if (h.sequence != seq || h.frame != frame)
        return set_error(err, DCVSR_ERR_PROTOCOL, "output slot holds frame %llu seq %llu, not frame %llu seq %llu",
                         (unsigned long long)h.frame, (unsigned long long)h.sequence,
                         (unsigned long long)frame, (unsigned long long)seq);
    if (deliver) {
        if (h.row_stride != (uint64_t)s->out_width * s->channels * s->item)
            return set_error(err, DCVSR_ERR_PROTOCOL, "output slot rows are padded");
        if (cb->sink(cb->ctx, frame, s->segment + off + h.data_offset, nbytes, err)) rc = DCVSR_ERR_SOURCE;
        else c->counters.output_bytes_copied += nbytes;
        dc_slot_header after;
        if (!rc && (dc_slot_unpack(s->segment + off, &after) || after.sequence != seq))
            rc = set_error(err, DCVSR_ERR_PROTOCOL, "output slot was reused while it was being read");
    }
    cb_value fields[] = {cb_text("session"), cb_uint(s->id), cb_text("slot"), cb_uint(dc_uint(m, "slot")),
                         cb_text("seq"), cb_uint(seq)};
    cb_value map = cb_map(fields, 3);
    dcvsr_error send_err;
    int sent = send_message(c, DC_RELEASE, rid, &map, &send_err);
    if (rc) return rc;
    if (sent) { *err = send_err; return sent; }
    return 0;
}

/* The render failed on this side (code, err): remember why, send CANCEL and give the engine
 * CANCEL_GRACE seconds to end it, releasing the slots that still arrive meanwhile. */
typedef struct {
    int code;
    dcvsr_error why;
    double deadline;
} cancelling;

static int begin_cancel(dcvsr_session *s, uint32_t rid, int code, dcvsr_error *err, cancelling *k)
{
    k->code = code;
    k->why = *err;
    k->deadline = dc_now() + CANCEL_GRACE;
    cb_value fields[] = {cb_text("session"), cb_uint(s->id)};
    cb_value map = cb_map(fields, 1);
    return send_message(s->client, DC_CANCEL, rid, &map, err);
}

int dcvsr_render(dcvsr_session *s, uint64_t start, uint64_t stop, const dcvsr_render_callbacks *cb,
                 dcvsr_error *err)
{
    dcvsr_client *c = s->client;
    uint32_t rid = new_request(c);
    cb_value fields[] = {cb_text("session"), cb_uint(s->id), cb_text("start"), cb_uint(start),
                         cb_text("stop"), cb_uint(stop)};
    cb_value map = cb_map(fields, 3);
    int rc = send_message(c, DC_RENDER, rid, &map, err);
    if (rc) return rc;
    cancelling k = {0};          /* k.code != 0: the render is being cancelled, and why */
    for (;;) {
        dc_message m;
        const dcvsr_render_callbacks *polled = k.code ? NULL : cb;
        double wait = k.code ? k.deadline - dc_now() : c->idle_timeout;
        if (k.code && wait <= 0) {
            /* The engine did not end the cancelled render in time: this connection is unusable. */
            c->broken = 1;
            *err = k.why;
            return k.code;
        }
        rc = recv_message(c, &m, polled, wait, err);
        if (rc == DCVSR_ERR_ABORTED || (rc == DCVSR_ERR_TIMEOUT && k.code)) {
            if (!k.code) {
                rc = begin_cancel(s, rid, rc, err, &k);
                if (rc) return rc;
                continue;
            }
            c->broken = 1;
            *err = k.why;
            return k.code;
        }
        if (rc) return rc;
        if (m.request != rid) { /* a late message of an earlier request */
            dc_message_free(&m);
            continue;
        }
        switch (m.kind) {
        case DC_NEED_SOURCE:
            if (!k.code) rc = serve_source(s, rid, &m, cb, err);
            break;
        case DC_FRAME_READY:
            rc = take_frame(s, rid, &m, cb, !k.code, err);
            break;
        case DC_PROGRESS:
            if (cb->progress && !k.code) cb->progress(cb->ctx, dc_uint(&m, "done"), dc_uint(&m, "total"));
            break;
        case DC_DONE:
        case DC_ERROR:
            rc = m.kind == DC_DONE ? 0 : engine_error(&m, err);
            dc_message_free(&m);
            if (k.code) { *err = k.why; return k.code; }
            return rc;
        default:
            rc = set_error(err, DCVSR_ERR_PROTOCOL, "unexpected %s during a render", dc_kind_name(m.kind));
            c->broken = 1;
        }
        dc_message_free(&m);
        if (rc && (rc == DCVSR_ERR_GONE || c->broken)) return rc;
        if (rc && !k.code) {
            /* A callback or slot failed: cancel, keep releasing slots until the render ends. */
            rc = begin_cancel(s, rid, rc, err, &k);
            if (rc) return rc;
        }
    }
}
