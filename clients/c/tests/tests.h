/* The C client's tests (clients/c/client.mk: c-client-test): shared declarations. */
#ifndef MOAT_C_TESTS_H
#define MOAT_C_TESTS_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "moat/moat.h"

/* ---- daemon.c: a real moatd on sockets in a temporary folder ---- */

typedef struct {
    pid_t pid;
    char socket[200];
    char control[200];
    char rules[200];
    char log[200];
    bool asserter; /* started with --trusted-asserter-uid <our uid> */
    bool refuse_us; /* started with --allow-uid <another uid>: our connections are refused */
} daemon_process;

/* The folder every daemon and file of this run lives in (created by test_setup). */
extern char test_folder[128];
extern const char *moatd_path;

void test_setup(const char *moatd);
void test_teardown(void);
/* Writes rules to a file of the test folder named after label, and sets d's paths. */
void daemon_prepare(daemon_process *d, const char *label, json_t *rules, bool asserter);
/* Starts moatd and waits until it answers a ping with ready (fails the run otherwise). */
void daemon_start(daemon_process *d);
/* SIGTERM, then SIGKILL if it does not exit; waits for it. */
void daemon_stop(daemon_process *d);
/* SIGKILL and wait (a crash). */
void daemon_kill(daemon_process *d);

/* ---- failures ---- */

extern int failures;
#define EXPECT(condition, ...)                                                                       \
    do {                                                                                             \
        if (!(condition)) {                                                                          \
            __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);                                      \
            fprintf(stderr, "FAILED %s:%d: %s: ", __FILE__, __LINE__, #condition);                  \
            fprintf(stderr, __VA_ARGS__);                                                            \
            fprintf(stderr, "\n");                                                                   \
        }                                                                                            \
    } while (0)
/* Stops the run (daemons stopped) when something the test needs is missing. */
void fatal(const char *format, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---- conformance.c: Tests/Conformance/README.md ---- */

typedef struct {
    const char *file;
    const char *name;
    json_t *request;
    json_t *expect;
    bool trusted_asserter;
    bool evaluate_at;
} decision_case;

typedef struct {
    char name[128];
    json_t *root;
    json_t *rules;
    decision_case *cases;
    size_t count;
} decision_file;

/* Loads every JSON file of the table's decisions folder, in name order. */
decision_file *load_decision_files(const char *table, size_t *count);
void free_decision_files(decision_file *files, size_t count);

/* A request of the table as a moat_request; its strings live in the case's JSON. Free with
 * free_request. False when the JSON has a member the request JSON does not know. */
bool request_from_json(json_t *json, moat_request *request);
void free_request(moat_request *request);

/* How the decided result differs from expect (the README's "Comparing expect"): problems are
 * written to out ("" when it conforms). Returns the number of problems. */
int mismatches(const moat_result *result, json_t *expect, char *out, size_t capacity);

/* Runs every decision case through moat_check and moat_check_batch against a daemon per file. */
void test_conformance(decision_file *files, size_t count);

/* fake_daemon.c: answers a healthy moatd does not send. */
void test_fake_daemon(void);

#endif
