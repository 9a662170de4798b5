/* The raw-frame load client of the socket baseline (Benchmarks/Baseline/README.md): the same
 * client for moatd and the reference servers, so that a comparison measures the servers.
 *
 *   baseline-load SOCKET --token JWT [options]
 *     --vault NAME --source IP   the request: one GetSecret (default contoso-prod, 203.0.113.9),
 *                                encoded once with protobuf-c and sent as is, stream ids apart
 *     --connections N            N connections, a thread each (default 1)
 *     --depth K                  K requests in flight per connection (default 1: sequential)
 *     --seconds S                measure for S seconds after a 0.3 s warm-up (default 3)
 *     --checks C                 instead: C checks per connection after --warmup W checks (default
 *                                2000) each; --after-warmup CMD and --after CMD run a shell
 *                                command at those points (callgrind_control -z / -d)
 *     --cpu CPU                  pin the client to one CPU
 *     --timeout-micros T         the request's deadline (default 200000, MoatClient's and libmoat's)
 *
 * Prints one line: connections, depth, checks, checks/s, p50 and p99 of the round trip (from
 * writing a request to reading its answer) in µs. The first answer on each connection is decoded
 * and must be an allowed decision; every answer must carry status 0 and a stream id in flight. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "baseline.h"
#include "moat/v1/authz.pb-c.h"

enum { slots = 4096, read_capacity = 64 * 1024 };

static const char *socket_path;
static const uint8_t *request_frame;
static size_t request_length;
static int depth = 1;
static long warmup_checks = 2000, checks_per_connection;
static const char *after_warmup, *after;
static int64_t measure_from, measure_until;
static pthread_barrier_t barrier;

static void check_first_answer(const uint8_t *payload, size_t length) {
    Moat__V1__CheckResponse *response = moat__v1__check_response__unpack(NULL, length, payload);
    if (!response || response->decision != MOAT__V1__DECISION__DECISION_ALLOW)
        baseline_fail("baseline-load: the server did not allow the benchmark's request (check its rules and token)");
    moat__v1__check_response__free_unpacked(response, NULL);
}

static void run_command(const char *command) {
    if (command && system(command) != 0) {
        fprintf(stderr, "baseline-load: '%s' failed\n", command);
        exit(1);
    }
}

/* One connection: keeps `depth` requests in flight; answers complete in any order. */
static void *connection_thread(void *argument) {
    baseline_samples *w = argument;
    int fd = baseline_connect(socket_path);
    uint8_t *burst = malloc(request_length * (size_t)depth), *in = malloc(read_capacity);
    struct {
        uint32_t stream;
        int64_t sent;
    } *flight = calloc(slots, sizeof *flight);
    if (!burst || !in || !flight) baseline_die("malloc");
    uint32_t next_stream = 1;
    bool first = true;
    long in_flight = 0;
    bool counting = checks_per_connection > 0; /* --checks: the warm-up is counted in answers */
    pthread_barrier_wait(&barrier);
    for (int phase = counting ? 0 : 1; phase < 2; phase++) {
        long target = counting ? (phase == 0 ? warmup_checks : checks_per_connection) : 0;
        long sent = 0;
        size_t have = 0;
        for (;;) {
            /* Top up the requests in flight. */
            int64_t now = baseline_now_ns();
            bool sending = counting ? sent < target : now < measure_until;
            size_t burst_length = 0;
            while (sending && in_flight < depth && (!counting || sent < target)) {
                memcpy(burst + burst_length, request_frame, request_length);
                baseline_put32(burst + burst_length + 4, next_stream);
                flight[next_stream % slots].stream = next_stream;
                flight[next_stream % slots].sent = now;
                next_stream = next_stream % 0x7fffffff + 1;
                burst_length += request_length, in_flight++, sent++;
            }
            if (burst_length && !baseline_write_all(fd, burst, burst_length)) baseline_die("write");
            if (in_flight == 0) break;
            ssize_t got = read(fd, in + have, read_capacity - have);
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) baseline_die("read");
            if (got == 0) baseline_fail("baseline-load: the server closed the connection");
            have += (size_t)got;
            now = baseline_now_ns();
            size_t at = 0;
            while (have - at >= 4) {
                uint32_t n = baseline_get32(in + at);
                if (n < 8 || n > read_capacity - 4) baseline_fail("baseline-load: an answer frame of a bad length");
                if (have - at < 4 + (size_t)n) break;
                uint32_t stream = baseline_get32(in + at + 4);
                if (flight[stream % slots].stream != stream) baseline_fail("baseline-load: an answer for no request in flight");
                if (in[at + 9] != 1 || in[at + 10] || in[at + 11]) {
                    fprintf(stderr, "baseline-load: an answer with flags %u and status %u\n", in[at + 9],
                            (unsigned)in[at + 10] << 8 | in[at + 11]);
                    exit(1);
                }
                if (first) check_first_answer(in + at + frame_header, n - 8), first = false;
                flight[stream % slots].stream = 0;
                in_flight--;
                if (counting ? phase == 1 : now >= measure_from && now < measure_until)
                    baseline_record(w, now - flight[stream % slots].sent);
                at += 4 + (size_t)n;
            }
            memmove(in, in + at, have - at);
            have -= at;
        }
        if (counting) { /* every connection done with the phase; main runs its command */
            pthread_barrier_wait(&barrier);
            pthread_barrier_wait(&barrier);
        }
    }
    close(fd);
    free(burst);
    free(in);
    free(flight);
    return NULL;
}

