/* libmoat: the C client of moatd's data socket (docs/protocol.md).
 *
 * One moat_client is shared by any number of threads. It keeps a pool of connections to the
 * daemon, pipelines calls on each (answers are matched by stream id), gives every call a
 * deadline (also sent to the daemon), and replaces a broken connection with backoff. It has no
 * global state, raises no signals (writes use MSG_NOSIGNAL) and keeps no decision cache.
 *
 * A check has one of three outcomes (moat_outcome): allowed, denied (a decision of the daemon,
 * with its details), or could not decide (no decision came; moat_result.error says why). The
 * failure policy applies as docs/protocol.md ("Failing open") says: a check that could not be
 * decided is allowed only when the policy is MOAT_FAIL_OPEN and the fault is
 * MOAT_FAULT_AVAILABILITY (unreachable, connection closed, no answer within the deadline,
 * UNAVAILABLE, DEADLINE_EXCEEDED). Every other failure is a deny. moat_result.allowed is the answer
 * to "may the caller proceed?".
 *
 * Memory: a moat_result's strings belong to the result; release them with moat_result_free. The
 * caller frees nothing else. */
#ifndef MOAT_MOAT_H
#define MOAT_MOAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct moat_client moat_client;

typedef enum {
    MOAT_FAIL_CLOSED = 0, /* could not decide = deny (the default) */
    MOAT_FAIL_OPEN = 1,   /* could not decide because the daemon was unavailable = allow */
} moat_failure_policy;

/* Options of moat_open; moat_options_init sets the defaults (those of MoatClient). */
typedef struct {
    unsigned connections;               /* connections in the pool (2) */
    unsigned deadline_ms;               /* a call's deadline when the call gives 0 (200) */
    moat_failure_policy failure_policy; /* MOAT_FAIL_CLOSED */
    unsigned initial_backoff_ms;        /* first wait before reconnecting, doubled with jitter (10) */
    unsigned maximum_backoff_ms;        /* (2000) */
    size_t maximum_request_frame;       /* the daemon's --max-frame-bytes (65536) */
    size_t maximum_answer_frame;        /* the largest answer frame accepted (16 MiB) */
} moat_options;

void moat_options_init(moat_options *options);

/* Opens a client for the daemon's data socket at socket_path (connections are made on first
 * use). options may be NULL for the defaults. Returns 0 and sets *client, or an errno value:
 * EINVAL (a NULL argument, 0 connections), ENAMETOOLONG (the path does not fit a sockaddr_un),
 * ENOMEM. */
int moat_open(const char *socket_path, const moat_options *options, moat_client **client);

/* Closes every connection and frees the client. No call may be in progress or start later. */
void moat_close(moat_client *client);

/* The identity a trusted local peer asserts instead of a token (docs/protocol.md). */
typedef struct {
    const char *oid;
    const char *appid;
    const char *tid;
    const char *const *groups;
    size_t group_count;
    const char *xms_mirid;
} moat_asserted_identity;

/* One request (moat.v1.CheckRequest in proto/moat/v1/authz.proto). NULL and "" are absent. */
typedef struct {
    const char *vault;
    int32_t operation; /* the Operation number (docs/operations.md); moat_operation_from_name */
    const char *object_name;
    const char *source_address;
    const char *subnet_id;
    const char *private_endpoint_id;
    const char *token;
    const char *request_id;
    uint64_t timeout_micros; /* 0: the call's deadline */
    const moat_asserted_identity *asserted_identity; /* NULL: none */
} moat_request;

/* The Operation number of a REST operation name ("GetSecret", any letter case), 0 when unknown
 * (the daemon answers 0 with a 400 decision). */
int32_t moat_operation_from_name(const char *name);

typedef enum { MOAT_DENIED = 0, MOAT_ALLOWED = 1, MOAT_UNDECIDED = 2 } moat_outcome;

/* The enums below have the numbers of authz.proto. */
typedef enum {
    MOAT_CODE_OK = 1,
    MOAT_CODE_BAD_PARAMETER = 2,
    MOAT_CODE_VAULT_NOT_FOUND = 3,
    MOAT_CODE_UNAUTHORIZED = 4,
    MOAT_CODE_FORBIDDEN = 5,
} moat_code;

