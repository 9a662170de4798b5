#ifndef C_MOAT_PROTO_H
#define C_MOAT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "moat/v1/authz.pb-c.h"
#include "moat/v1/control.pb-c.h"
#include "envoy/service/auth/v3/external_auth.pb-c.h"
#include "etcd/api/etcdserverpb/rpc.pb-c.h"

/// The address of a message's descriptor. Swift imports an `extern const` struct as a value, whose
/// address is not the C object's; protobuf-c keeps the descriptor pointer it is given (in
/// `base.descriptor`), so Swift must pass the real one.
#define CMOAT_MESSAGE_DESCRIPTOR(name) \
    static inline const ProtobufCMessageDescriptor *cmoat_##name##_descriptor(void) { \
        return &moat__v1__##name##__descriptor; \
    }

/// The descriptors of Envoy's ext_authz messages (proto/envoy, proto/google; docs/envoy.md).
#define CMOAT_ENVOY_DESCRIPTOR(swift_name, c_name) \
    static inline const ProtobufCMessageDescriptor *cmoat_envoy_##swift_name##_descriptor(void) { \
        return &c_name##__descriptor; \
    }

CMOAT_ENVOY_DESCRIPTOR(check_request, envoy__service__auth__v3__check_request)
CMOAT_ENVOY_DESCRIPTOR(check_response, envoy__service__auth__v3__check_response)
CMOAT_ENVOY_DESCRIPTOR(denied_http_response, envoy__service__auth__v3__denied_http_response)
CMOAT_ENVOY_DESCRIPTOR(ok_http_response, envoy__service__auth__v3__ok_http_response)
CMOAT_ENVOY_DESCRIPTOR(header_value_option, envoy__config__core__v3__header_value_option)
CMOAT_ENVOY_DESCRIPTOR(header_value, envoy__config__core__v3__header_value)
CMOAT_ENVOY_DESCRIPTOR(http_status, envoy__type__v3__http_status)
CMOAT_ENVOY_DESCRIPTOR(rpc_status, google__rpc__status)
CMOAT_ENVOY_DESCRIPTOR(struct, google__protobuf__struct)
CMOAT_ENVOY_DESCRIPTOR(struct_fields_entry, google__protobuf__struct__fields_entry)
CMOAT_ENVOY_DESCRIPTOR(value, google__protobuf__value)

/// The descriptors of etcd's v3 API messages that Moat's etcd client uses (proto/etcd; docs/etcd.md).
#define CMOAT_ETCD_DESCRIPTOR(swift_name, c_name) \
    static inline const ProtobufCMessageDescriptor *cmoat_etcd_##swift_name##_descriptor(void) { \
        return &c_name##__descriptor; \
    }

CMOAT_ETCD_DESCRIPTOR(range_request, etcdserverpb__range_request)
CMOAT_ETCD_DESCRIPTOR(range_response, etcdserverpb__range_response)
CMOAT_ETCD_DESCRIPTOR(put_request, etcdserverpb__put_request)
CMOAT_ETCD_DESCRIPTOR(put_response, etcdserverpb__put_response)
CMOAT_ETCD_DESCRIPTOR(delete_range_request, etcdserverpb__delete_range_request)
CMOAT_ETCD_DESCRIPTOR(request_op, etcdserverpb__request_op)
CMOAT_ETCD_DESCRIPTOR(compare, etcdserverpb__compare)
CMOAT_ETCD_DESCRIPTOR(txn_request, etcdserverpb__txn_request)
CMOAT_ETCD_DESCRIPTOR(txn_response, etcdserverpb__txn_response)
CMOAT_ETCD_DESCRIPTOR(watch_request, etcdserverpb__watch_request)
CMOAT_ETCD_DESCRIPTOR(watch_create_request, etcdserverpb__watch_create_request)
CMOAT_ETCD_DESCRIPTOR(watch_progress_request, etcdserverpb__watch_progress_request)
CMOAT_ETCD_DESCRIPTOR(watch_response, etcdserverpb__watch_response)
CMOAT_ETCD_DESCRIPTOR(lease_grant_request, etcdserverpb__lease_grant_request)
CMOAT_ETCD_DESCRIPTOR(lease_grant_response, etcdserverpb__lease_grant_response)
CMOAT_ETCD_DESCRIPTOR(lease_revoke_request, etcdserverpb__lease_revoke_request)
CMOAT_ETCD_DESCRIPTOR(lease_revoke_response, etcdserverpb__lease_revoke_response)
CMOAT_ETCD_DESCRIPTOR(lease_keep_alive_request, etcdserverpb__lease_keep_alive_request)
CMOAT_ETCD_DESCRIPTOR(lease_keep_alive_response, etcdserverpb__lease_keep_alive_response)
CMOAT_ETCD_DESCRIPTOR(authenticate_request, etcdserverpb__authenticate_request)
CMOAT_ETCD_DESCRIPTOR(authenticate_response, etcdserverpb__authenticate_response)

