/*
 * rostrace_calibrate [ITERATIONS] [WAIT_STDIN]
 *
 * Probe-cost calibration target (plain C, no ROS). Calls the exported,
 * non-inlined function rostrace_calibrate_target() ITERATIONS times (default
 * 20000) and reports the thread CPU time and the wall time of that loop:
 *
 *   ready <pid>                               (once, at start)
 *   calls=N thread_cpu_ns=X wall_ns=Y         (once per run)
 *
 * With WAIT_STDIN (default 1) every run waits for one line on stdin, so a
 * tracer can attach uprobes to <pid> between runs: one process can be measured
 * untraced, then traced. EOF on stdin ends the process (exit 0). With
 * WAIT_STDIN=0 it runs once right away and exits.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Does nothing observable. External linkage so it stays in the ELF symbol table
 * and a uprobe can be attached to it by name. On x86-64 it starts with
 * `push %rbp; mov %rsp,%rbp` like the roscpp functions rostrace probes: what the
 * kernel does for a probe hit depends on the instruction the breakpoint replaces. */
#if defined(__x86_64__)
__asm__(".text\n"
        ".globl rostrace_calibrate_target\n"
        ".type rostrace_calibrate_target, @function\n"
        "rostrace_calibrate_target:\n"
        "  push %rbp\n"
        "  mov %rsp, %rbp\n"
        "  pop %rbp\n"
        "  ret\n"
        ".size rostrace_calibrate_target, .-rostrace_calibrate_target\n");
void rostrace_calibrate_target(void);
#else
__attribute__((noinline, noclone, used, visibility("default")))
void rostrace_calibrate_target(void)
{
    __asm__ volatile("" ::: "memory");
}
#endif

static long long ts_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void run(unsigned long long iterations)
{
    long long cpu0 = ts_ns(CLOCK_THREAD_CPUTIME_ID);
    long long wall0 = ts_ns(CLOCK_MONOTONIC);
    for (unsigned long long i = 0; i < iterations; ++i)
        rostrace_calibrate_target();
    long long wall1 = ts_ns(CLOCK_MONOTONIC);
    long long cpu1 = ts_ns(CLOCK_THREAD_CPUTIME_ID);
    printf("calls=%llu thread_cpu_ns=%lld wall_ns=%lld\n",
           iterations, cpu1 - cpu0, wall1 - wall0);
    fflush(stdout);
}

/* Reads one line (any length); returns 0 on EOF. */
static int read_line(void)
{
    int c, got = 0;
    while ((c = getchar()) != EOF) {
        got = 1;
        if (c == '\n')
            return 1;
    }
    return got;
}

int main(int argc, char **argv)
{
    unsigned long long iterations = 20000;
    int wait_stdin = 1;
    if (argc > 1) {
        char *end = NULL;
        iterations = strtoull(argv[1], &end, 10);
        if (end == argv[1] || *end != '\0') {
            fprintf(stderr, "usage: %s [ITERATIONS] [WAIT_STDIN]\n", argv[0]);
            return 2;
        }
    }
    if (argc > 2)
        wait_stdin = atoi(argv[2]) != 0;

    printf("ready %d\n", (int)getpid());
    fflush(stdout);

    if (!wait_stdin) {
        run(iterations);
        return 0;
    }
    while (read_line())
        run(iterations);
    return 0;
}
