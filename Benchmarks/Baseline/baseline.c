#define _GNU_SOURCE
#include "baseline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "moat/v1/authz.pb-c.h"

void baseline_die(const char *what) {
    perror(what);
    exit(1);
}

void baseline_fail(const char *message) {
    fprintf(stderr, "%s\n", message);
    exit(1);
}

int64_t baseline_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void baseline_put32(uint8_t *p, uint32_t value) {
    p[0] = (uint8_t)(value >> 24), p[1] = (uint8_t)(value >> 16), p[2] = (uint8_t)(value >> 8), p[3] = (uint8_t)value;
}

uint32_t baseline_get32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

bool baseline_read_all(int fd, uint8_t *p, size_t n) {
    while (n) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        p += got, n -= (size_t)got;
    }
    return true;
}

bool baseline_write_all(int fd, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t put = send(fd, p, n, MSG_NOSIGNAL);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) return false;
        p += put, n -= (size_t)put;
    }
    return true;
}

void baseline_record(baseline_samples *samples, int64_t ns) {
    if (samples->count == samples->capacity) {
        samples->capacity = samples->capacity ? 2 * samples->capacity : 1 << 16;
        samples->values = realloc(samples->values, samples->capacity * sizeof *samples->values);
        if (!samples->values) baseline_die("realloc");
    }
    samples->values[samples->count++] = (uint32_t)(ns > UINT32_MAX ? UINT32_MAX : ns);
}

static int compare_samples(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void baseline_print_round_trips(baseline_samples *each, size_t count, double seconds) {
    size_t total = 0;
    for (size_t i = 0; i < count; i++) total += each[i].count;
    uint32_t *all = malloc((total ? total : 1) * sizeof *all);
    if (!all) baseline_die("malloc");
    for (size_t i = 0, at = 0; i < count; i++) {
        if (each[i].count) memcpy(all + at, each[i].values, each[i].count * sizeof *all);
        at += each[i].count;
        free(each[i].values);
        each[i] = (baseline_samples){0};
    }
    qsort(all, total, sizeof *all, compare_samples);
    printf("checks %zu checks/s %.0f p50_us %.1f p99_us %.1f", total, total / seconds,
           total ? all[total / 2] / 1000.0 : 0, total ? all[total * 99 / 100] / 1000.0 : 0);
    free(all);
}

static struct sockaddr_un unix_address(const char *path) {
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof address.sun_path) {
        errno = ENAMETOOLONG;
        baseline_die(path);
    }
    memcpy(address.sun_path, path, strlen(path) + 1);
    return address;
}

int baseline_connect(const char *path) {
    struct sockaddr_un address = unix_address(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address)) baseline_die(path);
    return fd;
}

int baseline_listen(const char *path) {
    struct sockaddr_un address = unix_address(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof address) || listen(fd, 1024)) baseline_die(path);
    return fd;
}

uint8_t *baseline_check_frame(const char *vault, const char *source, const char *token, uint64_t timeout_micros, size_t *length) {
    Moat__V1__CheckRequest request = MOAT__V1__CHECK_REQUEST__INIT;
    request.vault = (char *)vault;
    request.operation = MOAT__V1__OPERATION__OPERATION_GET_SECRET;
    request.source_address = (char *)source;
    request.token = (char *)token;
    request.timeout_micros = timeout_micros;
    size_t size = moat__v1__check_request__get_packed_size(&request);
    if (frame_header + size > 4 + (size_t)max_frame_length) baseline_fail("the request is over the frame limit");
    uint8_t *frame = malloc(frame_header + size);
    if (!frame) baseline_die("malloc");
    moat__v1__check_request__pack(&request, frame + frame_header);
    baseline_put32(frame, (uint32_t)(8 + size));
    baseline_put32(frame + 4, 0);
    frame[8] = method_check, frame[9] = 0, frame[10] = frame[11] = 0;
    *length = frame_header + size;
    return frame;
}

size_t baseline_pack_answer(uint8_t *out) {
    Moat__V1__Admission admission = MOAT__V1__ADMISSION__INIT;
    admission.kind = MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_IP_RULE;
    admission.index = 0;
    admission.rule = "203.0.113.0/24";
    Moat__V1__Grant grant = MOAT__V1__GRANT__INIT;
    grant.kind = MOAT__V1__GRANT_KIND__GRANT_KIND_ACCESS_POLICY;
    grant.object_id = "a11ce000-0000-4000-8000-000000000001";
    Moat__V1__Revision revision = MOAT__V1__REVISION__INIT;
    revision.sequence = 1;
    revision.hash = "dd00f0a847e83c8d";
    Moat__V1__Caller caller = MOAT__V1__CALLER__INIT;
    caller.object_id = "a11ce000-0000-4000-8000-000000000001";
    caller.application_id = "11111111-2222-4333-8444-555555555555";
    caller.tenant_id = "de300000-0000-4000-8000-000000000001";
    caller.issuer = "https://sts.windows.net/de300000-0000-4000-8000-000000000001/";
    Moat__V1__CheckResponse response = MOAT__V1__CHECK_RESPONSE__INIT;
    response.decision = MOAT__V1__DECISION__DECISION_ALLOW;
    response.http_status = 200;
    response.code = MOAT__V1__RESULT_CODE__RESULT_CODE_OK;
    response.message = "Allowed.";
    response.stage = MOAT__V1__STAGE__STAGE_ALLOW;
    response.admitted_by = &admission;
    response.granted_by = &grant;
    response.required = "secrets/get";
    response.revision = &revision;
    response.caller = &caller;
    size_t size = moat__v1__check_response__get_packed_size(&response);
    if (size > baseline_answer_capacity) baseline_fail("the answer is over its buffer");
    return moat__v1__check_response__pack(&response, out);
}
