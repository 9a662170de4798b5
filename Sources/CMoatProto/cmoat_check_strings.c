#include "CMoatProto.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

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

/// Reads a field's tag, and the length of its value after the cursor: 0 for a varint (consumed
/// here), 8 or 4 for fixed-size values, the length prefix for length-delimited ones. False when
/// the bytes are malformed: a truncated varint, an unknown wire type (groups included), or a
/// value running past `end`.
static bool read_field(const uint8_t **cursor, const uint8_t *end, uint64_t *tag, uint64_t *length) {
    if (!read_varint(cursor, end, tag)) return false;
    switch (*tag & 7) {
    case 0: {
        uint64_t ignored;
        *length = 0;
        return read_varint(cursor, end, &ignored);
    }
    case 1: *length = 8; break;
    case 5: *length = 4; break;
    case 2:
        if (!read_varint(cursor, end, length)) return false;
        break;
    default:
        return false;
    }
    return *length <= (uint64_t)(end - *cursor);
}

/// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF; NUL refused.
static bool is_clean_utf8(const uint8_t *s, size_t length) {
    const uint64_t high_bits = 0x8080808080808080ULL;
    const uint64_t low_bits = 0x0101010101010101ULL;
    size_t i = 0;
    while (i < length) {
        // Fast path for ASCII (tokens, ids): eight bytes at a time, none with the high bit, none 0.
        while (length - i >= 8) {
            uint64_t word;
            memcpy(&word, s + i, sizeof word);
            if ((word & high_bits) != 0) break;
            if (((word - low_bits) & ~word & high_bits) != 0) return false;
            i += 8;
        }
        if (i >= length) break;
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

/// One step of the way to a refused string: the field, and which of its occurrences (in the
/// enclosing message's encoding, counting from 0) holds it.
typedef struct {
    const ProtobufCFieldDescriptor *field;
    size_t occurrence;
} trail_step;

/// How many times field `number` occurs in `data` before `upto` (already walked, so well-formed).
static size_t occurrences_before(const uint8_t *data, const uint8_t *upto, uint64_t number) {
    size_t count = 0;
    const uint8_t *cursor = data;
    while (cursor < upto) {
        uint64_t tag;
        uint64_t length;
        if (!read_field(&cursor, upto, &tag, &length)) break;
        if ((tag >> 3) == number) count += 1;
        cursor += length;
    }
    return count;
}

static cmoat_strings_result check(
    const ProtobufCMessageDescriptor *descriptor,
    const uint8_t *data,
    size_t length,
    trail_step *trail,
    unsigned *trail_length,
    unsigned depth
) {
    if (depth > max_depth) return CMOAT_STRINGS_MALFORMED;
    const uint8_t *cursor = data;
    const uint8_t *end = data + length;
    while (cursor < end) {
        const uint8_t *start = cursor;
        uint64_t tag;
        uint64_t value_length;
        if (!read_field(&cursor, end, &tag, &value_length)) return CMOAT_STRINGS_MALFORMED;
        if ((tag & 7) == 2) {
            uint64_t number = tag >> 3;
            const ProtobufCFieldDescriptor *f =
                number <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(descriptor, (unsigned)number) : NULL;
            if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING && !is_clean_utf8(cursor, (size_t)value_length)) {
                trail[depth].field = f;
                trail[depth].occurrence = occurrences_before(data, start, number);
                *trail_length = depth + 1;
                return CMOAT_STRINGS_INVALID;
            }
            if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                cmoat_strings_result inner =
                    check(f->descriptor, cursor, (size_t)value_length, trail, trail_length, depth + 1);
                if (inner == CMOAT_STRINGS_INVALID) {
                    trail[depth].field = f;
                    trail[depth].occurrence = occurrences_before(data, start, number);
                }
                if (inner != CMOAT_STRINGS_VALID) return inner;
            }
        }
        cursor += value_length;
    }
    return CMOAT_STRINGS_VALID;
}

cmoat_strings_result cmoat_check_strings_path(
    const ProtobufCMessageDescriptor *descriptor,
    const uint8_t *data,
    size_t length,
    char *path,
    size_t capacity
) {
    trail_step trail[max_depth + 1];
    unsigned trail_length = 0;
    if (capacity > 0) path[0] = '\0';
    cmoat_strings_result result = check(descriptor, data, length, trail, &trail_length, 0);
    if (result != CMOAT_STRINGS_INVALID || capacity == 0) return result;
    size_t used = 0;
    for (unsigned i = 0; i < trail_length && used < capacity; i++) {
        const ProtobufCFieldDescriptor *f = trail[i].field;
        int written = f->label == PROTOBUF_C_LABEL_REPEATED
            ? snprintf(path + used, capacity - used, "%s%s[%zu]", i == 0 ? "" : ".", f->name, trail[i].occurrence)
            : snprintf(path + used, capacity - used, "%s%s", i == 0 ? "" : ".", f->name);
        if (written < 0) break;
        used += (size_t)written;
    }
    return result;
}

int64_t cmoat_field_spans(
    const uint8_t *data,
    size_t length,
    uint32_t number,
    cmoat_span *spans,
    size_t capacity
) {
    const uint8_t *cursor = data;
    const uint8_t *end = data + length;
    int64_t count = 0;
    while (cursor < end) {
        uint64_t tag;
        uint64_t value_length;
        if (!read_field(&cursor, end, &tag, &value_length)) return -1;
        if ((tag >> 3) == number) {
            if ((tag & 7) != 2) return -1;
            if ((uint64_t)count < capacity) {
                spans[count].offset = (size_t)(cursor - data);
                spans[count].length = (size_t)value_length;
            }
            count += 1;
        }
        cursor += value_length;
    }
    return count;
}

bool cmoat_string_equals(const char *string, const uint8_t *bytes, size_t length) {
    // memchr stops at the first NUL (C11 7.24.5.1): nothing past the terminator is read.
    const char *end = memchr(string, '\0', length + 1);
    if (end == NULL || (size_t)(end - string) != length) return false;
    // Every byte, whatever they hold: the time does not tell where they differ.
    unsigned char difference = 0;
    for (size_t index = 0; index < length; index++) difference |= (unsigned char)string[index] ^ bytes[index];
    return difference == 0;
}
