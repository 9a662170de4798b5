/* libmoat's tests against a real moatd (clients/c/client.mk: c-client-test):
 *   test_moat --moatd PATH --conformance Tests/Conformance --example PATH [--quick]
 * the conformance table; the failure policy (docs/protocol.md, "Failing open"); a daemon stopped
 * with SIGSTOP (deadlines hold); 8 threads sharing one client while the daemon is restarted; and
 * the README's example. --quick runs fewer checks in the shared-client test (for valgrind). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests.h"

/* An allow and a deny of one decision file, for the tests that need known answers. */
typedef struct {
    decision_file *file;
    decision_case *allow, *deny;
    moat_request allow_request, deny_request;
} known_answers;

static known_answers find_known_answers(decision_file *files, size_t count) {
    for (size_t i = 0; i < count; i++) {
        known_answers k = {.file = &files[i]};
        for (size_t j = 0; j < files[i].count; j++) {
            decision_case *c = &files[i].cases[j];
            /* Only vault, operation, sourceAddress and token: what the README's example passes. */
            if (c->trusted_asserter || c->evaluate_at || json_object_get(c->request, "objectName") ||
                json_object_get(c->request, "subnetId") || json_object_get(c->request, "privateEndpointId") ||
                json_object_get(c->request, "assertedIdentity") || json_object_size(c->request) > 4)
                continue;
            const char *decision = json_string_value(json_object_get(c->expect, "decision"));
            if (!decision) continue;
            if (!k.allow && !strcmp(decision, "ALLOW")) k.allow = c;
            if (!k.deny && !strcmp(decision, "DENY")) k.deny = c;
        }
        if (k.allow && k.deny) {
            if (!request_from_json(k.allow->request, &k.allow_request) || !request_from_json(k.deny->request, &k.deny_request))
                fatal("the known-answer requests do not read");
            return k;
        }
    }
    fatal("no decision file has both an ALLOW and a DENY case");
}

static moat_client *open_client(const char *socket, unsigned deadline_ms, moat_failure_policy policy) {
    moat_options options;
    moat_options_init(&options);
    options.deadline_ms = deadline_ms;
    options.failure_policy = policy;
    moat_client *client;
    int error = moat_open(socket, &options, &client);
    if (error) fatal("moat_open(%s): %s", socket, strerror(error));
    return client;
}

static bool is_availability_failure(const moat_result *r) {
    return r->outcome == MOAT_UNDECIDED && r->fault == MOAT_FAULT_AVAILABILITY;
}

static void sleep_ms(long ms) { nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000}, NULL); }

/* Checks until a decision comes (the client reconnects with backoff), at most ~10 s. */
static void check_until_decided(moat_client *client, const moat_request *request, moat_result *r) {
    for (int attempt = 0; attempt < 200; attempt++) {
        moat_check(client, request, 0, r);
        if (r->outcome != MOAT_UNDECIDED) return;
        moat_result_free(r);
        sleep_ms(50);
    }
    moat_check(client, request, 0, r);
}

/* ---- the failure policy ---- */

