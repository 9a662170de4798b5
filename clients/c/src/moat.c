/* libmoat: see include/moat/moat.h. The wire protocol (frames, stream ids, statuses, failing
 * open) is docs/protocol.md; the behaviour mirrors Sources/MoatClient. */
#define _GNU_SOURCE
#include "moat/moat.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "moat/v1/authz.pb-c.h"

/* The header's enums are the proto's numbers. */
_Static_assert((int)MOAT_CODE_FORBIDDEN == (int)MOAT__V1__RESULT_CODE__RESULT_CODE_FORBIDDEN, "moat_code");
_Static_assert((int)MOAT_INNER_FORBIDDEN_BY_RBAC == (int)MOAT__V1__INNER_CODE__INNER_CODE_FORBIDDEN_BY_RBAC, "moat_inner_code");
_Static_assert((int)MOAT_STAGE_ALLOW == (int)MOAT__V1__STAGE__STAGE_ALLOW, "moat_stage");
_Static_assert((int)MOAT_ADMISSION_NOT_APPLICABLE == (int)MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_NOT_APPLICABLE, "moat_admission_kind");
_Static_assert((int)MOAT_MODE_FEDERATED == (int)MOAT__V1__TRUSTED_SERVICE_MODE__TRUSTED_SERVICE_MODE_FEDERATED, "moat_trusted_service_mode");
_Static_assert((int)MOAT_GRANT_ROLE_ASSIGNMENT == (int)MOAT__V1__GRANT_KIND__GRANT_KIND_ROLE_ASSIGNMENT, "moat_grant_kind");

enum {
    header_size = 12,        /* the 4-byte length N and the 8-byte header tail */
    minimum_frame_length = 8, /* N of a frame without payload */
    method_check = 1,
    method_check_batch = 2,
    method_ping = 3,
    maximum_batch_count = 1024,
};

/* ---- time ---- */

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec to_timespec(int64_t ns) {
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    return ts;
}

static int remaining_ms(int64_t deadline) {
    int64_t left = deadline - now_ns();
    if (left <= 0) return 0;
    return (int)((left + 999999) / 1000000);
}

/* ---- failures ---- */

typedef struct {
    moat_error_code code;
    unsigned status;
    char message[256];
} failure;

static failure make_failure(moat_error_code code, unsigned status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static failure make_failure(moat_error_code code, unsigned status, const char *format, ...) {
    failure f = {.code = code, .status = status};
    va_list args;
    va_start(args, format);
    vsnprintf(f.message, sizeof f.message, format, args);
    va_end(args);
    return f;
}

static failure no_memory(void) {
    return make_failure(MOAT_ERROR_NO_MEMORY, MOAT_STATUS_INTERNAL, "out of memory in the client");
}

static failure deadline_failure(void) {
    return make_failure(MOAT_ERROR_DEADLINE_EXCEEDED, MOAT_STATUS_DEADLINE_EXCEEDED, "no answer within the deadline");
}

/* MoatClientError.fault in Sources/MoatClient/MoatClientError.swift. */
static moat_fault fault_of(moat_error_code code, unsigned status) {
    switch (code) {
    case MOAT_ERROR_UNREACHABLE:
    case MOAT_ERROR_DEADLINE_EXCEEDED:
    case MOAT_ERROR_CONNECTION_CLOSED: return MOAT_FAULT_AVAILABILITY;
    case MOAT_ERROR_REQUEST_REFUSED: return MOAT_FAULT_REQUEST;
    case MOAT_ERROR_NO_MEMORY: return MOAT_FAULT_CLIENT;
    case MOAT_ERROR_STATUS:
        switch (status) {
        case MOAT_STATUS_UNAVAILABLE:
        case MOAT_STATUS_DEADLINE_EXCEEDED: return MOAT_FAULT_AVAILABILITY;
        case MOAT_STATUS_INVALID_ARGUMENT:
        case MOAT_STATUS_RESOURCE_EXHAUSTED: return MOAT_FAULT_REQUEST;
        default: return MOAT_FAULT_DAEMON;
        }
    default: return MOAT_FAULT_DAEMON;
    }
}

/* ---- connections ---- */

struct slot;

/* A call waiting for its answer on a connection. */
typedef struct pending {
    struct pending *prev, *next;
    struct slot *slot; /* the pool place it counts in (calls) */
    uint32_t stream;
    pthread_cond_t cond;
    bool done;
    bool failed;
    failure failure;  /* when failed */
    uint16_t status;  /* when answered: the frame's status and payload (owned) */
    uint8_t *payload;
    size_t length;
} pending;

typedef struct connection {
    int fd;
    atomic_int references;
    atomic_bool dead;
    size_t maximum_answer_frame;
    pthread_mutex_t lock; /* guards waiting, next_stream, failure, reading */
    pending *waiting;
    uint32_t next_stream;
    failure failure; /* why it died: given to calls that arrive later */
    /* One waiting call at a time reads the connection, for every call on it (below, await_answer);
     * the buffer is that reader's. */
    bool reading;
    uint8_t *buffer;
    size_t capacity, used;
    pthread_mutex_t write_lock;
} connection;

static void connection_release(connection *c) {
    if (atomic_fetch_sub(&c->references, 1) != 1) return;
    close(c->fd);
    free(c->buffer);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->write_lock);
    free(c);
}

static void complete(pending *p) {
    p->done = true;
    pthread_cond_signal(&p->cond);
}

static void unlink_pending(connection *c, pending *p) {
    if (p->prev) p->prev->next = p->next;
    else c->waiting = p->next;
    if (p->next) p->next->prev = p->prev;
    p->prev = p->next = NULL;
}

/* Marks the connection dead and fails every call waiting on it with f (docs/protocol.md: a
 * connection-level answer fails every request still waiting). The first reason sticks. */
