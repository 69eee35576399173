/* Messages of the dcvsr frame-server protocol (docs/protocol.md sections 2 and 4): the 16-byte
 * header, the kinds, each kind's fields, and the checks a receiver makes. */
#ifndef DCVSR_MESSAGE_H
#define DCVSR_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "cbor.h"

#define DC_HEADER_SIZE 16
#define DC_VERSION 1
#define DC_MAX_CONTROL_PAYLOAD ((uint32_t)1 << 20)
#define DC_MAX_TEXT 4096
#define DC_UINT_MAX ((uint64_t)INT64_MAX)

enum dc_kind {
    DC_HELLO = 0x01, DC_OPEN = 0x02, DC_RENDER = 0x03, DC_SOURCE_READY = 0x04, DC_RELEASE = 0x05,
    DC_CANCEL = 0x06, DC_CLOSE = 0x07, DC_PLAN = 0x08, DC_STATUS = 0x09, DC_STOP = 0x0A,
    DC_WELCOME = 0x81, DC_OPENED = 0x82, DC_FRAME_READY = 0x83, DC_NEED_SOURCE = 0x84,
    DC_PROGRESS = 0x85, DC_DONE = 0x86, DC_CLOSED = 0x87, DC_PLAN_REPLY = 0x88,
    DC_STATUS_REPLY = 0x89, DC_STOPPING = 0x8A, DC_ERROR = 0xFF
};

/* ERROR codes (docs/protocol.md, "Errors"). */
enum dc_code {
    DC_BAD_FRAMING = 100, DC_BAD_MESSAGE = 101, DC_BAD_VERSION = 102, DC_UNEXPECTED = 103,
    DC_UNAUTHORIZED = 104, DC_UNKNOWN_SESSION = 200, DC_BAD_CLIP = 201, DC_BAD_SETTINGS = 202,
    DC_BAD_RANGE = 203, DC_BAD_SLOT = 204, DC_LIMIT = 205, DC_CANCELLED = 300,
    DC_SOURCE_FAILED = 301, DC_RENDER_FAILED = 302, DC_SHUTTING_DOWN = 400, DC_NOT_READY = 401,
    DC_INTERNAL = 500
};

typedef struct {
    uint8_t version;
    uint8_t kind;
    uint16_t flags;
    uint32_t request;
    uint32_t length;
} dc_header;

/* A decoded, schema-checked message; fields points into payload, which it owns. */
typedef struct {
    int kind;
    uint32_t request;
    uint8_t *payload;
    cb_value fields;
} dc_message;

const char *dc_kind_name(int kind);            /* "HELLO" ..., or NULL for an unknown kind */
int dc_kind_by_name(const char *name);         /* the kind, or -1 */
const char *dc_code_name(int code);            /* "BAD_FRAMING" ..., or NULL */
int dc_code_by_name(const char *name);         /* the code, or -1 */

void dc_pack_header(const dc_header *h, uint8_t out[DC_HEADER_SIZE]);
/* Parse a header: 0, or the ERROR code (magic: BAD_FRAMING; length over max_payload:
 * BAD_FRAMING; version: BAD_VERSION), in the order the engine checks them. */
int dc_read_header(const uint8_t in[DC_HEADER_SIZE], uint32_t max_payload, dc_header *h,
                   const char **why);
/* Check a payload against its kind's schema (fields the kind does not know are ignored);
 * from_client says which side's kinds are allowed. 0, or UNEXPECTED / BAD_MESSAGE. On success
 * msg->fields holds the decoded map (msg does not take payload: set msg->payload to free it). */
int dc_check_payload(int kind, const uint8_t *payload, size_t len, int from_client,
                     dc_message *msg, const char **why);
/* All checks on one whole message in memory (header + payload): 0 or the ERROR code. */
int dc_check_message(const uint8_t *data, size_t len, uint32_t max_payload, int from_client,
                     dc_message *msg, const char **why);
void dc_message_free(dc_message *msg);

/* Field access on a checked message: the field, or NULL when absent or null. */
const cb_value *dc_field(const dc_message *msg, const char *name);
uint64_t dc_uint(const dc_message *msg, const char *name);       /* 0 when absent */
/* Copy a text field into buf (NUL-terminated, truncated to size). */
void dc_text(const dc_message *msg, const char *name, char *buf, size_t size);

/* Encode a message: header then the canonical payload (fields sorted in place). 0 or -1. */
int dc_encode(int kind, uint32_t request, cb_value *fields, cb_buffer *out, const char **why);

#endif