static void test_failure_policy(known_answers *k) {
    /* No daemon: unreachable, an availability failure: denied when closed, allowed when open. */
    char missing[256];
    snprintf(missing, sizeof missing, "%s/nobody.sock", test_folder);
    moat_client *closed = open_client(missing, 200, MOAT_FAIL_CLOSED), *open = open_client(missing, 200, MOAT_FAIL_OPEN);
    moat_result r;
    moat_check(closed, &k->allow_request, 0, &r);
    EXPECT(r.outcome == MOAT_UNDECIDED && r.error == MOAT_ERROR_UNREACHABLE && r.fault == MOAT_FAULT_AVAILABILITY &&
               r.status == MOAT_STATUS_UNAVAILABLE && !r.allowed && !r.failed_open && r.error_message,
           "no daemon, fail closed: outcome %d error %d", r.outcome, r.error);
    moat_result_free(&r);
    moat_check(open, &k->deny_request, 0, &r);
    EXPECT(r.outcome == MOAT_UNDECIDED && r.error == MOAT_ERROR_UNREACHABLE && r.allowed && r.failed_open,
           "no daemon, fail open: outcome %d error %d allowed %d", r.outcome, r.error, r.allowed);
    moat_result_free(&r);
    moat_pong pong;
    EXPECT(moat_ping(closed, 0, &pong) == -1 && pong.error == MOAT_ERROR_UNREACHABLE, "ping without a daemon: %d", pong.error);
    moat_close(closed);
    moat_close(open);

    daemon_process d;
    daemon_prepare(&d, "policy", k->file->rules, false);
    daemon_start(&d);
    open = open_client(d.socket, 10000, MOAT_FAIL_OPEN);
    char problems[1024];
    moat_check(open, &k->allow_request, 0, &r);
    EXPECT(r.outcome == MOAT_ALLOWED && r.allowed && !r.failed_open && mismatches(&r, k->allow->expect, problems, sizeof problems) == 0,
           "allow case %s: %s", k->allow->name, problems);
    EXPECT(r.revision.hash && strlen(r.revision.hash) == 16 && r.revision.sequence >= 1, "the decision names its revision");
    moat_result_free(&r);
    moat_result_free(&r); /* freeing twice is harmless */
    moat_check(open, &k->deny_request, 0, &r);
    EXPECT(r.outcome == MOAT_DENIED && !r.allowed && r.http_status >= 400 && mismatches(&r, k->deny->expect, problems, sizeof problems) == 0,
           "a deny is a decision, not an error, even when failing open: %s", problems);
    moat_result_free(&r);
    EXPECT(moat_ping(open, 0, &pong) == 0 && pong.ready && strlen(pong.hash) == 16, "ping: ready %d hash '%s'", pong.ready, pong.hash);

    /* A frame over the daemon's limit is refused without being sent: a deny whatever the policy. */
    size_t big = 70 * 1024;
    char *token = malloc(big + 1);
    if (!token) fatal("out of memory");
    memset(token, 'a', big);
    token[big] = 0;
    moat_request oversized = k->allow_request;
    oversized.token = token;
    moat_check(open, &oversized, 0, &r);
    EXPECT(r.outcome == MOAT_UNDECIDED && r.error == MOAT_ERROR_REQUEST_REFUSED && r.status == MOAT_STATUS_RESOURCE_EXHAUSTED &&
               r.fault == MOAT_FAULT_REQUEST && !r.allowed && !r.failed_open,
           "oversized: outcome %d error %d status %u allowed %d", r.outcome, r.error, r.status, r.allowed);
    moat_result_free(&r);

    /* Bytes that are not UTF-8: the daemon answers INVALID_ARGUMENT, the request's fault, a deny. */
    moat_request invalid = k->allow_request;
    invalid.vault = "vault-\xff";
    moat_check(open, &invalid, 0, &r);
    EXPECT(r.outcome == MOAT_UNDECIDED && r.error == MOAT_ERROR_STATUS && r.status == MOAT_STATUS_INVALID_ARGUMENT &&
               r.fault == MOAT_FAULT_REQUEST && !r.allowed && r.error_message && strstr(r.error_message, "vault"),
           "invalid UTF-8: outcome %d error %d status %u allowed %d message %s", r.outcome, r.error, r.status, r.allowed,
           r.error_message ? r.error_message : "(none)");
    moat_result_free(&r);

    /* In a batch each request is its own outcome: the refused ones fail alone. */
    moat_request batch[4] = {k->allow_request, invalid, oversized, k->deny_request};
    moat_result results[4];
    moat_check_batch(open, batch, 4, 0, results);
    EXPECT(results[0].outcome == MOAT_ALLOWED, "batch item 0: %d", results[0].outcome);
    EXPECT(results[1].outcome == MOAT_UNDECIDED && results[1].status == MOAT_STATUS_INVALID_ARGUMENT && !results[1].allowed &&
               results[1].error_message && strstr(results[1].error_message, "requests[1].vault"),
           "batch item 1: outcome %d status %u message %s", results[1].outcome, results[1].status,
           results[1].error_message ? results[1].error_message : "(none)");
    EXPECT(results[2].outcome == MOAT_UNDECIDED && results[2].error == MOAT_ERROR_REQUEST_REFUSED && !results[2].allowed,
           "batch item 2: outcome %d error %d", results[2].outcome, results[2].error);
    EXPECT(results[3].outcome == MOAT_DENIED, "batch item 3: %d", results[3].outcome);
    for (int i = 0; i < 4; i++) moat_result_free(&results[i]);

    /* A batch larger than 1024 requests goes as several frames; every answer comes back in order.
     * On one connection, the answers pile up while the frames are written: the writer must read
     * them, or the daemon stops reading (back-pressure) and both wait. */
    moat_options single_options;
    moat_options_init(&single_options);
    single_options.connections = 1;
    moat_client *single;
    if (moat_open(d.socket, &single_options, &single)) fatal("moat_open");
    enum { large = 10000 };
    moat_request *many = malloc(large * sizeof *many);
    moat_result *answers = malloc(large * sizeof *answers);
    if (!many || !answers) fatal("out of memory");
    for (int i = 0; i < large; i++) many[i] = i % 3 ? k->deny_request : k->allow_request;
    moat_check_batch(single, many, large, 60000, answers); /* generous: valgrind on a busy machine is slow */
    int wrong = 0;
    char first[300] = "";
    for (int i = 0; i < large; i++) {
        if (answers[i].outcome != (i % 3 ? MOAT_DENIED : MOAT_ALLOWED) && wrong++ == 0)
            snprintf(first, sizeof first, "item %d: outcome %d, %s", i, answers[i].outcome,
                     answers[i].error_message ? answers[i].error_message : "");
        moat_result_free(&answers[i]);
    }
    EXPECT(wrong == 0, "%d of %d answers of a large batch are wrong; the first: %s", wrong, large, first);
    moat_close(single);
    free(many);
    free(answers);
    free(token);
    moat_close(open);
    daemon_stop(&d);

    /* A connection refused on stream 0 (PERMISSION_DENIED): the daemon refused the caller, a deny
     * whatever the policy, for every check and every connection of the pool. */
    daemon_prepare(&d, "refusing", k->file->rules, false);
    d.refuse_us = true;
    daemon_start(&d);
    open = open_client(d.socket, 10000, MOAT_FAIL_OPEN);
    for (int i = 0; i < 4; i++) {
        moat_check(open, &k->allow_request, 0, &r);
        EXPECT(r.outcome == MOAT_UNDECIDED && r.error == MOAT_ERROR_STATUS && r.status == MOAT_STATUS_PERMISSION_DENIED &&
                   r.fault == MOAT_FAULT_DAEMON && !r.allowed && !r.failed_open,
               "refused connection, check %d: outcome %d error %d status %u allowed %d", i, r.outcome, r.error, r.status, r.allowed);
        moat_result_free(&r);
    }
    moat_close(open);
    daemon_stop(&d);
    printf("failure policy: done\n");
}

