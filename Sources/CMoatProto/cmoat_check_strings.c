#include "CMoatProto.h"

#include <stdbool.h>

enum { max_depth = 16 };

static bool read_varint(const uint8_t **cursor, const uint8_t *end, uint64_t *value) {
    uint64_t result = 0;
    for (unsigned shift = 0; shift < 64 && *cursor < end; shift += 7) {
        uint8_t byte = *(*cursor)++;
        result |= (uint64_t)(byte & 0x7f) << shift;
        if ((byte & 0x80) == 0) {
            *value = result;
            return true;
        }
    }
    return false;
}

/// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF; NUL refused.
static bool is_clean_utf8(const uint8_t *s, size_t length) {
    size_t i = 0;
    while (i < length) {
        uint8_t c = s[i];
        if (c == 0) return false;
        if (c < 0x80) { i += 1; continue; }
        size_t need;
        uint32_t min;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0) { need = 1; min = 0x80; cp = c & 0x1f; }
        else if ((c & 0xf0) == 0xe0) { need = 2; min = 0x800; cp = c & 0x0f; }
        else if ((c & 0xf8) == 0xf0) { need = 3; min = 0x10000; cp = c & 0x07; }
        else return false;
        if (length - i <= need) return false;
        for (size_t k = 1; k <= need; k++) {
            uint8_t cc = s[i + k];
            if ((cc & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += need + 1;
    }
    return true;
}

static cmoat_strings_result check(
    const ProtobufCMessageDescriptor *descriptor,
    const uint8_t *data,
    size_t length,
    const ProtobufCFieldDescriptor **field,
    unsigned depth
) {
    if (depth > max_depth) return CMOAT_STRINGS_MALFORMED;
    const uint8_t *cursor = data;
    const uint8_t *end = data + length;
    while (cursor < end) {
        uint64_t tag;
        if (!read_varint(&cursor, end, &tag)) return CMOAT_STRINGS_MALFORMED;
        uint64_t skip;
        switch (tag & 7) {
        case 0:
            if (!read_varint(&cursor, end, &skip)) return CMOAT_STRINGS_MALFORMED;
            continue;
        case 1:
            skip = 8;
            break;
        case 5:
            skip = 4;
            break;
        case 2: {
            if (!read_varint(&cursor, end, &skip)) return CMOAT_STRINGS_MALFORMED;
            if (skip > (uint64_t)(end - cursor)) return CMOAT_STRINGS_MALFORMED;
            uint64_t number = tag >> 3;
            const ProtobufCFieldDescriptor *f =
                number <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(descriptor, (unsigned)number) : NULL;
            if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING && !is_clean_utf8(cursor, (size_t)skip)) {
                *field = f;
                return CMOAT_STRINGS_INVALID;
            }
            if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                cmoat_strings_result inner = check(f->descriptor, cursor, (size_t)skip, field, depth + 1);
                if (inner != CMOAT_STRINGS_VALID) return inner;
            }
            break;
        }
        default:
            return CMOAT_STRINGS_MALFORMED;
        }
        if (skip > (uint64_t)(end - cursor)) return CMOAT_STRINGS_MALFORMED;
        cursor += skip;
    }
    return CMOAT_STRINGS_VALID;
}

cmoat_strings_result cmoat_check_strings(
    const ProtobufCMessageDescriptor *descriptor,
    const uint8_t *data,
    size_t length,
    const ProtobufCFieldDescriptor **field
) {
    *field = NULL;
    return check(descriptor, data, length, field, 0);
}
