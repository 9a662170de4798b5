/* The reference servers moatd is measured against (Benchmarks/Baseline/README.md).
 *
 *   baseline-server echo SOCKET [THREADS]    answers every frame at once with the same stream id
 *                                            and method and a fixed allowed CheckResponse,
 *                                            packed once at start: the cost of the socket alone
 *   baseline-server floor SOCKET [THREADS]   the protocol floor: for every Check frame, the string
 *                                            pre-check moatd runs (NUL, strict UTF-8:
 *                                            cmoat_check_strings_path), a protobuf-c unpack of the
 *                                            CheckRequest, and a pack of the same fixed decision
 *                                            straight into the outbound buffer; no decision
 *
 * Frames are docs/protocol.md's. One thread per core (THREADS, default: the online cores), each
 * with its own epoll set; the main thread accepts and hands connections out in turn. Each
 * readiness costs one read, and the answers to every complete frame it brought go out in one
 * write. A connection whose unsent answers pass 256 KiB is not read from until they drain (as
 * moatd). A frame with N < 8 or N over 64 KiB closes its connection; in the floor, a method other
 * than Check is answered UNIMPLEMENTED and a Check that fails the pre-check or does not decode
 * INVALID_ARGUMENT, with empty payloads. Runs until killed. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "CMoatProto.h"
#include "baseline.h"

enum {
    input_capacity = 4 + max_frame_length,
    output_limit = 256 * 1024,
    output_capacity = output_limit + frame_header + baseline_answer_capacity,
};

typedef struct {
    int fd;
    int epoll;
    bool paused;     /* unsent answers over the limit: not reading */
    uint32_t events; /* the epoll interest registered */
    size_t input_length, output_length, output_sent;
    uint8_t input[input_capacity];
    uint8_t output[output_capacity];
} connection;

static bool floor_mode;
static uint8_t echo_answer[baseline_answer_capacity];
static size_t echo_answer_length;

static void close_connection(connection *c) {
    close(c->fd); /* also leaves the epoll set */
    free(c);
}

/* Appends the answer to one frame (`frame` points at its header) to the output buffer. */
static void answer(connection *c, const uint8_t *frame, uint32_t n) {
    uint8_t *out = c->output + c->output_length;
    memcpy(out + 4, frame + 4, 5); /* stream id, method */
    out[9] = 1;                    /* the response flag */
    uint16_t status = 0;
    size_t payload = 0;
    if (!floor_mode) {
        memcpy(out + frame_header, echo_answer, echo_answer_length);
        payload = echo_answer_length;
    } else if (frame[8] != method_check) {
        status = status_unimplemented;
    } else {
        char path[128];
        Moat__V1__CheckRequest *request = NULL;
        if (cmoat_check_strings_path(cmoat_check_request_descriptor(), frame + frame_header, n - 8, path, sizeof path) ==
                CMOAT_STRINGS_VALID &&
            (request = moat__v1__check_request__unpack(NULL, n - 8, frame + frame_header)) != NULL) {
            moat__v1__check_request__free_unpacked(request, NULL);
            payload = baseline_pack_answer(out + frame_header);
        } else {
            status = status_invalid_argument;
        }
    }
    baseline_put32(out, (uint32_t)(8 + payload));
    out[10] = (uint8_t)(status >> 8), out[11] = (uint8_t)status;
    c->output_length += frame_header + payload;
}

/* Writes what it can; false when the connection is gone. */
static bool flush(connection *c) {
    while (c->output_sent < c->output_length) {
        ssize_t put = send(c->fd, c->output + c->output_sent, c->output_length - c->output_sent, MSG_NOSIGNAL);
        if (put < 0 && errno == EINTR) continue;
        if (put < 0 && errno == EAGAIN) break;
        if (put <= 0) return false;
        c->output_sent += (size_t)put;
    }
    if (c->output_sent == c->output_length) c->output_sent = c->output_length = 0;
    c->paused = c->output_length - c->output_sent > output_limit;
    uint32_t wanted = (c->output_sent < c->output_length ? EPOLLOUT : 0) | (c->paused ? 0 : EPOLLIN);
    if (wanted != c->events) {
        struct epoll_event event = {.events = wanted, .data.ptr = c};
        if (epoll_ctl(c->epoll, EPOLL_CTL_MOD, c->fd, &event)) return false;
        c->events = wanted;
    }
    return true;
}

