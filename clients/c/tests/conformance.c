/* The conformance table (Tests/Conformance/README.md) through libmoat and a real moatd. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests.h"

/* Cases needing a set clock (`evaluateAt`) cannot run through the daemon, which decides with the
 * real clock: skipped and counted, as Tests/MoatIntegrationTests/ConformanceThroughDaemonTests.swift
 * does. A new clock-dependent case must be acknowledged here. */
static const size_t expected_skips = 10;

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

static int is_json(const struct dirent *entry) {
    size_t n = strlen(entry->d_name);
    return n > 5 && strcmp(entry->d_name + n - 5, ".json") == 0;
}

decision_file *load_decision_files(const char *table, size_t *count) {
    char folder[512];
    snprintf(folder, sizeof folder, "%s/decisions", table);
    struct dirent **entries;
    int n = scandir(folder, &entries, is_json, by_name);
    if (n <= 0) fatal("no decision files in %s", folder); /* a missing table must fail the run */
    decision_file *files = calloc((size_t)n, sizeof *files);
    if (!files) fatal("out of memory");
    for (int i = 0; i < n; i++) {
        decision_file *f = &files[i];
        char path[800];
        snprintf(path, sizeof path, "%s/%s", folder, entries[i]->d_name);
        snprintf(f->name, sizeof f->name, "%.*s", (int)strlen(entries[i]->d_name) - 5, entries[i]->d_name);
        free(entries[i]);
        json_error_t error;
        f->root = json_load_file(path, 0, &error);
        if (!f->root) fatal("%s: %s", path, error.text);
        f->rules = json_object_get(f->root, "rules");
        json_t *cases = json_object_get(f->root, "cases");
        if (!json_is_object(f->rules) || !json_is_array(cases)) fatal("%s: no rules or cases", path);
        f->count = json_array_size(cases);
        f->cases = calloc(f->count, sizeof *f->cases);
        if (!f->cases) fatal("out of memory");
        for (size_t k = 0; k < f->count; k++) {
            json_t *c = json_array_get(cases, k);
            json_t *at = json_object_get(c, "evaluateAt");
            f->cases[k] = (decision_case){
                .file = f->name,
                .name = json_string_value(json_object_get(c, "name")),
                .request = json_object_get(c, "request"),
                .expect = json_object_get(c, "expect"),
                .trusted_asserter = json_is_true(json_object_get(c, "trustedAsserter")),
                .evaluate_at = at && !json_is_null(at),
            };
            if (!f->cases[k].name || !f->cases[k].request || !f->cases[k].expect) fatal("%s: case %zu is malformed", path, k);
        }
    }
    free(entries);
    *count = (size_t)n;
    return files;
}

void free_decision_files(decision_file *files, size_t count) {
    for (size_t i = 0; i < count; i++) {
        free(files[i].cases);
        json_decref(files[i].root);
    }
    free(files);
}

/* A string member: NULL for null (absent); false for another type. */
static bool string_member(json_t *value, const char **out) {
    if (json_is_null(value)) return *out = NULL, true;
    if (!json_is_string(value)) return false;
    *out = json_string_value(value);
    return true;
}

bool request_from_json(json_t *json, moat_request *q) {
    *q = (moat_request){0};
    const char *key;
    json_t *value;
    json_object_foreach(json, key, value) {
        bool ok = true;
        if (!strcmp(key, "vault")) ok = string_member(value, &q->vault);
        else if (!strcmp(key, "operation")) {
            const char *name = NULL;
            ok = string_member(value, &name);
            q->operation = moat_operation_from_name(name);
        } else if (!strcmp(key, "objectName")) ok = string_member(value, &q->object_name);
        else if (!strcmp(key, "sourceAddress")) ok = string_member(value, &q->source_address);
        else if (!strcmp(key, "subnetId")) ok = string_member(value, &q->subnet_id);
        else if (!strcmp(key, "privateEndpointId")) ok = string_member(value, &q->private_endpoint_id);
        else if (!strcmp(key, "token")) ok = string_member(value, &q->token);
        else if (!strcmp(key, "requestId")) ok = string_member(value, &q->request_id);
        else if (!strcmp(key, "timeoutMicros")) {
            ok = json_is_null(value) || (json_is_integer(value) && json_integer_value(value) >= 0);
            if (json_is_integer(value)) q->timeout_micros = (uint64_t)json_integer_value(value);
        } else if (!strcmp(key, "assertedIdentity")) {
            if (json_is_null(value)) continue;
            moat_asserted_identity *a = calloc(1, sizeof *a);
            if (!a) fatal("out of memory");
            q->asserted_identity = a;
            const char *member;
            json_t *v;
            json_object_foreach(value, member, v) {
                if (!strcmp(member, "oid")) ok = ok && string_member(v, &a->oid);
                else if (!strcmp(member, "appid")) ok = ok && string_member(v, &a->appid);
                else if (!strcmp(member, "tid")) ok = ok && string_member(v, &a->tid);
                else if (!strcmp(member, "xmsMirid")) ok = ok && string_member(v, &a->xms_mirid);
                else if (!strcmp(member, "groups")) {
                    if (json_is_null(v)) continue;
                    if (!json_is_array(v)) return false;
                    const char **groups = calloc(json_array_size(v) + 1, sizeof *groups);
                    if (!groups) fatal("out of memory");
                    a->groups = groups;
                    a->group_count = json_array_size(v);
                    for (size_t i = 0; i < a->group_count; i++) ok = ok && string_member(json_array_get(v, i), &groups[i]);
                } else ok = false;
            }
        } else ok = false;
        if (!ok) return false;
    }
    return true;
}

