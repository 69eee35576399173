/* The payload encoding of docs/protocol.md section 3: a canonical subset of CBOR (RFC 8949).
 *
 * Decoding builds a small tree of values that points into the payload (no string copies);
 * encoding sorts map keys (shorter first, then bytewise), so a message has exactly one encoding.
 */
#ifndef DCVSR_CBOR_H
#define DCVSR_CBOR_H

#include <stddef.h>
#include <stdint.h>

#define CB_MAX_DEPTH 16

typedef enum {
    CB_UINT, CB_NEG, CB_BYTES, CB_TEXT, CB_ARRAY, CB_MAP, CB_FALSE, CB_TRUE, CB_NULL, CB_FLOAT
} cb_type;

typedef struct cb_value {
    cb_type type;
    uint64_t u;            /* CB_UINT: the value; CB_NEG: the argument (value = -1 - u) */
    double f;              /* CB_FLOAT */
    const uint8_t *ptr;    /* CB_BYTES, CB_TEXT: the bytes (not NUL-terminated) */
    size_t len;            /* CB_BYTES, CB_TEXT: byte length; CB_ARRAY: items; CB_MAP: pairs */
    struct cb_value *items; /* CB_ARRAY: len items; CB_MAP: 2*len items, key then value */
} cb_value;

/* Decode one value filling data exactly. Returns 0, or -1 with a reason in why (static text). */
int cb_decode(const uint8_t *data, size_t len, cb_value *out, const char **why);
/* Free the item arrays a decode (or the caller, with malloc) allocated below v. */
void cb_free(cb_value *v);

/* A growable byte buffer; big byte strings are kept by reference (inline pixels are not copied). */
typedef struct {
    uint8_t *data;
    size_t len, cap;
    int failed;            /* an allocation failed: the content is incomplete */
    struct { size_t at; const uint8_t *ptr; size_t len; } ext[4];
    int n_ext;
} cb_buffer;

void cb_buffer_free(cb_buffer *b);
void cb_put(cb_buffer *b, const void *p, size_t n);
/* Total encoded length (buffer plus referenced byte strings). */
size_t cb_buffer_size(const cb_buffer *b);
/* Encode v canonically (map keys sorted in place). Returns 0, or -1 (why set) for values the
 * protocol cannot carry: nesting over 16, non-finite floats, non-text keys, repeated keys. */
int cb_encode(cb_buffer *b, cb_value *v, const char **why);

/* Value builders (no allocation). */
cb_value cb_uint(uint64_t v);
cb_value cb_int(int64_t v);
cb_value cb_float(double v);
cb_value cb_bool(int v);
cb_value cb_null(void);
cb_value cb_text(const char *s);
cb_value cb_text_n(const char *s, size_t n);
cb_value cb_bytes(const void *p, size_t n);
cb_value cb_array(cb_value *items, size_t n);
cb_value cb_map(cb_value *pairs, size_t n_pairs);

/* The value of key in a map, or NULL. */
const cb_value *cb_map_get(const cb_value *map, const char *key);
/* Number of Unicode characters in valid UTF-8 text, or -1 if the bytes are not valid UTF-8. */
long cb_utf8_chars(const uint8_t *p, size_t n);

#endif