/* Answers every complete frame in the input buffer (while the output has room); false when the
 * connection must close. */
static bool process(connection *c) {
    if (c->output_sent > 0) { /* a partial write left a tail: move it to the front */
        memmove(c->output, c->output + c->output_sent, c->output_length - c->output_sent);
        c->output_length -= c->output_sent, c->output_sent = 0;
    }
    size_t at = 0;
    while (c->input_length - at >= 4 && c->output_length <= output_limit) {
        uint32_t n = baseline_get32(c->input + at);
        if (n < 8 || n > max_frame_length) return false;
        if (c->input_length - at < 4 + (size_t)n) break;
        answer(c, c->input + at, n);
        at += 4 + (size_t)n;
    }
    memmove(c->input, c->input + at, c->input_length - at);
    c->input_length -= at;
    return true;
}

/* Answers and writes until no complete frame is left or the output is paused (many small frames
 * can fill the output before the input is used up); false when the connection must close. */
static bool drain(connection *c) {
    for (;;) {
        size_t before = c->input_length;
        if (!process(c) || !flush(c)) return false;
        if (c->paused || c->input_length == before) return true;
    }
}

static bool readable(connection *c) {
    if (c->input_length < input_capacity) { /* else a whole frame waits: answer it first */
        ssize_t got = read(c->fd, c->input + c->input_length, input_capacity - c->input_length);
        if (got < 0) return errno == EINTR || errno == EAGAIN;
        if (got == 0) return false;
        c->input_length += (size_t)got;
    }
    return drain(c);
}

static bool writable(connection *c) {
    /* Room again: answer what was left waiting. */
    return flush(c) && (c->paused || drain(c));
}

static void *worker(void *argument) {
    int epoll = (int)(intptr_t)argument;
    struct epoll_event events[64];
    for (;;) {
        int count = epoll_wait(epoll, events, 64, -1);
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) baseline_die("epoll_wait");
        for (int i = 0; i < count; i++) {
            connection *c = events[i].data.ptr;
            bool open = (events[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) == 0 || writable(c);
            if (open && !c->paused && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) open = readable(c);
            if (!open) close_connection(c);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4 || (strcmp(argv[1], "echo") && strcmp(argv[1], "floor"))) {
        fprintf(stderr, "usage: baseline-server echo|floor SOCKET [THREADS]\n");
        return 2;
    }
    floor_mode = !strcmp(argv[1], "floor");
    echo_answer_length = baseline_pack_answer(echo_answer);
    long threads = argc == 4 ? atol(argv[3]) : sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1 || threads > 1024) {
        fprintf(stderr, "baseline-server: THREADS must be 1 to 1024\n");
        return 2;
    }
    int *sets = calloc((size_t)threads, sizeof *sets);
    if (!sets) baseline_die("calloc");
    for (long i = 0; i < threads; i++) {
        pthread_t thread;
        if ((sets[i] = epoll_create1(EPOLL_CLOEXEC)) < 0) baseline_die("epoll_create1");
        if (pthread_create(&thread, NULL, worker, (void *)(intptr_t)sets[i])) baseline_fail("baseline-server: cannot start a thread");
    }
    int listener = baseline_listen(argv[2]);
    for (long next = 0;; next = (next + 1) % threads) {
        int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0 && (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE)) continue;
        if (fd < 0) baseline_die("accept4");
        connection *c = malloc(sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        *c = (connection){.fd = fd, .epoll = sets[next], .events = EPOLLIN};
        struct epoll_event event = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(c->epoll, EPOLL_CTL_ADD, fd, &event)) close_connection(c);
    }
}
