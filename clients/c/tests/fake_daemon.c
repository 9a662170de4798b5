/* Answers moatd could send but a healthy one does not (malformed decisions, failure statuses), from
 * a fake daemon: libmoat must classify each as MoatClient does (docs/protocol.md, "Failing open";
 * Sources/MoatClient/MoatClientError.swift). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "moat/v1/authz.pb-c.h"
#include "tests.h"

/* The answer to every frame: a status and a payload, set by the test. */
static pthread_mutex_t answer_lock = PTHREAD_MUTEX_INITIALIZER;
static uint16_t answer_status;
static uint8_t answer_payload[1024];
static size_t answer_length;

static void set_answer(uint16_t status, const ProtobufCMessage *message) {
    pthread_mutex_lock(&answer_lock);
    answer_status = status;
    answer_length = message ? protobuf_c_message_pack(message, answer_payload) : 0;
    pthread_mutex_unlock(&answer_lock);
}

static void set_raw_answer(const uint8_t *bytes, size_t length) {
    pthread_mutex_lock(&answer_lock);
    answer_status = 0;
    memcpy(answer_payload, bytes, length);
    answer_length = length;
    pthread_mutex_unlock(&answer_lock);
}

static bool read_all(int fd, uint8_t *p, size_t n) {
    while (n) {
        ssize_t got = read(fd, p, n);
        if (got <= 0) return false;
        p += got, n -= (size_t)got;
    }
    return true;
}

static void *serve(void *argument) {
    int listener = (int)(intptr_t)argument;
    static uint8_t frame[70 * 1024];
    for (;;) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) return NULL; /* the listener was shut down */
        while (read_all(fd, frame, 4)) {
            uint32_t n = (uint32_t)frame[0] << 24 | frame[1] << 16 | frame[2] << 8 | frame[3];
            if (n < 8 || n > sizeof frame - 4 || !read_all(fd, frame + 4, n)) break;
            uint8_t reply[12 + sizeof answer_payload];
            pthread_mutex_lock(&answer_lock);
            size_t length = answer_length;
            uint32_t total = (uint32_t)(8 + length);
            reply[0] = total >> 24, reply[1] = total >> 16, reply[2] = total >> 8, reply[3] = total;
            memcpy(reply + 4, frame + 4, 5); /* stream id and method */
            reply[9] = 1;
            reply[10] = answer_status >> 8, reply[11] = answer_status & 0xff;
            memcpy(reply + 12, answer_payload, length);
            pthread_mutex_unlock(&answer_lock);
            if (send(fd, reply, 12 + length, MSG_NOSIGNAL) != (ssize_t)(12 + length)) break;
        }
        close(fd);
    }
}

static Moat__V1__CheckResponse allow_response(void) {
    Moat__V1__CheckResponse r = MOAT__V1__CHECK_RESPONSE__INIT;
    r.decision = MOAT__V1__DECISION__DECISION_ALLOW;
    r.http_status = 200;
    r.code = MOAT__V1__RESULT_CODE__RESULT_CODE_OK;
    r.stage = MOAT__V1__STAGE__STAGE_ALLOW;
    return r;
}

static void expect_undecided(moat_client *client, moat_error_code error, unsigned status, moat_fault fault, bool allowed,
                             const char *what) {
    moat_request request = {.vault = "v", .operation = moat_operation_from_name("GetSecret")};
    moat_result r;
    moat_check(client, &request, 0, &r);
    EXPECT(r.outcome == MOAT_UNDECIDED && r.error == error && r.status == status && r.fault == fault && r.allowed == allowed &&
               r.failed_open == allowed,
           "%s: outcome %d error %d status %u fault %d allowed %d (%s)", what, r.outcome, r.error, r.status, r.fault,
           r.allowed, r.error_message ? r.error_message : "");
    moat_result_free(&r);
}

