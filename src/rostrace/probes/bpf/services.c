/* roscpp services in every traced process: entry probes only (a handler may throw, and
 * a return probe on a function an exception leaves kills the target).
 *
 * Server side, per ServicePublication* (3 entries per request):
 *   poll thread     ServicePublication::processRequest   the request was read; roscpp
 *                                                        queues a ServiceCallback
 *   spinner         ServiceCallback::call                 its turn: queuing ends
 *   spinner         ServiceClientLink::processResponse    the handler returned (ok or
 *                                                        not) and the response is
 *                                                        serialized: handling ends
 * The request and its callback pair by the request buffer (the shared_array roscpp
 * hands from one to the other); the callback and its response by thread. A handler that
 * throws is caught inside ServiceCallback::call, which then responds "failed" with the
 * exception's text; a handler that returns false responds with the ok byte and a
 * uint32 0 (FALSE_RESPONSE_BYTES): that tells the two apart (an exception whose what()
 * is empty reads as a false).
 *
 * Client side, per service name (2 entries per call, 3 for the ServiceClient API):
 *   caller thread   ServiceClient::call          (non-persistent: lookup + connect next)
 *   caller thread   ServiceServerLink::call      the request is queued on the link
 *   poll thread     ServiceServerLink::callFinished  the response was read; the caller
 *                                                    is woken
 * and the call ends when the caller runs again (its next sched_switch in, sched.c; at
 * callFinished when its thread is not accounted or already running) -- what the
 * caller's own clock around ServiceClient::call sees, minus deserializing the response.
 * Pairing is per link: calls queued at once on one persistent link from several
 * threads pair with the latest one. See clients/roscpp/src/libros/service_*.cpp. */

struct request_key {
    u32 tgid;
    u32 pad;
    u64 buf;
};

struct request {
    u64 t;
    u64 publication;
};

struct serving {
    u64 t_request;
    u64 t_call;
    u64 publication;
};

struct client_call {
    u64 t_start;            /* ServiceClient::call, or the link's call */
    u64 t_link;             /* ServiceServerLink::call */
    u64 name;               /* hash of the service name */
    u32 persistent;
    u32 caller;             /* the calling thread */
    u32 tgid;
    u32 failed;             /* the server answered failed (at callFinished) */
};

BPF_TABLE("lru_hash", struct request_key, struct request, service_requests, 4096);
BPF_TABLE("lru_hash", u32, struct serving, service_serving, 4096);      /* tid -> */
BPF_TABLE("lru_hash", u32, u64, client_starts, 4096);                   /* tid -> t */
BPF_TABLE("lru_hash", struct object_key, struct client_call, client_calls, 4096);
BPF_HASH(client_names, u64, struct service_name, 1024);
BPF_TABLE("lru_hash", u32, struct client_call, client_resumes, 4096);   /* caller tid -> */

/* A finished call's numbers, `now` the moment its caller runs again. */
static __always_inline void record_client_call(struct client_call *call, u64 now)
{
    u32 g;
    u64 *w = enter_generation(&g);
    if (!w)
        return;
    u32 tgid = call->tgid;
    record_in(g, tgid, call->name, CLIENT_ROUND_TRIP, now - call->t_start);
    if (!call->persistent)
        record_in(g, tgid, call->name, CLIENT_CONNECT, call->t_link - call->t_start);
    record_in(g, tgid, call->name, CLIENT_CALLS, 1);
    if (call->failed)
        record_in(g, tgid, call->name, CLIENT_FAILED, 1);
    leave_generation(w);
}

static __always_inline void client_call_resumed(u32 tid, u64 now)
{
    struct client_call *call = client_resumes.lookup(&tid);
    if (!call)
        return;
    struct client_call done = *call;
    client_resumes.delete(&tid);
    record_client_call(&done, now);
}

int on_service_process_request(struct pt_regs *ctx)
{
    count_hit(HIT_SERVICE);
    u32 tgid = current_pid_tgid() >> 32;
    if (!traced_tgids.lookup(&tgid))
        return 0;
    /* processRequest(this, boost::shared_array<uint8_t> buf (by hidden reference), ...) */
    struct request_key key = {.tgid = tgid};
    if (bpf_probe_read_user(&key.buf, sizeof(key.buf), (void *)PT_REGS_PARM2(ctx)) ||
        !key.buf)
        return 0;
    struct request r = {.t = bpf_ktime_get_ns(), .publication = PT_REGS_PARM1(ctx)};
    service_requests.update(&key, &r);
    return 0;
}

int on_service_callback_call(struct pt_regs *ctx)
{
    count_hit(HIT_SERVICE);
    u64 id = current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    struct request_key key = {.tgid = tgid};
    if (bpf_probe_read_user(&key.buf, sizeof(key.buf),
                            (void *)(PT_REGS_PARM1(ctx) + SC_BUFFER_OFFSET)))
        return 0;
    struct request *r = service_requests.lookup(&key);
    if (!r)
        return 0;           /* queued before tracing began, or not a traced process */
    struct serving s = {.t_request = r->t, .t_call = bpf_ktime_get_ns(),
                        .publication = r->publication};
    service_requests.delete(&key);
    service_serving.update(&tid, &s);
    return 0;
}

