/* Canonical CBOR subset: see cbor.h and docs/protocol.md section 3. */
#include "cbor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Byte strings at least this long are referenced by the buffer instead of copied. */
#define CB_BIG ((size_t)1 << 16)

/* ---- UTF-8 (strict, as Python's decoder: no overlongs, surrogates or values past U+10FFFF) ---- */
long cb_utf8_chars(const uint8_t *p, size_t n)
{
    size_t i = 0;
    long chars = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t extra;
        uint32_t cp;
        if (c < 0x80) { i++; chars++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { extra = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { extra = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { extra = 3; cp = c & 0x07; }
        else return -1;
        if (n - i - 1 < extra) return -1;
        for (size_t k = 1; k <= extra; k++) {
            uint8_t cc = p[i + k];
            if ((cc & 0xC0) != 0x80) return -1;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF))
            || (cp >= 0xD800 && cp <= 0xDFFF))
            return -1;
        i += extra + 1;
        chars++;
    }
    return chars;
}

/* ---- decoding ---- */
typedef struct {
    const uint8_t *data;
    size_t len, pos;
    const char *why;
} reader;

static int fail(reader *r, const char *why)
{
    if (!r->why) r->why = why;
    return -1;
}

static int take(reader *r, size_t n, const uint8_t **out)
{
    if (n > r->len - r->pos) return fail(r, "truncated");
    *out = r->data + r->pos;
    r->pos += n;
    return 0;
}

static int head(reader *r, int *major, uint64_t *arg, uint8_t *initial)
{
    const uint8_t *p;
    if (take(r, 1, &p)) return -1;
    *initial = p[0];
    *major = p[0] >> 5;
    int info = p[0] & 31;
    if (info < 24) { *arg = (uint64_t)info; return 0; }
    if (info > 27) return fail(r, "unsupported additional information (indefinite or reserved)");
    size_t size = (size_t)1 << (info - 24);
    if (take(r, size, &p)) return -1;
    uint64_t v = 0;
    for (size_t k = 0; k < size; k++) v = (v << 8) | p[k];
    *arg = v;
    if (*major != 7) {
        uint64_t least = size == 1 ? 24 : (uint64_t)1 << (4 * size);
        if (v < least) return fail(r, "integer or length not in its shortest form");
    }
    return 0;
}

static int decode_value(reader *r, cb_value *out, int depth);

static int key_less(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    /* Encoded keys compare by their bytes: the head carries the length, so shorter sorts first. */
    if (alen != blen) return alen < blen;
    return memcmp(a, b, alen) < 0;
}

static int decode_value(reader *r, cb_value *out, int depth)
{
    int major;
    uint64_t arg;
    uint8_t initial;
    memset(out, 0, sizeof *out);
    if (depth > CB_MAX_DEPTH) return fail(r, "nesting deeper than 16");
    if (head(r, &major, &arg, &initial)) return -1;
    switch (major) {
    case 0: out->type = CB_UINT; out->u = arg; return 0;
    case 1: out->type = CB_NEG; out->u = arg; return 0;
    case 2:
    case 3: {
        const uint8_t *p;
        if (arg > r->len - r->pos) return fail(r, "truncated");
        if (take(r, (size_t)arg, &p)) return -1;
        out->type = major == 2 ? CB_BYTES : CB_TEXT;
        out->ptr = p;
        out->len = (size_t)arg;
        if (major == 3 && cb_utf8_chars(p, out->len) < 0) return fail(r, "text string is not valid UTF-8");
        return 0;
    }
    case 4:
    case 5: {
        size_t per = major == 4 ? 1 : 2;
        /* Each item takes at least one byte: refuse impossible counts before allocating. */
        if (arg > (r->len - r->pos) / per) return fail(r, "truncated");
        out->type = major == 4 ? CB_ARRAY : CB_MAP;
        out->len = (size_t)arg;
        if (arg == 0) return 0;
        out->items = calloc((size_t)arg * per, sizeof(cb_value));
        if (!out->items) return fail(r, "out of memory");
        const uint8_t *prev = NULL;
        size_t prev_len = 0;
        for (size_t i = 0; i < out->len; i++) {
            if (major == 4) {
                if (decode_value(r, &out->items[i], depth + 1)) return -1;
                continue;
            }
            size_t start = r->pos;
            cb_value *key = &out->items[2 * i];
            if (decode_value(r, key, depth + 1)) return -1;
            if (key->type != CB_TEXT) return fail(r, "map keys must be text strings");
            const uint8_t *enc = r->data + start;
            size_t enc_len = r->pos - start;
            if (prev && !key_less(prev, prev_len, enc, enc_len))
                return fail(r, "map keys not in canonical order, or repeated");
            prev = enc;
            prev_len = enc_len;
            if (decode_value(r, &out->items[2 * i + 1], depth + 1)) return -1;
        }
        return 0;
    }
    case 6: return fail(r, "tags are not allowed");
    default:
        if (initial == 0xF4) { out->type = CB_FALSE; return 0; }
        if (initial == 0xF5) { out->type = CB_TRUE; return 0; }
        if (initial == 0xF6) { out->type = CB_NULL; return 0; }
        if (initial == 0xFB) {
            double d;
            memcpy(&d, &arg, sizeof d);
            if (!isfinite(d)) return fail(r, "floats must be finite");
            out->type = CB_FLOAT;
            out->f = d;
            return 0;
        }
        return fail(r, "unsupported simple value or float width");
    }
}

