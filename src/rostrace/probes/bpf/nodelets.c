/* Nodelets (engine/nodelets.py): which nodelet's queue a subscription queue feeds.
 *
 * nodelet::detail::CallbackQueue::addCallback(this, const shared_ptr<CallbackInterface>& cb,
 * u64 owner) is what Subscription::handleMessage calls right after pushing a message on
 * a SubscriptionQueue (cb points at that queue) when the subscription's NodeHandle has a
 * nodelet's queue. Timer and service callbacks pass through it too: only queues the push
 * side already knows (queue_states, subscriber.c) are kept. One hit per message, so the
 * probe is in a manager only until each of its queues is mapped (user space takes it out).
 */
BPF_HASH(nodelet_queues, struct object_key, u64, 4096);    /* SubscriptionQueue* -> nodelet queue */

int on_nodelet_add_callback(struct pt_regs *ctx)
{
    count_hit(HIT_NODELET);
    u32 tgid = current_pid_tgid() >> 32;
    if (!traced_tgids.lookup(&tgid))
        return 0;
    struct object_key qk = {.tgid = tgid};
    if (bpf_probe_read_user(&qk.object, sizeof(qk.object), (void *)PT_REGS_PARM2(ctx)))
        return 0;
    if (!queue_states.lookup(&qk))
        return 0;
    u64 nodelet_queue = PT_REGS_PARM1(ctx);
    nodelet_queues.update(&qk, &nodelet_queue);
    return 0;
}
