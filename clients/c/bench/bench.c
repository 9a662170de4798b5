/* libmoat's benchmark and its baseline (scripts/bench-clients runs it; a benchmark, not a test).
 *
 *   bench serve SOCKET                      an echo server: answers every frame at once with the
 *                                           same stream id and one canned CheckResponse (an allow)
 *   bench raw SOCKET CALLERS SECONDS        the C echo client: one blocking connection per caller,
 *                                           a pre-encoded request frame out, one frame back
 *   bench libmoat SOCKET CALLERS SECONDS VAULT OPERATION SOURCE TOKEN
 *                                           moat_check from CALLERS threads sharing one client
 *
 * raw and libmoat print one line: checks per second, p50 and p99 of the round trip in µs. Frames
 * are those of docs/protocol.md. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "moat/moat.h"
#include "moat/v1/authz.pb-c.h"

static void die(const char *what) {
    perror(what);
    exit(1);
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void put32(uint8_t *p, uint32_t v) {
    p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
}

static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

static bool read_all(int fd, uint8_t *p, size_t n) {
    while (n) {
        ssize_t got = read(fd, p, n);
        if (got <= 0) return false;
        p += got, n -= (size_t)got;
    }
    return true;
}

static bool write_all(int fd, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t put = send(fd, p, n, MSG_NOSIGNAL);
        if (put <= 0) return false;
        p += put, n -= (size_t)put;
    }
    return true;
}

/* ---- the echo server ---- */

static uint8_t answer[512];
static size_t answer_length;

static void *serve_connection(void *argument) {
    int fd = (int)(intptr_t)argument;
    uint8_t *frame = malloc(70 * 1024);
    if (!frame) die("malloc");
    uint8_t reply[sizeof answer + 12];
    while (read_all(fd, frame, 4)) {
        uint32_t n = get32(frame);
        if (n < 8 || n > 64 * 1024 || !read_all(fd, frame + 4, n)) break;
        put32(reply, (uint32_t)(8 + answer_length));
        memcpy(reply + 4, frame + 4, 5); /* stream id, method */
        reply[9] = 1, reply[10] = reply[11] = 0;
        memcpy(reply + 12, answer, answer_length);
        if (!write_all(fd, reply, 12 + answer_length)) break;
    }
    free(frame);
    close(fd);
    return NULL;
}

static _Noreturn void serve(const char *path) {
    Moat__V1__Revision revision = MOAT__V1__REVISION__INIT;
    revision.sequence = 1;
    revision.hash = "0123456789abcdef";
    Moat__V1__CheckResponse response = MOAT__V1__CHECK_RESPONSE__INIT;
    response.decision = MOAT__V1__DECISION__DECISION_ALLOW;
    response.http_status = 200;
    response.code = MOAT__V1__RESULT_CODE__RESULT_CODE_OK;
    response.stage = MOAT__V1__STAGE__STAGE_ALLOW;
    response.message = "Allowed";
    response.required = "secrets/get";
    response.revision = &revision;
    answer_length = moat__v1__check_response__pack(&response, answer);

    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    snprintf(address.sun_path, sizeof address.sun_path, "%s", path);
    unlink(path);
    if (listener < 0 || bind(listener, (struct sockaddr *)&address, sizeof address) || listen(listener, 128)) die("listen");
    for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR) continue;
            die("accept");
        }
        pthread_t thread;
        if (pthread_create(&thread, NULL, serve_connection, (void *)(intptr_t)fd)) die("pthread_create");
        pthread_detach(thread);
    }
}

/* ---- the callers ---- */

typedef struct {
    const char *socket;
    moat_client *client;
    const moat_request *request;
    int64_t until;
    uint32_t *samples; /* round trips in ns */
    size_t count, capacity;
    long failures;
} caller;

static void record(caller *c, int64_t ns) {
    if (c->count < c->capacity) c->samples[c->count++] = (uint32_t)(ns > UINT32_MAX ? UINT32_MAX : ns);
}