int cb_decode(const uint8_t *data, size_t len, cb_value *out, const char **why)
{
    reader r = {data, len, 0, NULL};
    int rc = decode_value(&r, out, 0);
    if (rc == 0 && r.pos != r.len) rc = fail(&r, "trailing bytes");
    if (rc) {
        cb_free(out);
        memset(out, 0, sizeof *out);
        if (why) *why = r.why;
    }
    return rc;
}

void cb_free(cb_value *v)
{
    if (!v || (v->type != CB_ARRAY && v->type != CB_MAP) || !v->items) return;
    size_t n = v->type == CB_MAP ? 2 * v->len : v->len;
    for (size_t i = 0; i < n; i++) cb_free(&v->items[i]);
    free(v->items);
    v->items = NULL;
}

/* ---- encoding ---- */
void cb_buffer_free(cb_buffer *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void cb_put(cb_buffer *b, const void *p, size_t n)
{
    if (b->failed || n == 0) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) { b->failed = 1; return; }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

size_t cb_buffer_size(const cb_buffer *b)
{
    size_t n = b->len;
    for (int i = 0; i < b->n_ext; i++) n += b->ext[i].len;
    return n;
}

static void put_head(cb_buffer *b, int major, uint64_t arg)
{
    uint8_t h[9];
    size_t n;
    uint8_t m = (uint8_t)(major << 5);
    if (arg < 24) { h[0] = m | (uint8_t)arg; n = 1; }
    else if (arg <= 0xFF) { h[0] = m | 24; n = 2; }
    else if (arg <= 0xFFFF) { h[0] = m | 25; n = 3; }
    else if (arg <= 0xFFFFFFFFu) { h[0] = m | 26; n = 5; }
    else { h[0] = m | 27; n = 9; }
    for (size_t k = 1; k < n; k++) h[k] = (uint8_t)(arg >> (8 * (n - 1 - k)));
    cb_put(b, h, n);
}

static int pair_cmp(const void *a, const void *b)
{
    const cb_value *ka = a, *kb = b;
    if (ka->len != kb->len) return ka->len < kb->len ? -1 : 1;
    return memcmp(ka->ptr, kb->ptr, ka->len);
}

static int encode_value(cb_buffer *b, cb_value *v, int depth, const char **why)
{
    if (depth > CB_MAX_DEPTH) { *why = "nesting deeper than 16"; return -1; }
    switch (v->type) {
    case CB_UINT: put_head(b, 0, v->u); return 0;
    case CB_NEG: put_head(b, 1, v->u); return 0;
    case CB_FALSE: cb_put(b, "\xf4", 1); return 0;
    case CB_TRUE: cb_put(b, "\xf5", 1); return 0;
    case CB_NULL: cb_put(b, "\xf6", 1); return 0;
    case CB_FLOAT: {
        if (!isfinite(v->f)) { *why = "floats must be finite"; return -1; }
        uint64_t bits;
        memcpy(&bits, &v->f, sizeof bits);
        uint8_t h[9] = {0xFB};
        for (int k = 0; k < 8; k++) h[1 + k] = (uint8_t)(bits >> (56 - 8 * k));
        cb_put(b, h, 9);
        return 0;
    }
    case CB_TEXT:
        if (cb_utf8_chars(v->ptr, v->len) < 0) { *why = "text is not valid UTF-8"; return -1; }
        /* fall through */
    case CB_BYTES:
        put_head(b, v->type == CB_TEXT ? 3 : 2, v->len);
        if (v->type == CB_BYTES && v->len >= CB_BIG && b->n_ext < 4) {
            b->ext[b->n_ext].at = b->len;
            b->ext[b->n_ext].ptr = v->ptr;
            b->ext[b->n_ext].len = v->len;
            b->n_ext++;
        } else {
            cb_put(b, v->ptr, v->len);
        }
        return 0;
    case CB_ARRAY:
        put_head(b, 4, v->len);
        for (size_t i = 0; i < v->len; i++)
            if (encode_value(b, &v->items[i], depth + 1, why)) return -1;
        return 0;
    case CB_MAP: {
        for (size_t i = 0; i < v->len; i++)
            if (v->items[2 * i].type != CB_TEXT) { *why = "map keys must be text"; return -1; }
        /* Sort (key, value) pairs by key: the length decides first (the head encodes it). */
        qsort(v->items, v->len, 2 * sizeof(cb_value), pair_cmp);
        for (size_t i = 1; i < v->len; i++)
            if (pair_cmp(&v->items[2 * i - 2], &v->items[2 * i]) == 0) { *why = "repeated map key"; return -1; }
        put_head(b, 5, v->len);
        for (size_t i = 0; i < 2 * v->len; i++)
            if (encode_value(b, &v->items[i], depth + 1, why)) return -1;
        return 0;
    }
    }
    *why = "unknown value type";
    return -1;
}

int cb_encode(cb_buffer *b, cb_value *v, const char **why)
{
    const char *reason = NULL;
    int rc = encode_value(b, v, 0, &reason);
    if (rc == 0 && b->failed) { reason = "out of memory"; rc = -1; }
    if (rc && why) *why = reason;
    return rc;
}

/* ---- builders ---- */
cb_value cb_uint(uint64_t v) { cb_value x = {0}; x.type = CB_UINT; x.u = v; return x; }
cb_value cb_int(int64_t v)
{
    if (v >= 0) return cb_uint((uint64_t)v);
    cb_value x = {0};
    x.type = CB_NEG;
    x.u = (uint64_t)(-(v + 1));
    return x;
}
cb_value cb_float(double v) { cb_value x = {0}; x.type = CB_FLOAT; x.f = v; return x; }
cb_value cb_bool(int v) { cb_value x = {0}; x.type = v ? CB_TRUE : CB_FALSE; return x; }
cb_value cb_null(void) { cb_value x = {0}; x.type = CB_NULL; return x; }
cb_value cb_text_n(const char *s, size_t n)
{
    cb_value x = {0};
    x.type = CB_TEXT;
    x.ptr = (const uint8_t *)s;
    x.len = n;
    return x;
}
cb_value cb_text(const char *s) { return cb_text_n(s, strlen(s)); }
cb_value cb_bytes(const void *p, size_t n)
{
    cb_value x = {0};
    x.type = CB_BYTES;
    x.ptr = p;
    x.len = n;
    return x;
}
cb_value cb_array(cb_value *items, size_t n) { cb_value x = {0}; x.type = CB_ARRAY; x.items = items; x.len = n; return x; }
cb_value cb_map(cb_value *pairs, size_t n_pairs) { cb_value x = {0}; x.type = CB_MAP; x.items = pairs; x.len = n_pairs; return x; }

const cb_value *cb_map_get(const cb_value *map, const char *key)
{
    if (!map || map->type != CB_MAP) return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < map->len; i++) {
        const cb_value *k = &map->items[2 * i];
        if (k->len == n && memcmp(k->ptr, key, n) == 0) return &map->items[2 * i + 1];
    }
    return NULL;
}