void test_fake_daemon(void) {
    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    snprintf(address.sun_path, sizeof address.sun_path, "%.*s/fake.sock", 90, test_folder);
    const char *path = address.sun_path;
    if (listener < 0 || bind(listener, (struct sockaddr *)&address, sizeof address) || listen(listener, 8))
        fatal("fake daemon: cannot listen on %s", path);
    pthread_t server;
    if (pthread_create(&server, NULL, serve, (void *)(intptr_t)listener)) fatal("pthread_create");
    moat_options options;
    moat_options_init(&options);
    options.connections = 1;
    options.deadline_ms = 10000;
    options.failure_policy = MOAT_FAIL_OPEN;
    moat_client *client;
    if (moat_open(path, &options, &client)) fatal("moat_open");

    Moat__V1__CheckResponse response = allow_response();
    response.decision = MOAT__V1__DECISION__DECISION_UNSPECIFIED;
    set_answer(0, &response.base);
    expect_undecided(client, MOAT_ERROR_PROTOCOL_VIOLATION, MOAT_STATUS_INTERNAL, MOAT_FAULT_DAEMON, false, "DECISION_UNSPECIFIED");

    response = allow_response();
    response.http_status = 403;
    set_answer(0, &response.base);
    expect_undecided(client, MOAT_ERROR_PROTOCOL_VIOLATION, MOAT_STATUS_INTERNAL, MOAT_FAULT_DAEMON, false, "an allow with HTTP 403");

    set_raw_answer((const uint8_t[]){0xff, 0xff, 0xff}, 3);
    expect_undecided(client, MOAT_ERROR_PROTOCOL_VIOLATION, MOAT_STATUS_INTERNAL, MOAT_FAULT_DAEMON, false, "bytes that do not decode");

    Moat__V1__Error error = MOAT__V1__ERROR__INIT;
    error.code = MOAT_STATUS_UNAVAILABLE;
    error.message = "no valid rules loaded";
    set_answer(MOAT_STATUS_UNAVAILABLE, &error.base);
    expect_undecided(client, MOAT_ERROR_STATUS, MOAT_STATUS_UNAVAILABLE, MOAT_FAULT_AVAILABILITY, true, "UNAVAILABLE");
    error.code = MOAT_STATUS_DEADLINE_EXCEEDED;
    set_answer(MOAT_STATUS_DEADLINE_EXCEEDED, &error.base);
    expect_undecided(client, MOAT_ERROR_STATUS, MOAT_STATUS_DEADLINE_EXCEEDED, MOAT_FAULT_AVAILABILITY, true, "DEADLINE_EXCEEDED");
    unsigned denying[] = {MOAT_STATUS_INTERNAL, MOAT_STATUS_UNIMPLEMENTED, MOAT_STATUS_PERMISSION_DENIED, 2 /* UNKNOWN */};
    for (size_t i = 0; i < sizeof denying / sizeof *denying; i++) {
        error.code = denying[i];
        set_answer((uint16_t)denying[i], &error.base);
        expect_undecided(client, MOAT_ERROR_STATUS, denying[i], MOAT_FAULT_DAEMON, false, "a daemon failure");
    }
    error.code = MOAT_STATUS_RESOURCE_EXHAUSTED;
    set_answer(MOAT_STATUS_RESOURCE_EXHAUSTED, &error.base);
    expect_undecided(client, MOAT_ERROR_STATUS, MOAT_STATUS_RESOURCE_EXHAUSTED, MOAT_FAULT_REQUEST, false, "RESOURCE_EXHAUSTED");

    /* Batches: an item's own DEADLINE_EXCEEDED fails open alone; a malformed item fails them all. */
    Moat__V1__CheckResponse allowed = allow_response(), failed = MOAT__V1__CHECK_RESPONSE__INIT;
    Moat__V1__Error item_error = MOAT__V1__ERROR__INIT;
    item_error.code = MOAT_STATUS_DEADLINE_EXCEEDED;
    item_error.message = "deadline passed";
    failed.error = &item_error;
    Moat__V1__CheckResponse *items[] = {&allowed, &failed};
    Moat__V1__CheckBatchResponse batch = MOAT__V1__CHECK_BATCH_RESPONSE__INIT;
    batch.n_responses = 2;
    batch.responses = items;
    set_answer(0, &batch.base);
    moat_request requests[2] = {{.vault = "a"}, {.vault = "b"}};
    moat_result results[2];
    moat_check_batch(client, requests, 2, 0, results);
    EXPECT(results[0].outcome == MOAT_ALLOWED && results[1].outcome == MOAT_UNDECIDED &&
               results[1].status == MOAT_STATUS_DEADLINE_EXCEEDED && results[1].failed_open,
           "batch with a late item: %d %d status %u", results[0].outcome, results[1].outcome, results[1].status);
    for (int i = 0; i < 2; i++) moat_result_free(&results[i]);
    failed.decision = MOAT__V1__DECISION__DECISION_DENY;
    set_answer(0, &batch.base);
    moat_check_batch(client, requests, 2, 0, results);
    for (int i = 0; i < 2; i++) {
        EXPECT(results[i].error == MOAT_ERROR_PROTOCOL_VIOLATION && !results[i].allowed,
               "batch with an item both decided and failed, item %d: error %d", i, results[i].error);
        moat_result_free(&results[i]);
    }
    batch.n_responses = 1;
    set_answer(0, &batch.base);
    moat_check_batch(client, requests, 2, 0, results);
    for (int i = 0; i < 2; i++) {
        EXPECT(results[i].error == MOAT_ERROR_PROTOCOL_VIOLATION && !results[i].allowed,
               "batch answered with too few items, item %d: error %d", i, results[i].error);
        moat_result_free(&results[i]);
    }

    moat_close(client);
    shutdown(listener, SHUT_RDWR);
    pthread_join(server, NULL);
    close(listener);
    printf("fake daemon: malformed answers and failure statuses classified\n");
}