/* ---- the daemon stopped (SIGSTOP): deadlines hold ---- */

typedef struct {
    moat_client *client;
    const moat_request *request;
    moat_result result;
} stopped_call;

static void *call_stopped(void *argument) {
    stopped_call *call = argument;
    moat_check(call->client, call->request, 0, &call->result);
    return NULL;
}

static void test_stopped_daemon(known_answers *k) {
    daemon_process d;
    daemon_prepare(&d, "stopped", k->file->rules, false);
    daemon_start(&d);
    moat_client *open = open_client(d.socket, 300, MOAT_FAIL_OPEN);
    moat_client *closed = open_client(d.socket, 300, MOAT_FAIL_CLOSED);
    moat_result r;
    check_until_decided(open, &k->allow_request, &r);
    EXPECT(r.outcome == MOAT_ALLOWED, "before SIGSTOP: %d", r.outcome);
    moat_result_free(&r);
    check_until_decided(closed, &k->allow_request, &r);
    moat_result_free(&r);

    kill(d.pid, SIGSTOP);
    int status;
    if (waitpid(d.pid, &status, WUNTRACED) != d.pid || !WIFSTOPPED(status)) fatal("moatd did not stop"); /* every thread */
    enum { threads = 8 };
    stopped_call calls[threads];
    pthread_t ids[threads];
    for (int i = 0; i < threads; i++) {
        calls[i] = (stopped_call){.client = i % 2 ? closed : open, .request = i % 4 < 2 ? &k->deny_request : &k->allow_request};
        if (pthread_create(&ids[i], NULL, call_stopped, &calls[i])) fatal("pthread_create");
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(ids[i], NULL);
        moat_result *c = &calls[i].result;
        bool is_open = calls[i].client == open;
        EXPECT(c->outcome == MOAT_UNDECIDED && c->error == MOAT_ERROR_DEADLINE_EXCEEDED && c->status == MOAT_STATUS_DEADLINE_EXCEEDED &&
                   c->fault == MOAT_FAULT_AVAILABILITY && c->allowed == is_open && c->failed_open == is_open,
               "stopped daemon, call %d: outcome %d error %d allowed %d", i, c->outcome, c->error, c->allowed);
        moat_result_free(c);
    }
    moat_result batch[2];
    moat_request requests[2] = {k->allow_request, k->deny_request};
    moat_check_batch(closed, requests, 2, 0, batch);
    for (int i = 0; i < 2; i++) {
        EXPECT(batch[i].error == MOAT_ERROR_DEADLINE_EXCEEDED && !batch[i].allowed, "stopped daemon, batch item %d: %d", i, batch[i].error);
        moat_result_free(&batch[i]);
    }
    moat_pong pong;
    EXPECT(moat_ping(open, 0, &pong) == -1 && pong.error == MOAT_ERROR_DEADLINE_EXCEEDED, "stopped daemon, ping: %d", pong.error);

    /* Resumed: the late answers of the calls that gave up are dropped; new calls get their own. */
    kill(d.pid, SIGCONT);
    char problems[1024];
    for (int i = 0; i < 20; i++) {
        const known_answers *answers = k;
        decision_case *expected = i % 2 ? answers->deny : answers->allow;
        check_until_decided(i % 3 ? open : closed, i % 2 ? &k->deny_request : &k->allow_request, &r);
        EXPECT(mismatches(&r, expected->expect, problems, sizeof problems) == 0, "after SIGCONT, check %d: %s", i, problems);
        moat_result_free(&r);
    }
    moat_close(open);
    moat_close(closed);
    daemon_stop(&d);
    printf("stopped daemon: done\n");
}

