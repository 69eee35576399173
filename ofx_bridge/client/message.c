/* Framing, kinds and field schemas: the C side of client/dcvsr_client/protocol. */
#include "message.h"

#include <stdlib.h>
#include <string.h>

typedef struct { int value; const char *name; } named;

static const named KINDS[] = {
    {DC_HELLO, "HELLO"}, {DC_OPEN, "OPEN"}, {DC_RENDER, "RENDER"}, {DC_SOURCE_READY, "SOURCE_READY"},
    {DC_RELEASE, "RELEASE"}, {DC_CANCEL, "CANCEL"}, {DC_CLOSE, "CLOSE"}, {DC_PLAN, "PLAN"},
    {DC_STATUS, "STATUS"}, {DC_STOP, "STOP"}, {DC_WELCOME, "WELCOME"}, {DC_OPENED, "OPENED"},
    {DC_FRAME_READY, "FRAME_READY"}, {DC_NEED_SOURCE, "NEED_SOURCE"}, {DC_PROGRESS, "PROGRESS"},
    {DC_DONE, "DONE"}, {DC_CLOSED, "CLOSED"}, {DC_PLAN_REPLY, "PLAN_REPLY"},
    {DC_STATUS_REPLY, "STATUS_REPLY"}, {DC_STOPPING, "STOPPING"}, {DC_ERROR, "ERROR"},
};

static const named CODES[] = {
    {DC_BAD_FRAMING, "BAD_FRAMING"}, {DC_BAD_MESSAGE, "BAD_MESSAGE"}, {DC_BAD_VERSION, "BAD_VERSION"},
    {DC_UNEXPECTED, "UNEXPECTED"}, {DC_UNAUTHORIZED, "UNAUTHORIZED"},
    {DC_UNKNOWN_SESSION, "UNKNOWN_SESSION"}, {DC_BAD_CLIP, "BAD_CLIP"},
    {DC_BAD_SETTINGS, "BAD_SETTINGS"}, {DC_BAD_RANGE, "BAD_RANGE"}, {DC_BAD_SLOT, "BAD_SLOT"},
    {DC_LIMIT, "LIMIT"}, {DC_CANCELLED, "CANCELLED"}, {DC_SOURCE_FAILED, "SOURCE_FAILED"},
    {DC_RENDER_FAILED, "RENDER_FAILED"}, {DC_SHUTTING_DOWN, "SHUTTING_DOWN"},
    {DC_NOT_READY, "NOT_READY"}, {DC_INTERNAL, "INTERNAL"},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const named *t, size_t n, int v)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].value == v) return t[i].name;
    return NULL;
}

static int value_of(const named *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0) return t[i].value;
    return -1;
}

const char *dc_kind_name(int kind) { return name_of(KINDS, COUNT(KINDS), kind); }
int dc_kind_by_name(const char *name) { return value_of(KINDS, COUNT(KINDS), name); }
const char *dc_code_name(int code) { return name_of(CODES, COUNT(CODES), code); }
int dc_code_by_name(const char *name) { return value_of(CODES, COUNT(CODES), name); }

/* Field types: u uint, s text, b bytes, n number, U list of uint, S list of text, m settings map.
 * A trailing '?' marks an optional field. Same table as messages.SCHEMA in the Python client. */
typedef struct { int kind; const char *fields[20]; } schema;