void free_request(moat_request *q) {
    if (q->asserted_identity) free((void *)q->asserted_identity->groups);
    free((void *)q->asserted_identity);
    q->asserted_identity = NULL;
}

static json_t *text(const char *s) { return s ? json_string(s) : json_null(); }

/* The decision JSON `moatctl check` prints (Sources/MoatCore/Decision/Decision+JSON.swift). */
static json_t *decision_json(const moat_result *r) {
    json_t *admitted = json_null(), *granted = json_null();
    if (r->admitted_by.kind != MOAT_ADMISSION_NONE) {
        admitted = json_pack("{s:o,s:o,s:o,s:o,s:o}", "kind", text(moat_admission_kind_name(r->admitted_by.kind)),
                             "index", r->admitted_by.index >= 0 ? json_integer(r->admitted_by.index) : json_null(),
                             "rule", text(r->admitted_by.rule), "service", text(r->admitted_by.service), "mode",
                             text(moat_trusted_service_mode_name(r->admitted_by.mode)));
    }
    if (r->granted_by.kind != MOAT_GRANT_NONE) {
        granted = json_pack("{s:o,s:I,s:o,s:o,s:o,s:o,s:o}", "kind", text(moat_grant_kind_name(r->granted_by.kind)),
                            "index", (json_int_t)r->granted_by.index, "objectId", text(r->granted_by.object_id),
                            "applicationId", text(r->granted_by.application_id), "id", text(r->granted_by.id),
                            "role", text(r->granted_by.role), "roleDefinitionId", text(r->granted_by.role_definition_id));
    }
    return json_pack("{s:s,s:I,s:o,s:o,s:o,s:s,s:o,s:o,s:o,s:o,s:{s:I,s:o}}", "decision",
                     r->outcome == MOAT_ALLOWED ? "ALLOW" : "DENY", "httpStatus", (json_int_t)r->http_status, "code",
                     text(moat_code_name(r->code)), "innerCode", text(moat_inner_code_name(r->inner_code)), "stage",
                     text(moat_stage_name(r->stage)), "message", r->message ? r->message : "", "admittedBy", admitted,
                     "grantedBy", granted, "required", text(r->required), "wwwAuthenticate",
                     text(r->www_authenticate), "revision", "sequence", (json_int_t)r->revision.sequence, "hash",
                     text(r->revision.hash));
}

static void add(char **out, size_t *capacity, int *count, const char *format, ...) __attribute__((format(printf, 4, 5)));
static void add(char **out, size_t *capacity, int *count, const char *format, ...) {
    (*count)++;
    va_list args;
    va_start(args, format);
    int n = vsnprintf(*out, *capacity, format, args);
    va_end(args);
    if (n < 0) return;
    size_t used = (size_t)n < *capacity ? (size_t)n : *capacity;
    *out += used;
    *capacity -= used;
}