/* ---- many threads, one client, the daemon restarted midway ---- */

typedef struct {
    moat_client *client;
    known_answers *answers;
    int checks;
    int index;
    long *done;          /* shared: checks finished */
    int *restarted;      /* shared: set once the daemon was restarted */
    long decided, undecided, decided_after_restart, wrong;
} worker;

static void *work(void *argument) {
    worker *w = argument;
    char problems[1024];
    for (int i = 0; i < w->checks; i++) {
        bool allow = (i + w->index) % 2 == 0;
        moat_result r;
        moat_check(w->client, allow ? &w->answers->allow_request : &w->answers->deny_request, 0, &r);
        bool after = __atomic_load_n(w->restarted, __ATOMIC_ACQUIRE);
        if (r.outcome == MOAT_UNDECIDED) {
            w->undecided++;
            if (!is_availability_failure(&r)) {
                w->wrong++;
                fprintf(stderr, "FAILED shared client: could not decide for a reason that is not availability: %s (%s)\n",
                        moat_error_name(r.error), r.error_message);
            }
            sleep_ms(1); /* a caller would retry later; keeps the restart window from eating the run */
        } else {
            w->decided++;
            if (after) w->decided_after_restart++;
            if (mismatches(&r, (allow ? w->answers->allow : w->answers->deny)->expect, problems, sizeof problems) != 0) {
                w->wrong++;
                fprintf(stderr, "FAILED shared client: wrong answer: %s\n", problems);
            }
        }
        moat_result_free(&r);
        __atomic_add_fetch(w->done, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_shared_client(known_answers *k, int per_thread) {
    enum { threads = 8 };
    daemon_process d;
    daemon_prepare(&d, "shared", k->file->rules, false);
    daemon_start(&d);
    moat_client *client = open_client(d.socket, 1000, MOAT_FAIL_CLOSED);
    long done = 0;
    int restarted = 0;
    worker workers[threads];
    pthread_t ids[threads];
    for (int i = 0; i < threads; i++) {
        workers[i] = (worker){.client = client, .answers = k, .checks = per_thread, .index = i, .done = &done, .restarted = &restarted};
        if (pthread_create(&ids[i], NULL, work, &workers[i])) fatal("pthread_create");
    }
    long total = (long)threads * per_thread;
    while (__atomic_load_n(&done, __ATOMIC_RELAXED) < total / 2) sleep_ms(5);
    daemon_kill(&d); /* a crash: connections drop with checks in flight */
    daemon_start(&d);
    __atomic_store_n(&restarted, 1, __ATOMIC_RELEASE);
    long decided = 0, undecided = 0, after = 0, wrong = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(ids[i], NULL);
        decided += workers[i].decided;
        undecided += workers[i].undecided;
        after += workers[i].decided_after_restart;
        wrong += workers[i].wrong;
    }
    EXPECT(decided + undecided == total, "%ld decided + %ld could not decide, of %ld", decided, undecided, total);
    EXPECT(wrong == 0, "%ld wrong answers", wrong);
    EXPECT(after > 0, "no check was decided after the daemon restarted (the client did not reconnect)");
    moat_close(client);
    daemon_stop(&d);
    printf("shared client: %d threads x %d checks, daemon restarted midway: %ld decided (%ld after the restart), %ld could not decide (availability), %ld wrong\n",
           threads, per_thread, decided, after, undecided, wrong);
}

/* ---- the README's example ---- */

/* Runs the example with the socket and a case's vault, operation, source and token; returns its
 * exit status and first output line. */
static int run_example(const char *example, const char *socket, decision_case *c, char *line, size_t capacity) {
    int out[2];
    if (pipe(out)) fatal("pipe");
    moat_request q0;
    if (!request_from_json(c->request, &q0)) fatal("%s: the request does not read", c->name);
    const moat_request *q = &q0;
    const char *operation = json_string_value(json_object_get(c->request, "operation"));
    pid_t pid = fork();
    if (pid < 0) fatal("fork");
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        execl(example, example, socket, q->vault ? q->vault : "", operation ? operation : "", q->source_address ? q->source_address : "",
              q->token ? q->token : "", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    free_request(&q0);
    FILE *f = fdopen(out[0], "r");
    if (!f || !fgets(line, (int)capacity, f)) line[0] = 0;
    if (f) fclose(f);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_example(const char *example, known_answers *k) {
    daemon_process d;
    daemon_prepare(&d, "example", k->file->rules, false);
    daemon_start(&d);
    char line[512];
    int status = run_example(example, d.socket, k->allow, line, sizeof line);
    EXPECT(status == 0 && !strncmp(line, "allowed", 7), "example, allow case: exit %d, '%s'", status, line);
    status = run_example(example, d.socket, k->deny, line, sizeof line);
    EXPECT(status == 1 && !strncmp(line, "denied", 6), "example, deny case: exit %d, '%s'", status, line);
    daemon_stop(&d);
    status = run_example(example, d.socket, k->allow, line, sizeof line);
    EXPECT(status == 1 && !strncmp(line, "could not decide", 16), "example, no daemon: exit %d, '%s'", status, line);
    printf("README example: allowed, denied, could not decide\n");
}

int main(int argc, char **argv) {
    const char *moatd = NULL, *table = NULL, *example = NULL;
    bool quick = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--moatd") && i + 1 < argc) moatd = argv[++i];
        else if (!strcmp(argv[i], "--conformance") && i + 1 < argc) table = argv[++i];
        else if (!strcmp(argv[i], "--example") && i + 1 < argc) example = argv[++i];
        else if (!strcmp(argv[i], "--quick")) quick = true;
        else {
            fprintf(stderr, "usage: %s --moatd PATH --conformance DIR --example PATH [--quick]\n", argv[0]);
            return 2;
        }
    }
    if (!moatd || !table || !example) {
        fprintf(stderr, "usage: %s --moatd PATH --conformance DIR --example PATH [--quick]\n", argv[0]);
        return 2;
    }
    test_setup(moatd);
    size_t count;
    decision_file *files = load_decision_files(table, &count);
    known_answers k = find_known_answers(files, count);

    test_conformance(files, count);
    test_failure_policy(&k);
    test_fake_daemon();
    test_stopped_daemon(&k);
    test_shared_client(&k, quick ? 500 : 10000);
    test_example(example, &k);

    free_request(&k.allow_request);
    free_request(&k.deny_request);
    free_decision_files(files, count);
    test_teardown();
    printf("%s: %d failure%s\n", failures ? "FAILED" : "passed", failures, failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}