static void connection_kill(connection *c, failure f) {
    pthread_mutex_lock(&c->lock);
    if (!atomic_load(&c->dead)) {
        c->failure = f;
        atomic_store(&c->dead, true);
    }
    while (c->waiting) {
        pending *p = c->waiting;
        unlink_pending(c, p);
        p->failed = true;
        p->failure = c->failure;
        complete(p);
    }
    pthread_mutex_unlock(&c->lock);
    shutdown(c->fd, SHUT_RDWR);
}

static uint32_t read_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void write_be32(uint8_t *p, uint32_t v) {
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

/* The failure a non-zero status frame stands for, with the message of its Error payload. */
static failure status_failure(uint16_t status, const uint8_t *payload, size_t length) {
    Moat__V1__Error *error = moat__v1__error__unpack(NULL, length, payload);
    failure f;
    if (error && error->message && error->message[0]) f = make_failure(MOAT_ERROR_STATUS, status, "%s", error->message);
    else f = make_failure(MOAT_ERROR_STATUS, status, "the daemon answered status %u", (unsigned)status);
    if (error) moat__v1__error__free_unpacked(error, NULL);
    return f;
}

/* Handles one complete frame (setting *mine_done when it answers mine); false when the connection
 * must die (f says why). */
static bool dispatch(connection *c, const uint8_t *frame, uint32_t n, const pending *mine, bool *mine_done,
                     failure *f) {
    uint32_t stream = read_be32(frame + 4);
    uint8_t flags = frame[9];
    uint16_t status = (uint16_t)(frame[10] << 8 | frame[11]);
    const uint8_t *payload = frame + header_size;
    size_t length = n - minimum_frame_length;
    if ((flags & 1) == 0) {
        *f = make_failure(MOAT_ERROR_PROTOCOL_VIOLATION, MOAT_STATUS_INTERNAL, "the daemon sent a frame that is not a response");
        return false;
    }
    if (stream == 0 && status != 0) {
        *f = status_failure(status, payload, length);
        return false;
    }
    pthread_mutex_lock(&c->lock);
    pending *p = c->waiting;
    while (p && p->stream != stream) p = p->next;
    if (p) {
        if (p == mine) *mine_done = true;
        unlink_pending(c, p);
        p->status = status;
        p->length = length;
        p->payload = malloc(length ? length : 1);
        if (p->payload) memcpy(p->payload, payload, length);
        else {
            p->failed = true;
            p->failure = no_memory();
        }
        complete(p);
    }
    /* No waiter: the call gave up at its deadline; the late answer is dropped. */
    pthread_mutex_unlock(&c->lock);
    return true;
}

/* Reads what the connection has (one recv) and hands each complete answer to its call, setting
 * *mine_done when one answers mine; false when the connection must die (f says why). Only the
 * call holding the connection's reading turn calls it. */
static bool read_once(connection *c, const pending *mine, bool *mine_done, failure *f) {
    ssize_t got = recv(c->fd, c->buffer + c->used, c->capacity - c->used, MSG_DONTWAIT);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    if (got <= 0) {
        *f = make_failure(MOAT_ERROR_CONNECTION_CLOSED, MOAT_STATUS_UNAVAILABLE, "the daemon closed the connection");
        return false;
    }
    c->used += (size_t)got;
    size_t start = 0;
    while (c->used - start >= 4) {
        uint32_t n = read_be32(c->buffer + start);
        if (n < minimum_frame_length || n > c->maximum_answer_frame) {
            *f = make_failure(MOAT_ERROR_PROTOCOL_VIOLATION, MOAT_STATUS_INTERNAL,
                              "the daemon sent a frame of length %u (accepted: %d to %zu)", n, minimum_frame_length,
                              c->maximum_answer_frame);
            return false;
        }
        if (c->used - start < 4 + (size_t)n) break;
        if (!dispatch(c, c->buffer + start, n, mine, mine_done, f)) return false;
        start += 4 + (size_t)n;
    }
    memmove(c->buffer, c->buffer + start, c->used - start);
    c->used -= start;
    if (c->used >= 4 && 4 + (size_t)read_be32(c->buffer) > c->capacity) {
        size_t wanted = 4 + (size_t)read_be32(c->buffer);
        uint8_t *grown = realloc(c->buffer, wanted);
        if (!grown) {
            *f = no_memory();
            return false;
        }
        c->buffer = grown;
        c->capacity = wanted;
    }
    return true;
}

/* Reads answers until mine is answered or the deadline passes (true), or the connection must die
 * (false, f says why). */
static bool read_answers(connection *c, const pending *mine, int64_t deadline, failure *f) {
    bool mine_done = false;
    while (!mine_done) {
        int wait = remaining_ms(deadline);
        if (wait == 0) return true;
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        if (poll(&pfd, 1, wait) <= 0) continue; /* timed out (the loop ends) or interrupted */
        if (!read_once(c, mine, &mine_done, f)) return false;
    }
    return true;
}

/* Gives the reading turn back and wakes a waiting call to take it. Connection lock held. */
static void end_reading(connection *c) {
    c->reading = false;
    if (c->waiting) pthread_cond_signal(&c->waiting->cond);
}

/* Waits until the connection takes more bytes; false when the deadline passed or it died. While
 * it waits it reads answers, unless another call does: the daemon stops reading a connection whose
 * answers are not read (docs/protocol.md, "Limits"), so a writer that only waited could wait for
 * its deadline. */
static bool wait_writable(connection *c, int64_t deadline) {
    pthread_mutex_lock(&c->lock);
    bool reader = !c->reading;
    if (reader) c->reading = true;
    pthread_mutex_unlock(&c->lock);
    /* Not the reader: look again soon, in case the reader's turn ends with nobody else to read. */
    int wait = remaining_ms(deadline);
    if (!reader && wait > 10) wait = 10;
    struct pollfd pfd = {.fd = c->fd, .events = POLLOUT | (reader ? POLLIN : 0)};
    int ready = poll(&pfd, 1, wait);
    bool alive = true, unused = false;
    failure f;
    if (ready > 0 && reader && (pfd.revents & (POLLIN | POLLHUP | POLLERR))) alive = read_once(c, NULL, &unused, &f);
    if (reader) {
        if (!alive) connection_kill(c, f);
        pthread_mutex_lock(&c->lock);
        end_reading(c);
        pthread_mutex_unlock(&c->lock);
    }
    return alive && remaining_ms(deadline) > 0;
}

/* ---- the pool ---- */

typedef struct slot {
    pthread_mutex_t lock;
    atomic_int calls; /* calls in progress on this place, to spread them */
    connection *connection;
    int64_t next_attempt;
    unsigned backoff_ms;
    bool has_error;
    failure last_error;
    unsigned seed; /* jitter */
} slot;

struct moat_client {
    char *socket_path;
    moat_options options;
    atomic_uint next_slot;
    slot *slots;
};

void moat_options_init(moat_options *options) {
    *options = (moat_options){
        .connections = 2,
        .deadline_ms = 200,
        .failure_policy = MOAT_FAIL_CLOSED,
        .initial_backoff_ms = 10,
        .maximum_backoff_ms = 2000,
        .maximum_request_frame = 64 * 1024,
        .maximum_answer_frame = 16 * 1024 * 1024,
    };
}

int moat_open(const char *socket_path, const moat_options *options, moat_client **client) {
    if (!socket_path || !client) return EINVAL;
    moat_options chosen;
    if (options) chosen = *options;
    else moat_options_init(&chosen);
    if (chosen.connections == 0 || chosen.maximum_request_frame < minimum_frame_length) return EINVAL;
    if (strlen(socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) return ENAMETOOLONG;
    moat_client *m = calloc(1, sizeof *m);
    if (!m) return ENOMEM;
    m->options = chosen;
    m->socket_path = strdup(socket_path);
    m->slots = calloc(chosen.connections, sizeof *m->slots);
    if (!m->socket_path || !m->slots) {
        free(m->socket_path);
        free(m->slots);
        free(m);
        return ENOMEM;
    }
    for (unsigned i = 0; i < chosen.connections; i++) {
        pthread_mutex_init(&m->slots[i].lock, NULL);
        m->slots[i].seed = (unsigned)now_ns() ^ (i * 2654435761u);
    }
    *client = m;
    return 0;
}

/* Whether the daemon closed the connection while no call was on it (nobody read the end of
 * file): the slot then connects again rather than fail the next call. */
static bool peer_closed(connection *c) {
    char byte;
    ssize_t n = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
}

/* Drops the slot's connection, failing the calls still on it. Slot lock held. */
static void slot_drop(slot *s, failure f) {
    connection_kill(s->connection, f);
    connection_release(s->connection);
    s->connection = NULL;
}

void moat_close(moat_client *m) {
    if (!m) return;
    for (unsigned i = 0; i < m->options.connections; i++) {
        slot *s = &m->slots[i];
        if (s->connection)
            slot_drop(s, make_failure(MOAT_ERROR_CONNECTION_CLOSED, MOAT_STATUS_UNAVAILABLE, "the client is closed"));
        pthread_mutex_destroy(&s->lock);
    }
    free(m->slots);
    free(m->socket_path);
    free(m);
}

static int connect_socket(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    strcpy(address.sun_path, path); /* length checked by moat_open */
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* A connection of the pool for call p, with a reference for it; NULL (and p->failure) when the daemon
 * cannot be reached, or while waiting out the backoff after a failed attempt (Sources/MoatClient/
 * ConnectionSlot.swift: a missing daemon costs callers an immediate answer, not a connect each). */
static connection *acquire(moat_client *m, pending *p) {
    failure *f = &p->failure;
    unsigned n = m->options.connections, start = atomic_fetch_add(&m->next_slot, 1) % n;
    slot *s = NULL;
    /* Prefer a connection no call is on (claimed atomically): a lone call reads its own answer
     * (await_answer). When every one is busy, take turns. */
    for (unsigned i = 0; i < n && !s; i++) {
        int idle = 0;
        if (atomic_compare_exchange_strong(&m->slots[(start + i) % n].calls, &idle, 1)) s = &m->slots[(start + i) % n];
    }
    if (!s) {
        s = &m->slots[start];
        atomic_fetch_add(&s->calls, 1);
    }
    p->slot = s;
    pthread_mutex_lock(&s->lock);
    if (s->connection && (atomic_load(&s->connection->dead) || peer_closed(s->connection)))
        slot_drop(s, make_failure(MOAT_ERROR_CONNECTION_CLOSED, MOAT_STATUS_UNAVAILABLE, "the daemon closed the connection"));
    connection *c = s->connection;
    if (!c) {
        if (s->has_error && now_ns() < s->next_attempt) {
            *f = s->last_error;
            pthread_mutex_unlock(&s->lock);
            return NULL;
        }
        int fd = connect_socket(m->socket_path);
        if (fd >= 0) {
            c = calloc(1, sizeof *c);
            uint8_t *buffer = malloc(64 * 1024);
            if (!c || !buffer) {
                free(c);
                free(buffer);
                close(fd);
                *f = no_memory();
                pthread_mutex_unlock(&s->lock);
                return NULL;
            }
            c->fd = fd;
            atomic_init(&c->references, 1);
            atomic_init(&c->dead, false);
            c->maximum_answer_frame = m->options.maximum_answer_frame;
            c->buffer = buffer;
            c->capacity = 64 * 1024;
            c->next_stream = 1;
            pthread_mutex_init(&c->lock, NULL);
            pthread_mutex_init(&c->write_lock, NULL);
            s->connection = c;
            s->has_error = false;
            s->backoff_ms = 0;
        } else {
            s->last_error = make_failure(MOAT_ERROR_UNREACHABLE, MOAT_STATUS_UNAVAILABLE, "cannot connect to '%s': %s",
                                         m->socket_path, strerror(errno));
            s->has_error = true;
            unsigned doubled = s->backoff_ms == 0 ? m->options.initial_backoff_ms : s->backoff_ms * 2;
            s->backoff_ms = doubled < m->options.maximum_backoff_ms ? doubled : m->options.maximum_backoff_ms;
            int64_t jittered = (int64_t)s->backoff_ms * (500 + rand_r(&s->seed) % 1001) * 1000; /* 0.5-1.5x, ns */
            s->next_attempt = now_ns() + jittered;
            *f = s->last_error;
            pthread_mutex_unlock(&s->lock);
            return NULL;
        }
    }
    atomic_fetch_add(&c->references, 1);
    pthread_mutex_unlock(&s->lock);
    return c;
}

/* Writes all of frame before the deadline. A frame cut off part-way by the deadline leaves the
 * stream unusable, so the connection is then killed (the calls on it fail as "connection closed"). */
static void write_frame(connection *c, const uint8_t *frame, size_t length, int64_t deadline) {
    /* pthread_mutex_timedlock takes CLOCK_REALTIME (ThreadSanitizer does not know
     * pthread_mutex_clocklock); the deadline itself stays monotonic. */
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    int64_t left = deadline - now_ns();
    struct timespec until = to_timespec((int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec + (left > 0 ? left : 0));
    if (pthread_mutex_timedlock(&c->write_lock, &until) != 0) return; /* the wait reports the deadline */
    size_t sent = 0;
    while (sent < length) {
        ssize_t n = send(c->fd, frame + sent, length - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            if (wait_writable(c, deadline)) continue;
            if (sent > 0) connection_kill(c, make_failure(MOAT_ERROR_CONNECTION_CLOSED, MOAT_STATUS_UNAVAILABLE,
                                                          "a request was cut off by its deadline"));
            break;
        }
        /* The daemon closed the connection. The call reading it reads what it sent first (a refusal on
         * stream 0 names the reason: docs/protocol.md), then fails every call on it. */
        shutdown(c->fd, SHUT_WR);
        break;
    }
    pthread_mutex_unlock(&c->write_lock);
}

/* Sends one request frame (frame has header_size bytes of room before the payload). Returns the
 * connection the answer will come on (with a reference), or NULL with p failed. */
static connection *submit(moat_client *m, uint8_t method, uint8_t *frame, size_t payload_length, int64_t deadline,
                          pending *p) {
    *p = (pending){0};
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &attributes);
    pthread_condattr_destroy(&attributes);
    connection *c = acquire(m, p);
    if (!c) {
        p->failed = p->done = true;
        return NULL;
    }
    pthread_mutex_lock(&c->lock);
    if (atomic_load(&c->dead)) {
        p->failed = p->done = true;
        p->failure = c->failure;
        pthread_mutex_unlock(&c->lock);
        connection_release(c);
        return NULL;
    }
    p->stream = c->next_stream;
    c->next_stream = c->next_stream == UINT32_MAX ? 1 : c->next_stream + 1;
    p->next = c->waiting;
    if (c->waiting) c->waiting->prev = p;
    c->waiting = p;
    pthread_mutex_unlock(&c->lock);

    write_be32(frame, (uint32_t)(minimum_frame_length + payload_length));
    write_be32(frame + 4, p->stream);
    frame[8] = method;
    frame[9] = 0;
    frame[10] = frame[11] = 0;
    write_frame(c, frame, header_size + payload_length, deadline);
    return c;
}

/* The call gives up: its answer, if it comes, is dropped. Connection lock held. */
static void give_up(connection *c, pending *p) {
    unlink_pending(c, p);
    p->failed = p->done = true;
    p->failure = deadline_failure();
}

/* Waits for p's answer until the deadline; afterwards p->failed or p->payload is set.
 *
 * No thread is dedicated to reading (leader/follower): when nobody reads the connection, this call
 * does, for every call on it, until its own answer comes or its deadline passes; then it wakes
 * another waiting call to take over. A lone caller so reads its own answer without a thread hop. */
static void await_answer(connection *c, pending *p, int64_t deadline) {
    if (c) {
        struct timespec until = to_timespec(deadline);
        pthread_mutex_lock(&c->lock);
        while (!p->done) {
            if (!c->reading) {
                c->reading = true;
                pthread_mutex_unlock(&c->lock);
                failure f;
                bool alive = read_answers(c, p, deadline, &f);
                if (!alive) connection_kill(c, f);
                pthread_mutex_lock(&c->lock);
                if (!p->done) give_up(c, p);
                end_reading(c);
            } else if (pthread_cond_timedwait(&p->cond, &c->lock, &until) == ETIMEDOUT && !p->done) {
                give_up(c, p);
            }
        }
        pthread_mutex_unlock(&c->lock);
        connection_release(c);
    }
    pthread_cond_destroy(&p->cond);
    if (p->slot) atomic_fetch_sub(&p->slot->calls, 1);
    if (!p->failed && p->status != 0) {
        p->failed = true;
        p->failure = status_failure(p->status, p->payload, p->length);
    }
}

/* ---- results ---- */

static void result_failure(moat_result *r, failure f, moat_failure_policy policy) {
    *r = (moat_result){0};
    r->outcome = MOAT_UNDECIDED;
    r->error = f.code;
    r->status = f.status;
    r->fault = fault_of(f.code, f.status);
    r->failed_open = policy == MOAT_FAIL_OPEN && r->fault == MOAT_FAULT_AVAILABILITY;
    r->allowed = r->failed_open;
    r->storage_ = strdup(f.message);
    r->error_message = r->storage_ ? r->storage_ : "out of memory in the client";
    r->admitted_by.index = r->granted_by.index = -1;
}

static const char *present(const char *s) { return s && s[0] ? s : NULL; }

/* Copies the present strings of a decision into one allocation. */
typedef struct {
    char *next;
    size_t needed;
} arena;

static void measure(arena *a, const char *s) {
    if (present(s)) a->needed += strlen(s) + 1;
}

static const char *copy(arena *a, const char *s) {
    if (!present(s)) return NULL;
    size_t length = strlen(s) + 1;
    char *out = a->next;
    memcpy(out, s, length);
    a->next += length;
    return out;
}

/* Admission.index is meaningful only for IP and virtual network rules (docs/protocol.md, "Messages"). */
static bool has_index(Moat__V1__AdmissionKind kind) {
    return kind == MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_IP_RULE ||
           kind == MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_VIRTUAL_NETWORK_RULE;
}

static bool known_code(int v) { return v >= MOAT_CODE_OK && v <= MOAT_CODE_FORBIDDEN; }
static const unsigned http_of_code[] = {0, 200, 400, 404, 401, 403};

/* Why a CheckResponse is not a decision, NULL when it is. Refused as
 * Sources/MoatWire/Messages/Decision+Wire.swift refuses: no decision, an unknown enum value, an
 * http_status other than the code's, an allow whose code is not OK or a deny whose code is. */
static const char *decision_problem(const Moat__V1__CheckResponse *m) {
    const char *problem = NULL;
    const Moat__V1__Admission *ad = m->admitted_by;
    const Moat__V1__Grant *gr = m->granted_by;
    if (m->decision != MOAT__V1__DECISION__DECISION_ALLOW && m->decision != MOAT__V1__DECISION__DECISION_DENY)
        problem = "could not decide: the answer's decision is not ALLOW or DENY";
    else if (!known_code(m->code)) problem = "the answer's code is not a ResultCode Moat knows";
    else if (m->http_status != http_of_code[m->code]) problem = "the answer's http_status is not its code's";
    else if ((m->decision == MOAT__V1__DECISION__DECISION_ALLOW) != (m->code == MOAT__V1__RESULT_CODE__RESULT_CODE_OK))
        problem = "the answer's code contradicts its decision";
    else if ((unsigned)m->inner_code > MOAT_INNER_FORBIDDEN_BY_RBAC) problem = "the answer's inner_code is unknown";
    else if ((int)m->stage < (int)MOAT_STAGE_REQUEST || (int)m->stage > (int)MOAT_STAGE_ALLOW) problem = "the answer's stage is unknown";
    else if (ad && ad->kind != MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_UNSPECIFIED &&
             ((unsigned)ad->kind > MOAT_ADMISSION_NOT_APPLICABLE || (unsigned)ad->mode > MOAT_MODE_FEDERATED ||
              (has_index(ad->kind) && ad->index < 0)))
        problem = "the answer's admitted_by is not one Moat knows";
    else if (gr && gr->kind != MOAT__V1__GRANT_KIND__GRANT_KIND_UNSPECIFIED &&
             ((unsigned)gr->kind > MOAT_GRANT_ROLE_ASSIGNMENT || gr->index < 0))
        problem = "the answer's granted_by is not one Moat knows";
    return problem;
}

/* The result of a CheckResponse: its decision, or a protocol violation (could not decide). */
static void result_decision(moat_result *r, const Moat__V1__CheckResponse *m, moat_failure_policy policy) {
    const char *problem = decision_problem(m);
    if (problem) {
        result_failure(r, make_failure(MOAT_ERROR_PROTOCOL_VIOLATION, MOAT_STATUS_INTERNAL, "unreadable answer: %s", problem), policy);
        return;
    }
    const Moat__V1__Admission *ad = m->admitted_by;
    const Moat__V1__Grant *gr = m->granted_by;
    const Moat__V1__Caller *caller = m->caller;
    const char *hash = m->revision ? m->revision->hash : NULL;
    arena a = {0};
    const char *strings[] = {
        m->message, m->required, m->www_authenticate, hash,
        ad ? ad->rule : NULL, ad ? ad->service : NULL,
        gr ? gr->object_id : NULL, gr ? gr->application_id : NULL, gr ? gr->id : NULL, gr ? gr->role : NULL,
        gr ? gr->role_definition_id : NULL,
        caller ? caller->object_id : NULL, caller ? caller->application_id : NULL,
        caller ? caller->tenant_id : NULL, caller ? caller->issuer : NULL,
    };
    for (size_t i = 0; i < sizeof strings / sizeof *strings; i++) measure(&a, strings[i]);
    char *storage = malloc(a.needed ? a.needed : 1);
    if (!storage) {
        result_failure(r, no_memory(), policy);
        return;
    }
    a.next = storage;
    *r = (moat_result){0};
    r->storage_ = storage;
    r->outcome = m->decision == MOAT__V1__DECISION__DECISION_ALLOW ? MOAT_ALLOWED : MOAT_DENIED;
    r->allowed = r->outcome == MOAT_ALLOWED;
    r->http_status = m->http_status;
    r->code = (moat_code)m->code;
    r->inner_code = (moat_inner_code)m->inner_code;
    r->stage = (moat_stage)m->stage;
    r->message = present(m->message) ? copy(&a, m->message) : "";
    r->required = copy(&a, m->required);
    r->www_authenticate = copy(&a, m->www_authenticate);
    r->revision.sequence = m->revision ? m->revision->sequence : 0;
    r->revision.hash = present(hash) ? copy(&a, hash) : "";
    r->admitted_by.index = -1;
    if (ad && ad->kind != MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_UNSPECIFIED) {
        r->admitted_by.kind = (moat_admission_kind)ad->kind;
        if (has_index(ad->kind)) r->admitted_by.index = ad->index;
        r->admitted_by.rule = copy(&a, ad->rule);
        r->admitted_by.service = copy(&a, ad->service);
        r->admitted_by.mode = (moat_trusted_service_mode)ad->mode;
    }
    r->granted_by.index = -1;
    if (gr && gr->kind != MOAT__V1__GRANT_KIND__GRANT_KIND_UNSPECIFIED) {
        r->granted_by.kind = (moat_grant_kind)gr->kind;
        r->granted_by.index = gr->index;
        r->granted_by.object_id = copy(&a, gr->object_id);
        r->granted_by.application_id = copy(&a, gr->application_id);
        r->granted_by.id = copy(&a, gr->id);
        r->granted_by.role = copy(&a, gr->role);
        r->granted_by.role_definition_id = copy(&a, gr->role_definition_id);
    }
    if (caller) {
        r->caller.present = true;
        r->caller.object_id = copy(&a, caller->object_id);
        r->caller.application_id = copy(&a, caller->application_id);
        r->caller.tenant_id = copy(&a, caller->tenant_id);
        r->caller.issuer = copy(&a, caller->issuer);
    }
}

void moat_result_free(moat_result *r) {
    if (!r) return;
    free(r->storage_);
    r->storage_ = NULL;
    r->message = r->required = r->www_authenticate = r->error_message = r->revision.hash = NULL;
    r->admitted_by.rule = r->admitted_by.service = NULL;
    r->granted_by.object_id = r->granted_by.application_id = r->granted_by.id = NULL;
    r->granted_by.role = r->granted_by.role_definition_id = NULL;
    r->caller.object_id = r->caller.application_id = r->caller.tenant_id = r->caller.issuer = NULL;
}

/* Memory for decoding one answer: protobuf-c's allocations are carved from a buffer on the
 * caller's stack, and go to malloc only when it is used up. */
typedef struct {
    uint8_t bytes[8192];
    size_t used;
} scratch;

static void *scratch_alloc(void *data, size_t size) {
    scratch *s = data;
    size_t aligned = (size + 15) & ~(size_t)15;
    if (aligned >= size && aligned <= sizeof s->bytes - s->used) {
        void *p = s->bytes + s->used;
        s->used += aligned;
        return p;
    }
    return malloc(size);
}

static void scratch_free(void *data, void *pointer) {
    scratch *s = data;
    if ((uint8_t *)pointer < s->bytes || (uint8_t *)pointer >= s->bytes + sizeof s->bytes) free(pointer);
}

static ProtobufCAllocator scratch_allocator(scratch *s) {
    s->used = 0;
    return (ProtobufCAllocator){.alloc = scratch_alloc, .free = scratch_free, .allocator_data = s};
}

/* ---- requests ---- */

static char *text(const char *s) { return (char *)(s ? s : ""); }

/* The wire message of a request (its strings point into the caller's request). */
static void request_message(const moat_request *q, uint64_t default_timeout_micros, Moat__V1__CheckRequest *out,
                            Moat__V1__AssertedIdentity *identity) {
    *out = (Moat__V1__CheckRequest)MOAT__V1__CHECK_REQUEST__INIT;
    out->vault = text(q->vault);
    out->operation = (Moat__V1__Operation)q->operation;
    out->object_name = text(q->object_name);
    out->source_address = text(q->source_address);
    out->subnet_id = text(q->subnet_id);
    out->private_endpoint_id = text(q->private_endpoint_id);
    out->token = text(q->token);
    out->request_id = text(q->request_id);
    out->timeout_micros = q->timeout_micros ? q->timeout_micros : default_timeout_micros;
    if (q->asserted_identity) {
        const moat_asserted_identity *a = q->asserted_identity;
        *identity = (Moat__V1__AssertedIdentity)MOAT__V1__ASSERTED_IDENTITY__INIT;
        identity->oid = text(a->oid);
        identity->appid = text(a->appid);
        identity->tid = text(a->tid);
        identity->n_groups = a->group_count;
        identity->groups = (char **)a->groups;
        identity->xms_mirid = text(a->xms_mirid);
        out->asserted_identity = identity;
    }
}

static failure oversized(size_t n, size_t limit) {
    return make_failure(MOAT_ERROR_REQUEST_REFUSED, MOAT_STATUS_RESOURCE_EXHAUSTED,
                        "the request's frame of %zu bytes is over the daemon's limit of %zu bytes "
                        "(moat_options.maximum_request_frame); not sent",
                        n, limit);
}

static unsigned effective_deadline_ms(const moat_client *m, unsigned deadline_ms) {
    return deadline_ms ? deadline_ms : m->options.deadline_ms;
}

void moat_check(moat_client *m, const moat_request *request, unsigned deadline_ms, moat_result *result) {
    moat_failure_policy policy = m->options.failure_policy;
    unsigned ms = effective_deadline_ms(m, deadline_ms);
    int64_t deadline = now_ns() + (int64_t)ms * 1000000;
    Moat__V1__CheckRequest message;
    Moat__V1__AssertedIdentity identity;
    request_message(request, (uint64_t)ms * 1000, &message, &identity);
    size_t size = moat__v1__check_request__get_packed_size(&message);
    if (minimum_frame_length + size > m->options.maximum_request_frame) {
        result_failure(result, oversized(minimum_frame_length + size, m->options.maximum_request_frame), policy);
        return;
    }
    /* A usual request fits on the stack; a large one (a long token) is allocated. */
    uint8_t small[4096];
    uint8_t *frame = header_size + size <= sizeof small ? small : malloc(header_size + size);
    if (!frame) {
        result_failure(result, no_memory(), policy);
        return;
    }
    moat__v1__check_request__pack(&message, frame + header_size);
    pending p;
    connection *c = submit(m, method_check, frame, size, deadline, &p);
    await_answer(c, &p, deadline);
    if (frame != small) free(frame);
    if (p.failed) {
        result_failure(result, p.failure, policy);
    } else {
        scratch arena_memory;
        ProtobufCAllocator allocator = scratch_allocator(&arena_memory);
        Moat__V1__CheckResponse *answer = moat__v1__check_response__unpack(&allocator, p.length, p.payload);
        if (answer) {
            result_decision(result, answer, policy);
            moat__v1__check_response__free_unpacked(answer, &allocator);
        } else {
            result_failure(result, make_failure(MOAT_ERROR_PROTOCOL_VIOLATION, MOAT_STATUS_INTERNAL,
                                                "unreadable answer: the CheckResponse does not decode"), policy);
        }
    }
    free(p.payload);
}

static size_t varint_length(size_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* One frame of a batch: requests [first, first + count) of those not refused (order[]). */
typedef struct {
    size_t first;
    size_t count;
    uint8_t *frame;
    pending pending;
    connection *connection;
} chunk;

void moat_check_batch(moat_client *m, const moat_request *requests, size_t count, unsigned deadline_ms,
                      moat_result *results) {
    moat_failure_policy policy = m->options.failure_policy;
    unsigned ms = effective_deadline_ms(m, deadline_ms);
    int64_t deadline = now_ns() + (int64_t)ms * 1000000;
    if (count == 0) return;
    Moat__V1__CheckRequest *messages = calloc(count, sizeof *messages);
    Moat__V1__AssertedIdentity *identities = calloc(count, sizeof *identities);
    Moat__V1__CheckRequest **pointers = calloc(count, sizeof *pointers);
    size_t *order = calloc(count, sizeof *order); /* indices of the requests sent */
    chunk *chunks = calloc(count, sizeof *chunks);
    if (!messages || !identities || !pointers || !order || !chunks) {
        for (size_t i = 0; i < count; i++) result_failure(&results[i], no_memory(), policy);
        goto out;
    }
    /* Plan as MoatClient.checkBatch does: every frame within the daemon's limit and 1024 requests;
     * a request too large for a frame of its own is refused alone. */
    size_t budget = m->options.maximum_request_frame - minimum_frame_length;
    size_t sent = 0, chunk_count = 0, size = 0;
    for (size_t i = 0; i < count; i++) {
        request_message(&requests[i], (uint64_t)ms * 1000, &messages[i], &identities[i]);
        size_t length = moat__v1__check_request__get_packed_size(&messages[i]);
        size_t cost = 1 + varint_length(length) + length;
        if (minimum_frame_length + cost > m->options.maximum_request_frame) {
            result_failure(&results[i], oversized(minimum_frame_length + cost, m->options.maximum_request_frame), policy);
            continue;
        }
        if (chunk_count == 0 || size + cost > budget || chunks[chunk_count - 1].count == maximum_batch_count) {
            chunks[chunk_count++] = (chunk){.first = sent};
            size = 0;
        }
        order[sent] = i;
        pointers[sent++] = &messages[i];
        chunks[chunk_count - 1].count++;
        size += cost;
    }
    for (size_t k = 0; k < chunk_count; k++) {
        chunk *ch = &chunks[k];
        Moat__V1__CheckBatchRequest batch = MOAT__V1__CHECK_BATCH_REQUEST__INIT;
        batch.n_requests = ch->count;
        batch.requests = &pointers[ch->first];
        size_t length = moat__v1__check_batch_request__get_packed_size(&batch);
        ch->frame = malloc(header_size + length);
        if (!ch->frame) {
            ch->pending = (pending){.failed = true, .done = true, .failure = no_memory()};
            continue;
        }
        moat__v1__check_batch_request__pack(&batch, ch->frame + header_size);
        ch->connection = submit(m, method_check_batch, ch->frame, length, deadline, &ch->pending);
    }
    for (size_t k = 0; k < chunk_count; k++) {
        chunk *ch = &chunks[k];
        if (ch->frame) await_answer(ch->connection, &ch->pending, deadline);
        failure f;
        bool failed = ch->pending.failed;
        Moat__V1__CheckBatchResponse *answer = NULL;
        if (failed) {
            f = ch->pending.failure;
        } else {
            answer = moat__v1__check_batch_response__unpack(NULL, ch->pending.length, ch->pending.payload);
            if (!answer) {
                failed = true;
                f = make_failure(MOAT_ERROR_PROTOCOL_VIOLATION, MOAT_STATUS_INTERNAL,
                                 "unreadable answer: the CheckBatchResponse does not decode");
            } else if (answer->n_responses != ch->count) {
                failed = true;
                f = make_failure(MOAT_ERROR_PROTOCOL_VIOLATION, MOAT_STATUS_INTERNAL,
                                 "the daemon answered %zu of %zu requests", answer->n_responses, ch->count);
            }
            /* An item that is neither a decision nor an error fails the whole answer, as in
             * Sources/MoatWire/Messages/CheckBatchResponse.swift: nothing in it can be trusted. */
            for (size_t j = 0; !failed && j < ch->count; j++) {
                const Moat__V1__CheckResponse *item = answer->responses[j];
                const char *problem = !item->error ? decision_problem(item)
                                      : item->decision != MOAT__V1__DECISION__DECISION_UNSPECIFIED
                                          ? "an item holds both a decision and an error"
                                      : item->error->code == 0 ? "an item's error is OK" : NULL;
                if (problem) {
                    failed = true;
                    f = make_failure(MOAT_ERROR_PROTOCOL_VIOLATION, MOAT_STATUS_INTERNAL, "unreadable answer: responses[%zu]: %s", j, problem);
                }
            }
        }
        for (size_t j = 0; j < ch->count; j++) {
            moat_result *r = &results[order[ch->first + j]];
            if (failed) {
                result_failure(r, f, policy);
                continue;
            }
            const Moat__V1__CheckResponse *item = answer->responses[j];
            if (item->error) {
                /* The item's own status (docs/protocol.md, "CheckBatch: one outcome per request"). */
                const char *message = present(item->error->message);
                result_failure(r, message ? make_failure(MOAT_ERROR_STATUS, item->error->code, "%s", message)
                                          : make_failure(MOAT_ERROR_STATUS, item->error->code,
                                                         "the daemon answered status %u", item->error->code),
                               policy);
            } else {
                result_decision(r, item, policy);
            }
        }
        if (answer) moat__v1__check_batch_response__free_unpacked(answer, NULL);
        free(ch->pending.payload);
        free(ch->frame);
    }
out:
    free(messages);
    free(identities);
    free(pointers);
    free(order);
    free(chunks);
}

int moat_ping(moat_client *m, unsigned deadline_ms, moat_pong *pong) {
    int64_t deadline = now_ns() + (int64_t)effective_deadline_ms(m, deadline_ms) * 1000000;
    uint8_t frame[header_size];
    pending p;
    connection *c = submit(m, method_ping, frame, 0, deadline, &p);
    await_answer(c, &p, deadline);
    *pong = (moat_pong){0};
    Moat__V1__Pong *answer = p.failed ? NULL : moat__v1__pong__unpack(NULL, p.length, p.payload);
    if (!p.failed && !answer)
        p.failure = make_failure(MOAT_ERROR_PROTOCOL_VIOLATION, MOAT_STATUS_INTERNAL, "unreadable answer: the Pong does not decode");
    free(p.payload);
    if (!answer) {
        pong->error = p.failure.code;
        pong->status = p.failure.status;
        snprintf(pong->error_message, sizeof pong->error_message, "%s", p.failure.message);
        return -1;
    }
    pong->ready = answer->ready;
    if (answer->revision) {
        pong->sequence = answer->revision->sequence;
        snprintf(pong->hash, sizeof pong->hash, "%s", text(answer->revision->hash));
    }
    moat__v1__pong__free_unpacked(answer, NULL);
    return 0;
}

/* ---- names ---- */

int32_t moat_operation_from_name(const char *name) {
    if (!name) return 0;
    const ProtobufCEnumDescriptor *d = &moat__v1__operation__descriptor;
    static const char prefix[] = "OPERATION_";
    for (unsigned i = 0; i < d->n_values; i++) {
        /* OPERATION_GET_SECRET matches "GetSecret" in any letter case. */
        const char *v = d->values[i].name + sizeof prefix - 1;
        const char *n = name;
        while (*v && *n) {
            if (*v == '_') {
                v++;
                continue;
            }
            if ((*v | 0x20) != (*n | 0x20)) break;
            v++;
            n++;
        }
        if (*v == 0 && *n == 0 && d->values[i].value != 0) return d->values[i].value;
    }
    return 0;
}

const char *moat_code_name(moat_code code) {
    static const char *const names[] = {NULL, "OK", "BadParameter", "VaultNotFound", "Unauthorized", "Forbidden"};
    return (unsigned)code < sizeof names / sizeof *names ? names[code] : NULL;
}

const char *moat_inner_code_name(moat_inner_code code) {
    static const char *const names[] = {
        NULL, "MissingToken", "InvalidToken", "TokenExpired", "InvalidAudience", "InvalidIssuer",
        "ForbiddenByConnection", "ForbiddenByFirewall", "ForbiddenByPerimeter", "AccessDenied",
        "ForbiddenByPolicy", "ForbiddenByRbac",
    };
    return (unsigned)code < sizeof names / sizeof *names ? names[code] : NULL;
}

const char *moat_stage_name(moat_stage stage) {
    static const char *const names[] = {NULL, "Request", "Vault", "Authentication", "Network", "Authorization", "Allow"};
    return (unsigned)stage < sizeof names / sizeof *names ? names[stage] : NULL;
}

const char *moat_admission_kind_name(moat_admission_kind kind) {
    static const char *const names[] = {
        NULL, "PrivateEndpoint", "DefaultAllow", "IpRule", "VirtualNetworkRule", "TrustedService", "Perimeter",
        "NotApplicable",
    };
    return (unsigned)kind < sizeof names / sizeof *names ? names[kind] : NULL;
}

const char *moat_trusted_service_mode_name(moat_trusted_service_mode mode) {
    static const char *const names[] = {NULL, "managedIdentity", "subscription", "federated"};
    return (unsigned)mode < sizeof names / sizeof *names ? names[mode] : NULL;
}

const char *moat_grant_kind_name(moat_grant_kind kind) {
    static const char *const names[] = {NULL, "AccessPolicy", "RoleAssignment"};
    return (unsigned)kind < sizeof names / sizeof *names ? names[kind] : NULL;
}

const char *moat_error_name(moat_error_code error) {
    static const char *const names[] = {
        NULL, "unreachable", "deadline exceeded", "connection closed", "status", "protocol violation",
        "request refused", "no memory",
    };
    return (unsigned)error < sizeof names / sizeof *names ? names[error] : NULL;
}