typedef enum {
    MOAT_INNER_NONE = 0,
    MOAT_INNER_MISSING_TOKEN = 1,
    MOAT_INNER_INVALID_TOKEN = 2,
    MOAT_INNER_TOKEN_EXPIRED = 3,
    MOAT_INNER_INVALID_AUDIENCE = 4,
    MOAT_INNER_INVALID_ISSUER = 5,
    MOAT_INNER_FORBIDDEN_BY_CONNECTION = 6,
    MOAT_INNER_FORBIDDEN_BY_FIREWALL = 7,
    MOAT_INNER_FORBIDDEN_BY_PERIMETER = 8,
    MOAT_INNER_ACCESS_DENIED = 9,
    MOAT_INNER_FORBIDDEN_BY_POLICY = 10,
    MOAT_INNER_FORBIDDEN_BY_RBAC = 11,
} moat_inner_code;

typedef enum {
    MOAT_STAGE_REQUEST = 1,
    MOAT_STAGE_VAULT = 2,
    MOAT_STAGE_AUTHENTICATION = 3,
    MOAT_STAGE_NETWORK = 4,
    MOAT_STAGE_AUTHORIZATION = 5,
    MOAT_STAGE_ALLOW = 6,
} moat_stage;

typedef enum {
    MOAT_ADMISSION_NONE = 0, /* the network stage was not reached */
    MOAT_ADMISSION_PRIVATE_ENDPOINT = 1,
    MOAT_ADMISSION_DEFAULT_ALLOW = 2,
    MOAT_ADMISSION_IP_RULE = 3,
    MOAT_ADMISSION_VIRTUAL_NETWORK_RULE = 4,
    MOAT_ADMISSION_TRUSTED_SERVICE = 5,
    MOAT_ADMISSION_PERIMETER = 6,
    MOAT_ADMISSION_NOT_APPLICABLE = 7, /* control-plane operation */
} moat_admission_kind;

typedef enum {
    MOAT_MODE_NONE = 0,
    MOAT_MODE_MANAGED_IDENTITY = 1,
    MOAT_MODE_SUBSCRIPTION = 2,
    MOAT_MODE_FEDERATED = 3,
} moat_trusted_service_mode;

typedef enum {
    MOAT_GRANT_NONE = 0, /* nothing granted */
    MOAT_GRANT_ACCESS_POLICY = 1,
    MOAT_GRANT_ROLE_ASSIGNMENT = 2,
} moat_grant_kind;

/* Why no decision came (MoatClientError.Code in Sources/MoatClient). */
typedef enum {
    MOAT_ERROR_NONE = 0,
    MOAT_ERROR_UNREACHABLE = 1,        /* the socket could not be connected to */
    MOAT_ERROR_DEADLINE_EXCEEDED = 2,  /* no answer within the deadline */
    MOAT_ERROR_CONNECTION_CLOSED = 3,  /* the connection closed before the answer came */
    MOAT_ERROR_STATUS = 4,             /* the daemon answered a non-zero status (see status) */
    MOAT_ERROR_PROTOCOL_VIOLATION = 5, /* the answer could not be read */
    MOAT_ERROR_REQUEST_REFUSED = 6,    /* not sent: its frame is over the daemon's limit */
    MOAT_ERROR_NO_MEMORY = 7,          /* an allocation failed in the client */
} moat_error_code;

/* Whose failure it was; only MOAT_FAULT_AVAILABILITY may fail open. */
typedef enum {
    MOAT_FAULT_NONE = 0,
    MOAT_FAULT_AVAILABILITY = 1, /* unreachable, closed, deadline, UNAVAILABLE, DEADLINE_EXCEEDED */
    MOAT_FAULT_REQUEST = 2,      /* refused before sending, INVALID_ARGUMENT, RESOURCE_EXHAUSTED */
    MOAT_FAULT_DAEMON = 3,       /* any other status, an unreadable answer */
    MOAT_FAULT_CLIENT = 4,       /* the client ran out of memory */
} moat_fault;

