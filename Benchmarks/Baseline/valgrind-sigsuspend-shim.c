/* Preloaded into moatd when scripts/bench-socket runs it under callgrind, and only then.
 * Valgrind 3.19's rt_sigsuspend wrapper writes to the signal mask it is given; libdispatch's
 * _dispatch_sigsuspend passes one in read-only memory, so valgrind crashes before moatd serves.
 * This passes a writable copy. */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, _NSIG / 8);
}