int main(int argc, char **argv) {
    static const struct option options[] = {
        {"token", required_argument, NULL, 't'},       {"vault", required_argument, NULL, 'v'},
        {"source", required_argument, NULL, 's'},      {"connections", required_argument, NULL, 'n'},
        {"depth", required_argument, NULL, 'k'},       {"seconds", required_argument, NULL, 'S'},
        {"checks", required_argument, NULL, 'c'},      {"warmup", required_argument, NULL, 'w'},
        {"after-warmup", required_argument, NULL, 'z'}, {"after", required_argument, NULL, 'd'},
        {"cpu", required_argument, NULL, 'p'},         {"timeout-micros", required_argument, NULL, 'T'},
        {NULL, 0, NULL, 0},
    };
    const char *token = NULL, *vault = "contoso-prod", *source = "203.0.113.9";
    int connections = 1, cpu = -1;
    double seconds = 3;
    uint64_t timeout_micros = 200000;
    for (int option; (option = getopt_long(argc, argv, "", options, NULL)) != -1;) {
        switch (option) {
        case 't': token = optarg; break;
        case 'v': vault = optarg; break;
        case 's': source = optarg; break;
        case 'n': connections = atoi(optarg); break;
        case 'k': depth = atoi(optarg); break;
        case 'S': seconds = atof(optarg); break;
        case 'c': checks_per_connection = atol(optarg); break;
        case 'w': warmup_checks = atol(optarg); break;
        case 'z': after_warmup = optarg; break;
        case 'd': after = optarg; break;
        case 'p': cpu = atoi(optarg); break;
        case 'T': timeout_micros = strtoull(optarg, NULL, 10); break;
        default: return 2;
        }
    }
    if (optind != argc - 1 || !token || connections < 1 || connections > 1024 || depth < 1 || depth > slots / 2 ||
        seconds <= 0 || checks_per_connection < 0 || warmup_checks < 0) {
        fprintf(stderr, "usage: baseline-load SOCKET --token JWT [--vault NAME] [--source IP] [--connections 1..1024]\n"
                        "         [--depth 1..2048] [--seconds S | --checks C [--warmup W] [--after-warmup CMD] [--after CMD]]\n"
                        "         [--cpu CPU] [--timeout-micros T]\n");
        return 2;
    }
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set)) baseline_die("sched_setaffinity");
    }
    socket_path = argv[optind];
    request_frame = baseline_check_frame(vault, source, token, timeout_micros, &request_length);
    baseline_samples *workers = calloc((size_t)connections, sizeof *workers);
    pthread_t *threads = calloc((size_t)connections, sizeof *threads);
    if (!workers || !threads || pthread_barrier_init(&barrier, NULL, (unsigned)connections + 1)) baseline_fail("baseline-load: cannot start");
    for (int i = 0; i < connections; i++) {
        if (pthread_create(&threads[i], NULL, connection_thread, &workers[i])) baseline_fail("baseline-load: cannot start a thread");
    }
    measure_from = baseline_now_ns() + 300000000; /* connections made, caches warm */
    measure_until = measure_from + (int64_t)(seconds * 1e9);
    pthread_barrier_wait(&barrier);
    int64_t started = 0, ended = 0; /* of the measured checks, with --checks */
    if (checks_per_connection) {
        pthread_barrier_wait(&barrier);
        run_command(after_warmup);
        started = baseline_now_ns();
        pthread_barrier_wait(&barrier);
        pthread_barrier_wait(&barrier);
        ended = baseline_now_ns();
        run_command(after);
        pthread_barrier_wait(&barrier);
    }
    for (int i = 0; i < connections; i++) pthread_join(threads[i], NULL);
    double elapsed = checks_per_connection ? (ended - started) / 1e9 : seconds;
    printf("connections %d depth %d ", connections, depth);
    baseline_print_round_trips(workers, (size_t)connections, elapsed);
    printf("\n");
    free(workers);
    free(threads);
    free((void *)request_frame);
    return 0;
}