CMOAT_MESSAGE_DESCRIPTOR(asserted_identity)
CMOAT_MESSAGE_DESCRIPTOR(check_request)
CMOAT_MESSAGE_DESCRIPTOR(admission)
CMOAT_MESSAGE_DESCRIPTOR(grant)
CMOAT_MESSAGE_DESCRIPTOR(revision)
CMOAT_MESSAGE_DESCRIPTOR(caller)
CMOAT_MESSAGE_DESCRIPTOR(check_response)
CMOAT_MESSAGE_DESCRIPTOR(check_batch_request)
CMOAT_MESSAGE_DESCRIPTOR(check_batch_response)
CMOAT_MESSAGE_DESCRIPTOR(ping)
CMOAT_MESSAGE_DESCRIPTOR(pong)
CMOAT_MESSAGE_DESCRIPTOR(error)
CMOAT_MESSAGE_DESCRIPTOR(error_detail)
CMOAT_MESSAGE_DESCRIPTOR(put_document_request)
CMOAT_MESSAGE_DESCRIPTOR(change_response)
CMOAT_MESSAGE_DESCRIPTOR(apply_change_request)
CMOAT_MESSAGE_DESCRIPTOR(ip_rule)
CMOAT_MESSAGE_DESCRIPTOR(virtual_network_rule)
CMOAT_MESSAGE_DESCRIPTOR(network_settings)
CMOAT_MESSAGE_DESCRIPTOR(permission_list)
CMOAT_MESSAGE_DESCRIPTOR(access_policy_key)
CMOAT_MESSAGE_DESCRIPTOR(access_policy_update)
CMOAT_MESSAGE_DESCRIPTOR(vault_upsert)
CMOAT_MESSAGE_DESCRIPTOR(vault_removal)
CMOAT_MESSAGE_DESCRIPTOR(get_document_request)
CMOAT_MESSAGE_DESCRIPTOR(get_document_response)
CMOAT_MESSAGE_DESCRIPTOR(status_request)
CMOAT_MESSAGE_DESCRIPTOR(status_response)
CMOAT_MESSAGE_DESCRIPTOR(rollback_request)
CMOAT_MESSAGE_DESCRIPTOR(reload_request)
CMOAT_MESSAGE_DESCRIPTOR(metrics_request)
CMOAT_MESSAGE_DESCRIPTOR(metrics_response)
CMOAT_MESSAGE_DESCRIPTOR(tenant_keys)
CMOAT_MESSAGE_DESCRIPTOR(keys_list_request)
CMOAT_MESSAGE_DESCRIPTOR(keys_refresh_request)
CMOAT_MESSAGE_DESCRIPTOR(keys_response)
CMOAT_MESSAGE_DESCRIPTOR(fleet_status_request)
CMOAT_MESSAGE_DESCRIPTOR(fleet_node)
CMOAT_MESSAGE_DESCRIPTOR(fleet_status_response)
CMOAT_MESSAGE_DESCRIPTOR(shadow_push_request)
CMOAT_MESSAGE_DESCRIPTOR(shadow_report_request)
CMOAT_MESSAGE_DESCRIPTOR(shadow_summary)
CMOAT_MESSAGE_DESCRIPTOR(shadow_group)
CMOAT_MESSAGE_DESCRIPTOR(shadow_report_response)
CMOAT_MESSAGE_DESCRIPTOR(shadow_promote_request)
CMOAT_MESSAGE_DESCRIPTOR(shadow_drop_request)
CMOAT_MESSAGE_DESCRIPTOR(fleet_shadow_node)
CMOAT_MESSAGE_DESCRIPTOR(fleet_shadow_entry)
CMOAT_MESSAGE_DESCRIPTOR(fleet_shadow_report)

#undef CMOAT_MESSAGE_DESCRIPTOR

