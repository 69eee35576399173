/* Drives the C client's message code for tests/test_ofx_client.py against tests/protocol_vectors.
 *
 *   vectors decode FILE        decode a whole message: header lines, then the payload as tokens
 *   vectors encode KIND REQ    read payload tokens on stdin, print the encoded message in hex
 *   vectors check FILE         print the ERROR code name a receiver answers, or OK
 *   vectors slot FILE          print a slot header's fields
 *   vectors slot-pack          read "name value" lines on stdin, print the packed header in hex
 *
 * Tokens, one per line: "u N" uint, "n N" negative (-1-N), "f HEX" float64 bits, "t", "F",
 * "z" (null), "s HEX" text, "b HEX" bytes, "a N" array of N, "m N" map of N (key, value) pairs.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "slot.h"

static uint8_t *read_all(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        cap *= 2;
        buf = realloc(buf, cap);
    }
    *len = n;
    return buf;
}

static uint8_t *load_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *data = read_all(f, len);
    fclose(f);
    return data;
}

static void hex(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
}

static void dump(const cb_value *v)
{
    switch (v->type) {
    case CB_UINT: printf("u %" PRIu64 "\n", v->u); break;
    case CB_NEG: printf("n %" PRIu64 "\n", v->u); break;
    case CB_FLOAT: { uint64_t b; memcpy(&b, &v->f, 8); printf("f %016" PRIx64 "\n", b); break; }
    case CB_TRUE: printf("t\n"); break;
    case CB_FALSE: printf("F\n"); break;
    case CB_NULL: printf("z\n"); break;
    case CB_TEXT: printf("s "); hex(v->ptr, v->len); printf("\n"); break;
    case CB_BYTES: printf("b "); hex(v->ptr, v->len); printf("\n"); break;
    case CB_ARRAY:
        printf("a %zu\n", v->len);
        for (size_t i = 0; i < v->len; i++) dump(&v->items[i]);
        break;
    case CB_MAP:
        printf("m %zu\n", v->len);
        for (size_t i = 0; i < 2 * v->len; i++) dump(&v->items[i]);
        break;
    }
}

/* ---- parsing tokens back into values (the values own their bytes and items) ---- */
static uint8_t *unhex(const char *s, size_t *n)
{
    size_t len = strlen(s) / 2;
    uint8_t *p = malloc(len + 1);
    for (size_t i = 0; i < len; i++) sscanf(s + 2 * i, "%2hhx", &p[i]);
    *n = len;
    return p;
}

static int parse(FILE *in, cb_value *v)
{
    char line[1 << 16];
    static char big[1 << 24];
    char *text = line;
    if (!fgets(line, sizeof line, in)) return -1;
    if (line[0] == 'b' && strlen(line) == sizeof line - 1) { /* a long byte string: read the rest */
        strcpy(big, line);
        size_t n = strlen(big);
        while (big[n - 1] != '\n' && fgets(big + n, (int)(sizeof big - n), in)) n = strlen(big);
        text = big;
    }
    text[strcspn(text, "\n")] = 0;
    char t = text[0];
    const char *arg = text[1] ? text + 2 : "";
    memset(v, 0, sizeof *v);
    switch (t) {
    case 'u': *v = cb_uint(strtoull(arg, NULL, 10)); return 0;
    case 'n': v->type = CB_NEG; v->u = strtoull(arg, NULL, 10); return 0;
    case 'f': { uint64_t b = strtoull(arg, NULL, 16); double d; memcpy(&d, &b, 8); *v = cb_float(d); return 0; }
    case 't': *v = cb_bool(1); return 0;
    case 'F': *v = cb_bool(0); return 0;
    case 'z': *v = cb_null(); return 0;
    case 's':
    case 'b': {
        size_t n;
        uint8_t *p = unhex(arg, &n);
        *v = t == 's' ? cb_text_n((const char *)p, n) : cb_bytes(p, n);
        return 0;
    }
    case 'a':
    case 'm': {
        size_t n = strtoull(arg, NULL, 10), count = t == 'm' ? 2 * n : n;
        cb_value *items = calloc(count + 1, sizeof *items);
        for (size_t i = 0; i < count; i++)
            if (parse(in, &items[i])) return -1;
        *v = t == 'm' ? cb_map(items, n) : cb_array(items, n);
        return 0;
    }
    }
    return -1;
}

