/* libmoat's row of scripts/bench-clients (a benchmark, not a test; docs/performance.md, "The
 * clients"). CALLERS threads share one client (a connection per caller, as the raw-frame client
 * of Benchmarks/Baseline makes) and call moat_check in a loop for SECONDS after a 0.3 s warm-up.
 *
 *   bench SOCKET CALLERS SECONDS VAULT OPERATION SOURCE TOKEN
 *
 * Prints one line: callers, checks, checks per second, p50 and p99 of the round trip in µs (the
 * fields Benchmarks/Baseline's baseline-load prints, with its helpers). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "baseline.h"
#include "moat/moat.h"

typedef struct {
    moat_client *client;
    const moat_request *request;
    int64_t warm, until;
    baseline_samples *samples; /* after the warm-up */
    long not_allowed;
} caller;

static void *run_caller(void *argument) {
    caller *c = argument;
    for (;;) {
        int64_t start = baseline_now_ns();
        if (start >= c->until) break;
        moat_result r;
        moat_check(c->client, c->request, 0, &r);
        int64_t ns = baseline_now_ns() - start;
        if (start >= c->warm) {
            if (r.outcome != MOAT_ALLOWED && c->not_allowed++ == 0)
                fprintf(stderr, "not allowed: %s\n", r.outcome == MOAT_UNDECIDED ? r.error_message : r.message);
            baseline_record(c->samples, ns);
        }
        moat_result_free(&r);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int callers = argc == 8 ? atoi(argv[2]) : 0;
    double seconds = argc == 8 ? atof(argv[3]) : 0;
    if (callers < 1 || callers > 1024 || seconds <= 0) {
        fprintf(stderr, "usage: bench SOCKET CALLERS(1-1024) SECONDS VAULT OPERATION SOURCE TOKEN\n");
        return 2;
    }
    moat_request request = {.vault = argv[4], .operation = moat_operation_from_name(argv[5]),
                            .source_address = argv[6], .token = argv[7]};
    moat_options options;
    moat_options_init(&options);
    options.connections = (unsigned)callers;
    moat_client *client = NULL;
    if (moat_open(argv[1], &options, &client)) baseline_fail("bench: moat_open failed");
    caller *all = calloc((size_t)callers, sizeof *all);
    baseline_samples *samples = calloc((size_t)callers, sizeof *samples);
    pthread_t *threads = calloc((size_t)callers, sizeof *threads);
    if (!all || !samples || !threads) baseline_die("calloc");
    int64_t warm = baseline_now_ns() + 300000000; /* connections made, caches warm */
    int64_t until = warm + (int64_t)(seconds * 1e9);
    for (int i = 0; i < callers; i++) {
        all[i] = (caller){.client = client, .request = &request, .warm = warm, .until = until, .samples = &samples[i]};
        if (pthread_create(&threads[i], NULL, run_caller, &all[i])) baseline_fail("bench: cannot start a thread");
    }
    long not_allowed = 0;
    for (int i = 0; i < callers; i++) {
        pthread_join(threads[i], NULL);
        not_allowed += all[i].not_allowed;
    }
    printf("callers %d ", callers);
    baseline_print_round_trips(samples, (size_t)callers, seconds);
    printf("%s\n", not_allowed ? "  (some not allowed)" : "");
    free(samples);
    free(all);
    free(threads);
    moat_close(client);
    return 0;
}