/// Outcome of `cmoat_check_strings_path`.
typedef enum {
    CMOAT_STRINGS_VALID = 0,
    /// A string field holds a NUL byte or bytes that are not UTF-8; `path` names it.
    CMOAT_STRINGS_INVALID = 1,
    /// The bytes are not a well-formed protobuf encoding; unpacking will fail too.
    CMOAT_STRINGS_MALFORMED = 2,
} cmoat_strings_result;

/// Checks every `string` field of an encoded message, at any depth, before protobuf-c unpacks it.
///
/// protobuf-c hands strings to C as NUL-terminated `char *`, so an embedded NUL would silently
/// truncate a field ("a\0b" reads as "a"). This walks the wire encoding with the message's
/// descriptor and refuses such strings, and strings that are not valid UTF-8, up front. On
/// `CMOAT_STRINGS_INVALID` it writes the refused string's path into `path` (NUL-terminated, cut to
/// `capacity`): field names from the outermost message, with the 0-based occurrence of repeated
/// fields, e.g. `requests[2].asserted_identity.groups[0]`. `path` is the empty string for any
/// other result.
cmoat_strings_result cmoat_check_strings_path(
    const ProtobufCMessageDescriptor *descriptor,
    const uint8_t *data,
    size_t length,
    char *path,
    size_t capacity
);

/// Where one occurrence of a field's value lies in an encoded message: `length` bytes from `offset`.
typedef struct {
    size_t offset;
    size_t length;
} cmoat_span;

/// Finds every occurrence of the length-delimited field `number` (a repeated message, string or
/// bytes field) at the top level of an encoded message, without unpacking anything.
///
/// Returns how many occurrences there are, and writes the spans of the first `capacity` of them
/// into `spans` (so a caller can refuse a message with too many items before any allocation, and
/// unpack the items one by one). Returns -1 when the bytes are not a well-formed protobuf encoding
/// or the field occurs with another wire type; unpacking would fail too.
int64_t cmoat_field_spans(
    const uint8_t *data,
    size_t length,
    uint32_t number,
    cmoat_span *spans,
    size_t capacity
);

/// Whether the NUL-terminated `string` holds exactly the `length` bytes at `bytes` (which hold no
/// NUL), never reading past `string`'s terminator. Of equal lengths, every byte is compared, so
/// the time taken does not tell where they differ (`bytes` may be another caller's token:
/// docs/security.md).
bool cmoat_string_equals(const char *string, const uint8_t *bytes, size_t length);

/// Bytes of the calling thread's unpack arena: an unpacked message up to about this size (a Check
/// with a token of up to about 14 KiB) takes no allocation.
#define CMOAT_UNPACK_ARENA_CAPACITY ((size_t)16384)

/// The calling thread's unpack arena, as a protobuf-c allocator for `protobuf_c_message_unpack`: a
/// bump allocator over `CMOAT_UNPACK_ARENA_CAPACITY` bytes, allocated at the thread's first unpack,
/// reused by every unpack after, freed when the thread exits. One thread decodes one message at a
/// time, so an event loop's arena serves all its connections; an allocation that does not fit the
/// rest of it comes from `malloc`. Returns NULL (protobuf-c's system allocator) when the thread's
/// arena is held already, or its memory could not be allocated. Every acquire is followed by one
/// `cmoat_unpack_arena_release` with its result, once nothing reads the unpacked message any more.
ProtobufCAllocator *cmoat_unpack_arena_acquire(void);

/// Frees `message` (unpacked with `allocator`, from `cmoat_unpack_arena_acquire`; may be NULL when
/// unpacking failed) and empties the arena for the next unpack. Under AddressSanitizer the arena's
/// free bytes are poisoned, so reading a released message is caught as with `free`.
void cmoat_unpack_arena_release(ProtobufCAllocator *allocator, ProtobufCMessage *message);

/// Bytes of the calling thread's arena in use now (0 between unpacks): for tests.
size_t cmoat_unpack_arena_used(void);

/// Allocations of the calling thread's arena that came from `malloc` and are not freed yet (0
/// between unpacks: a message that did not fit is freed whole, unpacked or not): for tests.
size_t cmoat_unpack_arena_outstanding(void);

/// Whether `pointer` lies in the calling thread's arena: for tests.
bool cmoat_unpack_arena_owns(const void *pointer);

#endif