static const schema SCHEMAS[] = {
    {DC_HELLO, {"U versions", "s token", "s client"}},
    {DC_OPEN, {"s clip", "u width", "u height", "u frames", "u fps_num", "u fps_den", "s dtype",
               "u channels", "s layout", "u matrix", "u transfer", "u primaries", "u range",
               "m settings", "U cuts", "s transport", "u? out_slots"}},
    {DC_RENDER, {"u session", "u start", "u stop"}},
    {DC_SOURCE_READY, {"u session", "u frame", "u seq", "u? slot", "b? data"}},
    {DC_RELEASE, {"u session", "u slot", "u seq"}},
    {DC_CANCEL, {"u session"}},
    {DC_CLOSE, {"u session"}},
    {DC_PLAN, {"u session", "u start", "u stop"}},
    {DC_STATUS, {0}},
    {DC_STOP, {0}},
    {DC_WELCOME, {"u version", "s engine", "u pid", "S caps", "u max_payload"}},
    {DC_OPENED, {"u session", "u out_width", "u out_height", "s transport", "s segment",
                 "u segment_size", "U slots", "u out_slots"}},
    {DC_FRAME_READY, {"u session", "u frame", "u seq", "u? slot", "b? data"}},
    {DC_NEED_SOURCE, {"u session", "u frame", "u seq", "u? slot"}},
    {DC_PROGRESS, {"u session", "u done", "u total"}},
    {DC_DONE, {"u session", "u frames"}},
    {DC_CLOSED, {"u session"}},
    {DC_PLAN_REPLY, {"u session", "u start", "u stop"}},
    {DC_STATUS_REPLY, {"u pid", "s version", "n uptime", "u connections", "u sessions", "s renderer",
                       "s runtime_dir", "m? stats"}},
    {DC_STOPPING, {0}},
    {DC_ERROR, {"u code", "s message", "u? session"}},
};

static const schema *schema_of(int kind)
{
    for (size_t i = 0; i < COUNT(SCHEMAS); i++)
        if (SCHEMAS[i].kind == kind) return &SCHEMAS[i];
    return NULL;
}

void dc_pack_header(const dc_header *h, uint8_t out[DC_HEADER_SIZE])
{
    memcpy(out, "DCVS", 4);
    out[4] = h->version;
    out[5] = h->kind;
    out[6] = (uint8_t)h->flags;
    out[7] = (uint8_t)(h->flags >> 8);
    for (int k = 0; k < 4; k++) {
        out[8 + k] = (uint8_t)(h->request >> (8 * k));
        out[12 + k] = (uint8_t)(h->length >> (8 * k));
    }
}

int dc_read_header(const uint8_t in[DC_HEADER_SIZE], uint32_t max_payload, dc_header *h,
                   const char **why)
{
    if (memcmp(in, "DCVS", 4) != 0) { *why = "bad magic"; return DC_BAD_FRAMING; }
    h->version = in[4];
    h->kind = in[5];
    h->flags = (uint16_t)(in[6] | in[7] << 8);
    h->request = (uint32_t)in[8] | (uint32_t)in[9] << 8 | (uint32_t)in[10] << 16 | (uint32_t)in[11] << 24;
    h->length = (uint32_t)in[12] | (uint32_t)in[13] << 8 | (uint32_t)in[14] << 16 | (uint32_t)in[15] << 24;
    if (h->length > max_payload) { *why = "payload exceeds the limit"; return DC_BAD_FRAMING; }
    if (h->version != DC_VERSION) { *why = "unsupported protocol version"; return DC_BAD_VERSION; }
    return 0;
}

static int is_text_ok(const cb_value *v)
{
    return v->type == CB_TEXT && cb_utf8_chars(v->ptr, v->len) <= DC_MAX_TEXT;
}

static int is_uint(const cb_value *v) { return v->type == CB_UINT && v->u <= DC_UINT_MAX; }

static int type_ok(char t, const cb_value *v)
{
    switch (t) {
    case 'u': return is_uint(v);
    case 's': return is_text_ok(v);
    case 'b': return v->type == CB_BYTES;
    case 'n': return v->type == CB_UINT || v->type == CB_NEG || v->type == CB_FLOAT;
    case 'U':
    case 'S':
        if (v->type != CB_ARRAY) return 0;
        for (size_t i = 0; i < v->len; i++)
            if (t == 'U' ? !is_uint(&v->items[i]) : !is_text_ok(&v->items[i])) return 0;
        return 1;
    case 'm':
        if (v->type != CB_MAP) return 0;
        for (size_t i = 0; i < v->len; i++) {
            cb_type vt = v->items[2 * i + 1].type;
            if (vt == CB_ARRAY || vt == CB_MAP || vt == CB_BYTES) return 0;
        }
        return 1;
    }
    return 0;
}

