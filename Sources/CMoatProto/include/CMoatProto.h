#ifndef C_MOAT_PROTO_H
#define C_MOAT_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "moat/v1/authz.pb-c.h"
#include "moat/v1/control.pb-c.h"

/// Outcome of `cmoat_check_strings`.
typedef enum {
    CMOAT_STRINGS_VALID = 0,
    /// A string field holds a NUL byte or bytes that are not UTF-8; `*field` names it.
    CMOAT_STRINGS_INVALID = 1,
    /// The bytes are not a well-formed protobuf encoding; unpacking will fail too.
    CMOAT_STRINGS_MALFORMED = 2,
} cmoat_strings_result;

/// Checks every `string` field of an encoded message, at any depth, before protobuf-c unpacks it.
///
/// protobuf-c hands strings to C as NUL-terminated `char *`, so an embedded NUL would silently
/// truncate a field ("a\0b" reads as "a"). This walks the wire encoding with the message's
/// descriptor and refuses such strings, and strings that are not valid UTF-8, up front.
cmoat_strings_result cmoat_check_strings(
    const ProtobufCMessageDescriptor *descriptor,
    const uint8_t *data,
    size_t length,
    const ProtobufCFieldDescriptor **field
);

#endif
