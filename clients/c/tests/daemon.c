/* Starting and stopping real moatd processes for the tests. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests.h"

char test_folder[128];
const char *moatd_path;
int failures;

/* Every daemon running, so that a fatal error or the run's time limit stops them. */
enum { maximum_daemons = 16 };
static pid_t running[maximum_daemons];

static void forget(pid_t pid) {
    for (int i = 0; i < maximum_daemons; i++)
        if (running[i] == pid) running[i] = 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

void test_teardown(void) {
    for (int i = 0; i < maximum_daemons; i++) {
        if (running[i] > 0) {
            kill(running[i], SIGCONT);
            kill(running[i], SIGKILL);
            waitpid(running[i], NULL, 0);
            running[i] = 0;
        }
    }
    if (test_folder[0]) nftw(test_folder, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void fatal(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fprintf(stderr, "FATAL: ");
    vfprintf(stderr, format, args);
    fprintf(stderr, "\n");
    va_end(args);
    test_teardown();
    exit(1);
}

static void time_limit(int signal) {
    (void)signal;
    static const char message[] = "FATAL: the run took longer than its time limit\n";
    if (write(2, message, sizeof message - 1) < 0) _exit(2);
    for (int i = 0; i < maximum_daemons; i++)
        if (running[i] > 0) kill(running[i], SIGKILL);
    _exit(2);
}

void test_setup(const char *moatd) {
    moatd_path = moatd;
    if (access(moatd, X_OK) != 0) fatal("moatd not found at '%s' (set MOATD, or run make build)", moatd);
    snprintf(test_folder, sizeof test_folder, "/tmp/moat-c-test.XXXXXX");
    if (!mkdtemp(test_folder)) fatal("mkdtemp: %s", strerror(errno));
    signal(SIGALRM, time_limit);
    alarm(1500);
}

void daemon_prepare(daemon_process *d, const char *label, json_t *rules, bool asserter) {
    *d = (daemon_process){.asserter = asserter};
    snprintf(d->socket, sizeof d->socket, "%s/%s.sock", test_folder, label);
    snprintf(d->control, sizeof d->control, "%s/%s-control.sock", test_folder, label);
    snprintf(d->rules, sizeof d->rules, "%s/%s-rules.json", test_folder, label);
    snprintf(d->log, sizeof d->log, "%s/%s.log", test_folder, label);
    if (json_dump_file(rules, d->rules, JSON_INDENT(2)) != 0) fatal("cannot write %s", d->rules);
}

static void print_log(const daemon_process *d) {
    FILE *f = fopen(d->log, "r");
    if (!f) return;
    char line[512];
    fprintf(stderr, "--- %s\n", d->log);
    while (fgets(line, sizeof line, f)) fputs(line, stderr);
    fclose(f);
}

void daemon_start(daemon_process *d) {
    char uid[32];
    snprintf(uid, sizeof uid, "%u", (unsigned)getuid());
    char other_uid[32];
    snprintf(other_uid, sizeof other_uid, "%u", (unsigned)getuid() + 1);
    char decisions[240];
    snprintf(decisions, sizeof decisions, "%s.decisions", d->log);
    pid_t pid = fork();
    if (pid < 0) fatal("fork: %s", strerror(errno));
    if (pid == 0) {
        int log = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (log >= 0) {
            dup2(log, 1);
            dup2(log, 2);
        }
        const char *argv[16] = {moatd_path, "--rules", d->rules, "--socket", d->socket, "--control-socket", d->control,
                                "--decision-log", decisions, "--drain-timeout", "1"};
        int n = 11;
        if (d->asserter) argv[n++] = "--trusted-asserter-uid", argv[n++] = uid;
        if (d->refuse_us) argv[n++] = "--allow-uid", argv[n++] = other_uid;
        execv(moatd_path, (char *const *)argv);
        _exit(127);
    }
    d->pid = pid;
    for (int i = 0; i < maximum_daemons; i++) {
        if (running[i] == 0) {
            running[i] = pid;
            break;
        }
    }
    moat_client *client;
    if (moat_open(d->socket, NULL, &client) != 0) fatal("moat_open failed");
    /* Up to 60 s: a debug moatd on a busy machine is slow to start. */
    for (int attempt = 0; attempt < 600; attempt++) {
        moat_pong pong;
        /* Up: ready, or (refusing us) answering PERMISSION_DENIED. */
        bool up = moat_ping(client, 1000, &pong) == 0 ? pong.ready
                                                      : d->refuse_us && pong.error == MOAT_ERROR_STATUS;
        if (up) {
            moat_close(client);
            return;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            forget(pid);
            print_log(d);
            fatal("moatd exited at start (%s)", d->rules);
        }
        nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
    }
    moat_close(client);
    print_log(d);
    fatal("moatd did not become ready on %s", d->socket);
}

static bool wait_exit(pid_t pid, int tenths) {
    for (int i = 0; i < tenths; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid) return true;
        nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
    }
    return false;
}

void daemon_stop(daemon_process *d) {
    kill(d->pid, SIGCONT);
    kill(d->pid, SIGTERM);
    if (!wait_exit(d->pid, 150)) {
        fprintf(stderr, "moatd %d did not stop on SIGTERM; killing it\n", (int)d->pid);
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
    }
    forget(d->pid);
    d->pid = 0;
}

void daemon_kill(daemon_process *d) {
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    forget(d->pid);
    d->pid = 0;
}