int dc_check_payload(int kind, const uint8_t *payload, size_t len, int from_client,
                     dc_message *msg, const char **why)
{
    memset(msg, 0, sizeof *msg);
    const schema *s = schema_of(kind);
    if (!s || (from_client ? kind >= 0x80 : kind < 0x80)) {
        *why = from_client ? "not a message a client sends" : "not a message the engine sends";
        return DC_UNEXPECTED;
    }
    if (cb_decode(payload, len, &msg->fields, why)) return DC_BAD_MESSAGE;
    if (msg->fields.type != CB_MAP) {
        cb_free(&msg->fields);
        *why = "payload must be a map";
        return DC_BAD_MESSAGE;
    }
    for (int i = 0; i < 20 && s->fields[i]; i++) {
        const char *spec = s->fields[i];
        int optional = spec[1] == '?';
        const char *name = spec + (optional ? 3 : 2);
        const cb_value *v = cb_map_get(&msg->fields, name);
        if (!v || (optional && v->type == CB_NULL)) {
            if (optional) continue;
            cb_free(&msg->fields);
            *why = "a required field is missing";
            return DC_BAD_MESSAGE;
        }
        if (!type_ok(spec[0], v)) {
            cb_free(&msg->fields);
            *why = "a field has a wrong type or is out of range";
            return DC_BAD_MESSAGE;
        }
    }
    msg->kind = kind;
    return 0;
}

int dc_check_message(const uint8_t *data, size_t len, uint32_t max_payload, int from_client,
                     dc_message *msg, const char **why)
{
    dc_header h;
    memset(msg, 0, sizeof *msg);
    if (len < DC_HEADER_SIZE) { *why = "shorter than a header"; return DC_BAD_FRAMING; }
    int code = dc_read_header(data, max_payload, &h, why);
    if (code) return code;
    if (h.length != len - DC_HEADER_SIZE) { *why = "payload length differs from the header's"; return DC_BAD_FRAMING; }
    code = dc_check_payload(h.kind, data + DC_HEADER_SIZE, h.length, from_client, msg, why);
    msg->request = h.request;
    return code;
}

void dc_message_free(dc_message *msg)
{
    cb_free(&msg->fields);
    free(msg->payload);
    memset(msg, 0, sizeof *msg);
}

const cb_value *dc_field(const dc_message *msg, const char *name)
{
    const cb_value *v = cb_map_get(&msg->fields, name);
    return v && v->type != CB_NULL ? v : NULL;
}

uint64_t dc_uint(const dc_message *msg, const char *name)
{
    const cb_value *v = dc_field(msg, name);
    return v && v->type == CB_UINT ? v->u : 0;
}

void dc_text(const dc_message *msg, const char *name, char *buf, size_t size)
{
    const cb_value *v = dc_field(msg, name);
    size_t n = 0;
    if (v && v->type == CB_TEXT) {
        n = v->len < size - 1 ? v->len : size - 1;
        memcpy(buf, v->ptr, n);
    }
    buf[n] = 0;
}

int dc_encode(int kind, uint32_t request, cb_value *fields, cb_buffer *out, const char **why)
{
    uint8_t header[DC_HEADER_SIZE] = {0};
    cb_put(out, header, sizeof header); /* filled in once the payload's length is known */
    size_t start = out->len;
    cb_value empty = cb_map(NULL, 0);
    if (cb_encode(out, fields ? fields : &empty, why)) return -1;
    size_t length = cb_buffer_size(out) - start;
    if (length > UINT32_MAX) { *why = "payload too large"; return -1; }
    dc_header h = {DC_VERSION, (uint8_t)kind, 0, request, (uint32_t)length};
    dc_pack_header(&h, out->data + start - DC_HEADER_SIZE);
    return 0;
}
