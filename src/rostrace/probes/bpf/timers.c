/* roscpp timers, per timer (TimerManager<T, D, E>::TimerInfo*), in every traced process.
 *
 * One uprobe entry per firing: TimerManager<T, D, E>::schedule(info), which roscpp's
 * TimerQueueCallback::call runs right after the user callback returned (on the spinner
 * thread) and before it moves the timer on. TimerInfo then holds this firing's expected
 * start (next_expected: updateNext() has not run yet), its real start (last_real, taken
 * just before the callback), when the timer thread queued it (last_expired) and the
 * callback's duration (last_cb_duration, roscpp's own steady-clock measure). The three
 * instantiations in libroscpp (ros::Time, WallTime, SteadyTime) have one handler each,
 * for the kind; their layouts are the same (rostrace.h enum timer_info_layout).
 *
 * Missed periods: when the callback ends after the next firing's expected time plus a
 * period, updateNext() drops the firings in between and fires once, at once; those are
 * counted here as floor((end - next) / period), end = real start + duration.
 * No return probe: an exception leaving a timer callback passes through schedule()'s
 * caller, never through schedule(). See clients/roscpp/include/ros/timer_manager.h. */

/* roscpp takes a firing's duration just around the callback: a wait that began this
 * much before (now - duration) still counts as the callback's. */
#define TF_TIMER_SLACK_NS 200000ULL

/* A roscpp Time/Duration (uint32 or int32 sec, nsec) in ns. */
static __always_inline u64 time_ns(const u32 *t)
{
    return (u64)t[0] * 1000000000ULL + t[1];
}

static __always_inline void timer_fired(struct pt_regs *ctx, u32 kind)
{
    count_hit(HIT_TIMER);
    u64 id = current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    u8 *flags = traced_tgids.lookup(&tgid);
    if (!flags)
        return;
    u64 tf = *flags & TGID_TF;
    u64 info = 0;           /* schedule(const boost::shared_ptr<TimerInfo>& info) */
    if (bpf_probe_read_user(&info, sizeof(info), (void *)PT_REGS_PARM2(ctx)) || !info)
        return;
    u32 period[2] = {}, t[10] = {};     /* from last_cb_duration to last_expired */
    if (bpf_probe_read_user(period, sizeof(period), (void *)(info + TI_PERIOD_OFFSET)) ||
        bpf_probe_read_user(t, sizeof(t), (void *)(info + TI_LAST_CB_DURATION_OFFSET)))
        return;
    u64 duration = time_ns(&t[0]);
    u64 expected = time_ns(&t[(TI_NEXT_EXPECTED_OFFSET - TI_LAST_CB_DURATION_OFFSET) / 4]);
    u64 real = time_ns(&t[(TI_LAST_REAL_OFFSET - TI_LAST_CB_DURATION_OFFSET) / 4]);
    u64 expired = time_ns(&t[(TI_LAST_EXPIRED_OFFSET - TI_LAST_CB_DURATION_OFFSET) / 4]);
    u64 p = time_ns(period);
    u64 missed = 0, next = expected + p, end = real + duration;
    if (p && next + p < end)
        missed = (end - next) / p;
    /* The TF waits of this thread since this firing began (tf.c) are the callback's. */
    u64 tf_wait = 0, now = bpf_ktime_get_ns();
    if (tf) {
        struct tf_thread_wait *tw = tf_thread_waits.lookup(&tid);
        if (tw) {
            if (tw->first_ns + duration + TF_TIMER_SLACK_NS >= now)
                tf_wait = tw->wait_ns;
            tf_thread_waits.delete(&tid);
        }
    }
    u32 g;
    u64 *w = enter_generation(&g);
    if (!w)
        return;
    record_in(g, tgid, info, TIMER_FIRINGS, kind);
    if (tf)
        record_in(g, tgid, info, TIMER_TF_WAIT, tf_wait);
    record_in(g, tgid, info, TIMER_LATENESS, real > expected ? real - expected : 0);
    record_in(g, tgid, info, TIMER_QUEUING, real > expired ? real - expired : 0);
    record_in(g, tgid, info, TIMER_DURATION, duration);
    record_in(g, tgid, info, TIMER_MISSED, missed);
    leave_generation(w);
    if (capture_on()) {
        struct span_event *e = span_start(SPAN_TIMER, tgid, (u32)current_pid_tgid(),
                                          info);
        if (e) {
            e->t0 = now > duration ? now - duration : now;
            e->t1 = now;
            span_submit(ctx, e);
        }
    }
}

int on_timer_schedule(struct pt_regs *ctx)
{
    timer_fired(ctx, TIMER_ROS);
    return 0;
}

int on_wall_timer_schedule(struct pt_regs *ctx)
{
    timer_fired(ctx, TIMER_WALL);
    return 0;
}

int on_steady_timer_schedule(struct pt_regs *ctx)
{
    timer_fired(ctx, TIMER_STEADY);
    return 0;
}