int on_service_process_response(struct pt_regs *ctx)
{
    count_hit(HIT_SERVICE);
    u64 now = bpf_ktime_get_ns();
    u64 id = current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    struct serving *s = service_serving.lookup(&tid);
    if (!s)
        return 0;
    u64 pub = s->publication, queued = s->t_call - s->t_request, handled = now - s->t_call;
    if (capture_on()) {
        struct span_event *e = span_start(SPAN_SERVICE, tgid, tid, pub);
        if (e) {
            e->t0 = s->t_request;
            e->t1 = s->t_call;
            e->t2 = now;
            span_submit(ctx, e);
        }
    }
    service_serving.delete(&tid);
    /* processResponse(this, bool ok, const SerializedMessage& res) */
    u8 ok = (u8)PT_REGS_PARM2(ctx);
    u64 bytes = 0;
    bpf_probe_read_user(&bytes, sizeof(bytes), (void *)(PT_REGS_PARM3(ctx) + SM_NUM_BYTES_OFFSET));
    u32 g;
    u64 *w = enter_generation(&g);
    if (!w)
        return 0;
    record_in(g, tgid, pub, SERVICE_QUEUING, queued);
    record_in(g, tgid, pub, SERVICE_HANDLING, handled);
    record_in(g, tgid, pub, SERVICE_REQUESTS, 1);
    if (!ok)
        record_in(g, tgid, pub, bytes == FALSE_RESPONSE_BYTES ? SERVICE_FAILED : SERVICE_THREW, 1);
    leave_generation(w);
    return 0;
}

int on_service_client_call(struct pt_regs *ctx)
{
    count_hit(HIT_CLIENT);
    u64 id = current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    if (!traced_tgids.lookup(&tgid))
        return 0;
    u64 now = bpf_ktime_get_ns();
    client_starts.update(&tid, &now);
    return 0;
}

/* The FNV-1a hash of the link's service name; the name kept for user space. */
static __always_inline u64 service_name_hash(u64 link)
{
    u64 str = 0;
    struct service_name n = {};
    if (bpf_probe_read_user(&str, sizeof(str), (void *)(link + SSL_NAME_OFFSET)) ||
        bpf_probe_read_user_str(n.text, sizeof(n.text), (void *)str) <= 0)
        return 0;
    u64 h = 14695981039346656037ULL;
#pragma unroll
    for (int i = 0; i < SERVICE_NAME_BYTES; i++) {
        if (!n.text[i])
            break;
        h = (h ^ n.text[i]) * 1099511628211ULL;
    }
    if (!client_names.lookup(&h))
        client_names.update(&h, &n);
    return h;
}

int on_service_link_call(struct pt_regs *ctx)
{
    count_hit(HIT_CLIENT);
    u64 id = current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    if (!traced_tgids.lookup(&tgid))
        return 0;
    u64 now = bpf_ktime_get_ns();
    struct object_key key = {.tgid = tgid, .object = PT_REGS_PARM1(ctx)};
    struct client_call c = {.t_start = now, .t_link = now, .caller = tid, .tgid = tgid};
    u64 *start = client_starts.lookup(&tid);
    if (start && *start <= now) {
        c.t_start = *start;
        client_starts.delete(&tid);
    }
    u8 persistent = 0;
    bpf_probe_read_user(&persistent, 1, (void *)(key.object + SSL_PERSISTENT_OFFSET));
    c.persistent = persistent;
    c.name = service_name_hash(key.object);
    if (c.name)
        client_calls.update(&key, &c);
    return 0;
}

int on_service_call_finished(struct pt_regs *ctx)
{
    count_hit(HIT_CLIENT);
    u64 now = bpf_ktime_get_ns();
    u32 tgid = current_pid_tgid() >> 32;
    struct object_key key = {.tgid = tgid, .object = PT_REGS_PARM1(ctx)};
    struct client_call *c = client_calls.lookup(&key);
    if (!c)
        return 0;
    struct client_call call = *c;
    client_calls.delete(&key);
    u64 info = 0;
    u8 success = 1;
    if (!bpf_probe_read_user(&info, sizeof(info),
                             (void *)(key.object + SSL_CURRENT_CALL_OFFSET)) && info)
        bpf_probe_read_user(&success, 1, (void *)(info + CALL_INFO_SUCCESS_OFFSET));
    call.failed = !success;
    u32 caller = call.caller;
    struct thread_acct *a = threads.lookup(&caller);
    if (a && a->state != THREAD_RUNNING && !client_resumes.update(&caller, &call)) {
        a->call_pending = 1;        /* ends at its next switch in (sched.c) */
        return 0;
    }
    record_client_call(&call, now);
    return 0;
}
