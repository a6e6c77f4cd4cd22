/*
 * rostrace_pingpong N: two processes pinned to one CPU pass a byte back and forth
 * through pipes N times, so each round trip is two context switches -- the cost of
 * the scheduler tracepoints per switch shows against a small baseline.
 * Prints the child's pid, waits for a line on stdin, runs, prints the elapsed ns,
 * waits for another line, then ends both processes.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20000;
    int a[2], b[2];
    char c = 'x', line[64];
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    sched_setaffinity(0, sizeof(one), &one);
    if (pipe(a) || pipe(b))
        return 1;
    pid_t child = fork();
    if (child == 0) {
        for (long i = 0; i <= n; ++i) {     /* the last read waits for the end */
            if (read(a[0], &c, 1) != 1)
                _exit(1);
            if (i < n && write(b[1], &c, 1) != 1)
                _exit(1);
        }
        _exit(0);
    }
    printf("%d\n", (int)child);
    fflush(stdout);
    if (!fgets(line, sizeof(line), stdin))
        return 1;
    long long start = now_ns();
    for (long i = 0; i < n; ++i) {
        if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1)
            return 1;
    }
    printf("%lld\n", now_ns() - start);
    fflush(stdout);
    if (!fgets(line, sizeof(line), stdin))
        line[0] = 0;
    if (write(a[1], &c, 1) != 1)
        return 1;
    waitpid(child, NULL, 0);
    return 0;
}