static void *raw_caller(void *argument) {
    caller *c = argument;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    snprintf(address.sun_path, sizeof address.sun_path, "%s", c->socket);
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address)) die("connect");
    /* The same CheckRequest libmoat sends, encoded once. */
    Moat__V1__CheckRequest message = MOAT__V1__CHECK_REQUEST__INIT;
    message.vault = (char *)c->request->vault;
    message.operation = (Moat__V1__Operation)c->request->operation;
    message.source_address = (char *)c->request->source_address;
    message.token = (char *)c->request->token;
    message.timeout_micros = 200000;
    size_t size = moat__v1__check_request__get_packed_size(&message);
    uint8_t *frame = malloc(12 + size), *in = malloc(64 * 1024);
    if (!frame || !in) die("malloc");
    moat__v1__check_request__pack(&message, frame + 12);
    put32(frame, (uint32_t)(8 + size));
    frame[8] = 1, frame[9] = 0, frame[10] = frame[11] = 0;
    for (uint32_t stream = 1; now_ns() < c->until; stream++) {
        int64_t start = now_ns();
        put32(frame + 4, stream);
        if (!write_all(fd, frame, 12 + size) || !read_all(fd, in, 4)) die("echo");
        uint32_t n = get32(in);
        if (n > 64 * 1024 - 4 || !read_all(fd, in + 4, n) || get32(in + 4) != stream) die("echo answer");
        record(c, now_ns() - start);
    }
    free(frame);
    free(in);
    close(fd);
    return NULL;
}

static void *libmoat_caller(void *argument) {
    caller *c = argument;
    while (now_ns() < c->until) {
        int64_t start = now_ns();
        moat_result r;
        moat_check(c->client, c->request, 0, &r);
        if (r.outcome == MOAT_UNDECIDED && c->failures++ == 0) fprintf(stderr, "could not decide: %s\n", r.error_message);
        moat_result_free(&r);
        record(c, now_ns() - start);
    }
    return NULL;
}

static int compare(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "serve")) serve(argv[2]);
    bool raw = argc == 5 && !strcmp(argv[1], "raw");
    if (!raw && !(argc == 9 && !strcmp(argv[1], "libmoat"))) {
        fprintf(stderr, "usage: bench serve SOCKET | raw SOCKET CALLERS SECONDS | libmoat SOCKET CALLERS SECONDS VAULT OPERATION SOURCE TOKEN\n");
        return 2;
    }
    int callers = atoi(argv[3]);
    double seconds = atof(argv[4]);
    moat_request request = {.vault = "contoso-prod", .operation = moat_operation_from_name("GetSecret"),
                            .source_address = "203.0.113.9", .token = "x"};
    if (!raw) {
        request = (moat_request){.vault = argv[5], .operation = moat_operation_from_name(argv[6]),
                                 .source_address = argv[7], .token = argv[8]};
    }
    moat_client *client = NULL;
    if (!raw) {
        moat_options options;
        moat_options_init(&options);
        options.connections = (unsigned)callers; /* as the echo client: a connection per caller */
        if (moat_open(argv[2], &options, &client)) die("moat_open");
    }
    caller *all = calloc((size_t)callers, sizeof *all);
    pthread_t *threads = calloc((size_t)callers, sizeof *threads);
    if (!all || !threads) die("calloc");
    int64_t warm = now_ns() + 300000000; /* connections made, caches warm */
    for (int pass = 0; pass < 2; pass++) {
        int64_t until = pass == 0 ? warm : now_ns() + (int64_t)(seconds * 1e9);
        for (int i = 0; i < callers; i++) {
            free(all[i].samples);
            all[i] = (caller){.socket = argv[2], .client = client, .request = &request, .until = until,
                              .capacity = 1000000};
            all[i].samples = malloc(all[i].capacity * sizeof *all[i].samples);
            if (!all[i].samples || pthread_create(&threads[i], NULL, raw ? raw_caller : libmoat_caller, &all[i])) die("start");
        }
        for (int i = 0; i < callers; i++) pthread_join(threads[i], NULL);
    }
    size_t total = 0;
    long failures = 0;
    for (int i = 0; i < callers; i++) total += all[i].count, failures += all[i].failures;
    uint32_t *merged = malloc((total ? total : 1) * sizeof *merged);
    if (!merged) die("malloc");
    for (int i = 0, at = 0; i < callers; i++) {
        memcpy(merged + at, all[i].samples, all[i].count * sizeof *merged);
        at += (int)all[i].count;
        free(all[i].samples);
    }
    qsort(merged, total, sizeof *merged, compare);
    printf("%-8s %d caller%s  %9.0f checks/s  p50 %7.1f µs  p99 %7.1f µs%s\n", raw ? "echo" : "libmoat", callers,
           callers == 1 ? " " : "s", total / seconds, total ? merged[total / 2] / 1000.0 : 0,
           total ? merged[total * 99 / 100] / 1000.0 : 0, failures ? "  (some could not decide)" : "");
    free(merged);
    free(all);
    free(threads);
    if (client) moat_close(client);
    return 0;
}