/* gRPC status codes the daemon answers (docs/protocol.md, "Status codes"). */
enum {
    MOAT_STATUS_OK = 0,
    MOAT_STATUS_INVALID_ARGUMENT = 3,
    MOAT_STATUS_DEADLINE_EXCEEDED = 4,
    MOAT_STATUS_PERMISSION_DENIED = 7,
    MOAT_STATUS_RESOURCE_EXHAUSTED = 8,
    MOAT_STATUS_UNIMPLEMENTED = 12,
    MOAT_STATUS_INTERNAL = 13,
    MOAT_STATUS_UNAVAILABLE = 14,
};

/* The result of a check. Strings are NULL when absent (message and revision.hash of a decision
 * are never NULL); they live until moat_result_free. */
typedef struct {
    moat_outcome outcome;
    bool allowed;     /* may the caller proceed: an allow, or a failed-open could-not-decide */
    bool failed_open; /* allowed only because the daemon was unavailable and the policy is open */

    /* A decision (outcome MOAT_ALLOWED or MOAT_DENIED). */
    unsigned http_status;
    moat_code code;
    moat_inner_code inner_code;
    moat_stage stage;
    const char *message;
    const char *required;
    const char *www_authenticate; /* the challenge to send with a 401 */
    struct {
        moat_admission_kind kind;
        int32_t index; /* -1 unless kind is IP_RULE or VIRTUAL_NETWORK_RULE */
        const char *rule;
        const char *service;
        moat_trusted_service_mode mode;
    } admitted_by;
    struct {
        moat_grant_kind kind;
        int32_t index; /* -1 when kind is NONE */
        const char *object_id;
        const char *application_id;
        const char *id;
        const char *role;
        const char *role_definition_id;
    } granted_by;
    struct {
        uint64_t sequence;
        const char *hash;
    } revision;
    struct {
        bool present;
        const char *object_id;
        const char *application_id;
        const char *tenant_id;
        const char *issuer;
    } caller;

    /* Could not decide (outcome MOAT_UNDECIDED). */
    moat_error_code error;
    moat_fault fault;
    unsigned status; /* the gRPC status: the daemon's, or UNAVAILABLE / DEADLINE_EXCEEDED /
                        RESOURCE_EXHAUSTED / INTERNAL standing for the client's error */
    const char *error_message; /* never NULL when outcome is MOAT_UNDECIDED */

    void *storage_; /* private */
} moat_result;

/* Decides one request; blocks until the answer or the deadline (deadline_ms, 0 for the client's).
 * Always fills *result (never fails); release it with moat_result_free. */
void moat_check(moat_client *client, const moat_request *request, unsigned deadline_ms, moat_result *result);

/* Decides count requests (pipelined frames of at most 1024 requests that fit the daemon's frame
 * limit); results[i] is the outcome of requests[i], each its own (docs/protocol.md, "CheckBatch:
 * one outcome per request"). Release each result with moat_result_free. */
void moat_check_batch(
    moat_client *client,
    const moat_request *requests,
    size_t count,
    unsigned deadline_ms,
    moat_result *results
);

/* Frees a result's strings (and NULLs them); safe to call twice. */
void moat_result_free(moat_result *result);

/* The daemon's health. */
typedef struct {
    bool ready;         /* false while it has no valid rules: checks would be UNAVAILABLE */
    uint64_t sequence;  /* the revision it would decide on */
    char hash[65];
    moat_error_code error; /* MOAT_ERROR_NONE when the daemon answered */
    unsigned status;
    char error_message[256];
} moat_pong;

/* Returns 0 when the daemon answered (pong->ready says whether it has rules), -1 otherwise
 * (pong->error says why). */
int moat_ping(moat_client *client, unsigned deadline_ms, moat_pong *pong);

/* Names as in the decision JSON of `moatctl check` ("Forbidden", "ForbiddenByRbac", "Network",
 * "IpRule", "managedIdentity", "AccessPolicy"); NULL for NONE or an unknown value. */
const char *moat_code_name(moat_code code);
const char *moat_inner_code_name(moat_inner_code code);
const char *moat_stage_name(moat_stage stage);
const char *moat_admission_kind_name(moat_admission_kind kind);
const char *moat_trusted_service_mode_name(moat_trusted_service_mode mode);
const char *moat_grant_kind_name(moat_grant_kind kind);
const char *moat_error_name(moat_error_code error);

#ifdef __cplusplus
}
#endif

#endif