int mismatches(const moat_result *r, json_t *expect, char *out, size_t capacity) {
    int count = 0;
    if (capacity) out[0] = 0;
    if (r->outcome == MOAT_UNDECIDED) {
        add(&out, &capacity, &count, "could not decide: %s (status %u): %s; ", moat_error_name(r->error), r->status,
            r->error_message);
        return count;
    }
    json_t *decision = decision_json(r);
    if (!decision) fatal("cannot render a decision as JSON");
    const char *key;
    json_t *expected;
    json_object_foreach(expect, key, expected) {
        if (!strcmp(key, "messageContains")) {
            const char *message = r->message ? r->message : "";
            if (json_is_string(expected) && !strcasestr(message, json_string_value(expected)))
                add(&out, &capacity, &count, "message '%s' does not contain '%s'; ", message, json_string_value(expected));
            continue;
        }
        json_t *actual = json_object_get(decision, key);
        if (!actual) {
            add(&out, &capacity, &count, "unknown member '%s' in expect; ", key);
            continue;
        }
        if ((!strcmp(key, "admittedBy") || !strcmp(key, "grantedBy")) && json_is_object(expected) && json_is_object(actual)) {
            const char *member;
            json_t *value;
            json_object_foreach(expected, member, value) {
                json_t *got = json_object_get(actual, member);
                if (!json_equal(got ? got : json_null(), value)) {
                    char *a = json_dumps(got ? got : json_null(), JSON_ENCODE_ANY), *e = json_dumps(value, JSON_ENCODE_ANY);
                    add(&out, &capacity, &count, "%s.%s is %s, expected %s; ", key, member, a, e);
                    free(a);
                    free(e);
                }
            }
        } else if (!json_equal(actual, expected)) {
            char *a = json_dumps(actual, JSON_ENCODE_ANY), *e = json_dumps(expected, JSON_ENCODE_ANY);
            add(&out, &capacity, &count, "%s is %s, expected %s; ", key, a, e);
            free(a);
            free(e);
        }
    }
    json_decref(decision);
    return count;
}

void test_conformance(decision_file *files, size_t count) {
    size_t passed = 0, failed = 0, skipped = 0, batch_passed = 0;
    for (size_t i = 0; i < count; i++) {
        decision_file *f = &files[i];
        for (int trusted = 0; trusted <= 1; trusted++) {
            decision_case **cases = calloc(f->count, sizeof *cases);
            moat_request *requests = calloc(f->count, sizeof *requests);
            if (!cases || !requests) fatal("out of memory");
            size_t n = 0;
            for (size_t k = 0; k < f->count; k++) {
                decision_case *c = &f->cases[k];
                if (c->trusted_asserter != trusted) continue;
                if (c->evaluate_at) {
                    skipped++;
                    continue;
                }
                if (!request_from_json(c->request, &requests[n])) fatal("%s: %s: the request JSON is not one libmoat takes", f->name, c->name);
                cases[n++] = c;
            }
            if (n > 0) {
                char label[160];
                snprintf(label, sizeof label, "%s-%s", f->name, trusted ? "asserter" : "plain");
                daemon_process d;
                daemon_prepare(&d, label, f->rules, trusted);
                daemon_start(&d);
                moat_options options;
                moat_options_init(&options);
                options.deadline_ms = 10000; /* the suite is about answers, not speed */
                moat_client *client;
                if (moat_open(d.socket, &options, &client) != 0) fatal("moat_open failed");
                char problems[2048];
                for (size_t k = 0; k < n; k++) {
                    moat_result r;
                    moat_check(client, &requests[k], 0, &r);
                    if (mismatches(&r, cases[k]->expect, problems, sizeof problems) == 0) passed++;
                    else {
                        failed++;
                        fprintf(stderr, "FAILED %s: %s (%s peer): %s\n", f->name, cases[k]->name, trusted ? "asserter" : "plain", problems);
                    }
                    moat_result_free(&r);
                }
                /* The same cases in one batch: each item its own outcome, the same decisions. */
                moat_result *results = calloc(n, sizeof *results);
                if (!results) fatal("out of memory");
                moat_check_batch(client, requests, n, 0, results);
                for (size_t k = 0; k < n; k++) {
                    if (mismatches(&results[k], cases[k]->expect, problems, sizeof problems) == 0) batch_passed++;
                    else {
                        failed++;
                        fprintf(stderr, "FAILED %s: %s (batch, %s peer): %s\n", f->name, cases[k]->name, trusted ? "asserter" : "plain", problems);
                    }
                    moat_result_free(&results[k]);
                }
                free(results);
                moat_close(client);
                daemon_stop(&d);
            }
            for (size_t k = 0; k < n; k++) free_request(&requests[k]);
            free(requests);
            free(cases);
        }
    }
    failures += (int)failed;
    EXPECT(skipped == expected_skips, "%zu cases skipped, expected %zu", skipped, expected_skips);
    EXPECT(passed > 0 && passed == batch_passed, "%zu passed one by one, %zu in batches", passed, batch_passed);
    printf("conformance through moatd (libmoat): %zu passed, %zu failed, %zu skipped (evaluateAt: the daemon uses the real clock); the same %zu passed again through moat_check_batch\n",
           passed, failed, skipped, batch_passed);
}
