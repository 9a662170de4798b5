/* Shared pieces of the socket baseline (Benchmarks/Baseline/README.md): Moat's frames
 * (docs/protocol.md, "Frames"), blocking I/O helpers, the benchmark's request and the fixed
 * real-shaped answer both reference servers send. */
#ifndef MOAT_BASELINE_H
#define MOAT_BASELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    frame_header = 12,           /* length, stream id, method, flags, status */
    max_frame_length = 64 * 1024, /* N's limit on the data socket (moatd's default) */
    method_check = 1,
    status_invalid_argument = 3,
    status_unimplemented = 12,
};

/* Exits with `what` and errno's text (perror), or with `message` alone. */
_Noreturn void baseline_die(const char *what);
_Noreturn void baseline_fail(const char *message);
int64_t baseline_now_ns(void);
void baseline_put32(uint8_t *p, uint32_t value);
uint32_t baseline_get32(const uint8_t *p);
/* Blocking, retrying on EINTR and short transfers; false on end of stream or error. */
bool baseline_read_all(int fd, uint8_t *p, size_t n);
bool baseline_write_all(int fd, const uint8_t *p, size_t n);
int baseline_connect(const char *path);
int baseline_listen(const char *path);

/* Round trips one thread measured, in ns. */
typedef struct {
    uint32_t *values;
    size_t count, capacity;
} baseline_samples;
void baseline_record(baseline_samples *samples, int64_t ns);
/* Prints "checks C checks/s R p50_us A p99_us B" (no newline) for the round trips of `count`
 * threads over `seconds`, and frees them. Shared by every client row of scripts/bench-socket and
 * scripts/bench-clients, which read these fields. */
void baseline_print_round_trips(baseline_samples *each, size_t count, double seconds);

/* A Check frame (stream id 0: the caller sets it at offset 4) for one GetSecret of `vault` from
 * `source` with `token` and a deadline of `timeout_micros`, encoded once with protobuf-c; malloc'd, its length in *length. */
uint8_t *baseline_check_frame(const char *vault, const char *source, const char *token, uint64_t timeout_micros,
                              size_t *length);

/* Packs the fixed allowed decision both servers answer with: the fields moatd fills for the
 * benchmark's request on deploy/examples/rules.json (admitted by an IP rule, granted by an access
 * policy, a revision, the caller). Returns the payload's length; `out` holds at least
 * baseline_answer_capacity bytes. */
enum { baseline_answer_capacity = 1024 };
size_t baseline_pack_answer(uint8_t *out);

#endif
