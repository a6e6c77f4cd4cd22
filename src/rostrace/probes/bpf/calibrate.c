/* Calibration (rostrace/probes/calibrate.py): rostrace_calibrate's empty target
 * function gets the same entry+return pair as the receive path; the span from entry
 * to return is what a pair adds inside any span it measures. Only the calibration
 * process, for a second at start-up. */
BPF_HASH(calib_start, u32, u64, 64);
BPF_ARRAY(calib_span, u64, 2);      /* [0] sum of spans (ns), [1] count */

int on_calibrate_target(struct pt_regs *ctx)
{
    count_hit(HIT_CALIBRATE);
    u64 now = bpf_ktime_get_ns();
    u32 tid = (u32)current_pid_tgid();
    calib_start.update(&tid, &now);
    return 0;
}

int on_calibrate_target_return(struct pt_regs *ctx)
{
    count_hit(HIT_CALIBRATE_RETURN);
    u64 now = bpf_ktime_get_ns();
    u32 tid = (u32)current_pid_tgid();
    u64 *start = calib_start.lookup(&tid);
    if (!start)
        return 0;
    u32 sum_i = 0, count_i = 1;
    u64 *sum = calib_span.lookup(&sum_i), *count = calib_span.lookup(&count_i);
    if (sum && count) {
        __sync_fetch_and_add(sum, now - *start);
        __sync_fetch_and_add(count, 1);
    }
    calib_start.delete(&tid);
    return 0;
}

/* Loaded at start-up to learn whether this kernel attaches uprobes as links
 * (probes/links.py); attached for an instant, it does nothing. */
int rostrace_link_check(struct pt_regs *ctx)
{
    return 0;
}