static int cmd_decode(const char *path)
{
    size_t len;
    uint8_t *data = load_file(path, &len);
    if (!data) return 2;
    dc_message m;
    const char *why = NULL;
    int from_client = len > 5 && data[5] < 0x80;
    int code = dc_check_message(data, len, DC_MAX_CONTROL_PAYLOAD, from_client, &m, &why);
    if (code) {
        printf("error %d %s\n", code, why ? why : "");
        return 1;
    }
    printf("kind %s\nkind_code %d\nversion %d\nflags %d\nrequest %" PRIu32 "\nlength %zu\n", dc_kind_name(m.kind),
           m.kind, data[4], data[6] | data[7] << 8, m.request, len - DC_HEADER_SIZE);
    dump(&m.fields);
    cb_free(&m.fields);
    free(data);
    return 0;
}

static int cmd_encode(const char *kind_name, const char *request)
{
    cb_value v;
    if (parse(stdin, &v)) return 2;
    int kind = dc_kind_by_name(kind_name);
    if (kind < 0) return 2;
    cb_buffer b = {0};
    const char *why = NULL;
    if (dc_encode(kind, (uint32_t)strtoul(request, NULL, 10), &v, &b, &why)) {
        printf("error %s\n", why);
        return 1;
    }
    size_t at = 0;
    for (int i = 0; i < b.n_ext; i++) {
        hex(b.data + at, b.ext[i].at - at);
        hex(b.ext[i].ptr, b.ext[i].len);
        at = b.ext[i].at;
    }
    hex(b.data + at, b.len - at);
    printf("\n");
    cb_buffer_free(&b);
    return 0;
}

static int cmd_check(const char *path)
{
    size_t len;
    uint8_t *data = load_file(path, &len);
    if (!data) return 2;
    dc_message m;
    const char *why = NULL;
    int code;
    if (len == DC_HEADER_SIZE) { /* a header alone: only its own checks apply */
        dc_header h;
        code = dc_read_header(data, DC_MAX_CONTROL_PAYLOAD, &h, &why);
        if (!code) code = dc_check_message(data, len, DC_MAX_CONTROL_PAYLOAD, 1, &m, &why);
    } else {
        code = dc_check_message(data, len, DC_MAX_CONTROL_PAYLOAD, 1, &m, &why);
    }
    if (!code) cb_free(&m.fields);
    printf("%s\n", code ? dc_code_name(code) : "OK");
    free(data);
    return 0;
}

#define SLOT_FIELDS(X) X(generation) X(dtype) X(layout) X(channels) X(sequence) X(frame) X(width) \
    X(height) X(row_stride) X(data_offset) X(plane_stride) X(capacity) X(matrix) X(transfer) \
    X(primaries) X(range)

static int cmd_slot(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 2;
    uint8_t buf[DC_SLOT_HEADER_SIZE];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    dc_slot_header h;
    if (n != sizeof buf || dc_slot_unpack(buf, &h)) { printf("error\n"); return 1; }
#define PRINT(name) printf(#name " %" PRIu64 "\n", (uint64_t)h.name);
    SLOT_FIELDS(PRINT)
    return 0;
}

static int cmd_slot_pack(void)
{
    dc_slot_header h;
    memset(&h, 0, sizeof h);
    char name[64];
    unsigned long long value;
    while (scanf("%63s %llu", name, &value) == 2) {
#define SET(field) if (strcmp(name, #field) == 0) h.field = (__typeof__(h.field))value;
        SLOT_FIELDS(SET)
    }
    uint8_t out[DC_SLOT_HEADER_SIZE];
    dc_slot_pack(&h, out);
    hex(out, sizeof out);
    printf("\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "decode") == 0) return cmd_decode(argv[2]);
    if (argc == 4 && strcmp(argv[1], "encode") == 0) return cmd_encode(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "check") == 0) return cmd_check(argv[2]);
    if (argc == 3 && strcmp(argv[1], "slot") == 0) return cmd_slot(argv[2]);
    if (argc == 2 && strcmp(argv[1], "slot-pack") == 0) return cmd_slot_pack();
    fprintf(stderr, "usage: vectors decode|encode|check|slot|slot-pack ...\n");
    return 2;
}
