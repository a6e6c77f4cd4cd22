"""Benchmark results -> bench/results/RESULTS.md (+ all.json, PNG plots)."""
import json
import os

from bench.measure import fmt


def _plots(results, out_dir):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = []
    rows = results.get('traced_overhead') or []
    if rows:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        x = range(len(rows))
        ax.bar([i - 0.2 for i in x], [r['untraced_us']['median'] for r in rows], 0.4,
               label='untraced')
        ax.bar([i + 0.2 for i in x], [r['traced_us']['median'] for r in rows], 0.4,
               label='traced by rostrace')
        ax.set_xticks(list(x), [f'{r["rate"]} msg/s' for r in rows])
        ax.set_ylabel('subscriber CPU per message (us)')
        ax.legend()
        fig.savefig(os.path.join(out_dir, 'traced_overhead.png'), dpi=90, bbox_inches='tight')
        plt.close(fig)
        names.append('traced_overhead.png')
    scale = results.get('monitor_scale')
    if scale:
        fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
        for ax, (key, xkey, label) in zip(axes, (('rate', 'msgs_per_s', 'total msg/s'),
                                                 ('topics', 'topics', 'traced topics'),
                                                 ('nodes', 'nodes', 'traced nodes'))):
            ax.plot([r[xkey] for r in scale[key]], [r['cpu_percent']['median'] for r in scale[key]], 'o-')
            ax.set_xscale('log')
            ax.set_xlabel(label)
            ax.set_ylabel('monitor CPU (% of a core)')
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, 'monitor_scale.png'), dpi=90, bbox_inches='tight')
        plt.close(fig)
        names.append('monitor_scale.png')
    return names


def markdown(results):
    m = results['machine']
    out = [f'Machine: {m["os"]}, kernel {m["kernel"]}, {m["cpus"]} CPUs ({m["cpu_model"]}), '
           f'BCC {m["bcc"]}. Median of the runs (min–max). `make bench` took '
           f'{results.get("duration_s", 0):.0f} s.', '']
    rerun = results.get('rerun')
    if rerun:
        dates = {}
        for name, date in rerun.items():
            dates.setdefault(date, []).append(name)
        told = '; '.join(f'{", ".join(names)} on {date}' for date, names in sorted(dates.items()))
        full = results.get('duration_s')
        out[0] = (f'Machine: {m["os"]}, kernel {m["kernel"]}, {m["cpus"]} CPUs ({m["cpu_model"]}), '
                  f'BCC {m["bcc"]}. Median of the runs (min–max). The last full `make bench` '
                  f'took {full or 0:.0f} s; re-run alone after it (`BENCH_ONLY=...`): {told}.')
    r = results.get('raw_probe_cost')
    if r:
        out += ['**1. Raw probe cost** (tight loop, thread CPU per call, '
                f'{r["calls"]} calls × {r["entry_ns"]["n"]} runs; {r["note"]})', '',
                '| | ns per call |', '|---|---|',
                f'| uprobe entry | {fmt(r["entry_ns"])} |',
                f'| entry + uretprobe return | {fmt(r["entry_return_ns"])} |',
                f'| return alone (difference) | {r["return_ns"]:.1f} |', '']
    rows = results.get('traced_overhead')
    if rows:
        out += ['**2. Traced subscriber overhead** (CPU of the subscriber node per message, '
                'µs; hits counted in BPF)', '',
                '| rate | untraced | traced | added | entries+returns / msg | raw cost × hits '
                '| added ÷ raw |', '|---|---|---|---|---|---|---|']
        for x in rows:
            out.append(f'| {x["rate"]} msg/s | {fmt(x["untraced_us"])} | {fmt(x["traced_us"])} '
                       f'| {fmt(x["added_us"])} | {x["entries_per_msg"]:.2f} + '
                       f'{x["returns_per_msg"]:.2f} | {x["expected_from_raw_us"]:.1f} | '
                       f'{x["ratio_to_raw"]:.2f} |')
        out += ['']
    rows = results.get('publisher_overhead')
    if rows:
        out += ['**2b. Traced publisher overhead** (CPU of the publishing node per message, '
                'µs; its 2 uprobe entries per message and the sendto tracepoint hits per '
                'subscriber socket counted in BPF)', '',
                '| rate | subscribers | untraced | traced | added | entries / msg '
                '| sendto hits / msg | raw entry cost × entries |',
                '|---|---|---|---|---|---|---|---|']
        for x in rows:
            out.append(f'| {x["rate"]} msg/s | {x["subscribers"]} | {fmt(x["untraced_us"])} '
                       f'| {fmt(x["traced_us"])} | {fmt(x["added_us"])} '
                       f'| {x["entries_per_msg"]:.2f} | {x["send_hits_per_msg"]:.2f} '
                       f'| {x["expected_from_raw_us"]:.1f} |')
        out += ['']
    b = results.get('bystander')
    if b:
        out += ['**3. Untraced roscpp node while rostrace traces another** '
                f'({b["rate"]} msg/s, CPU per message)', '',
                '| without tracing | with tracing | ratio |', '|---|---|---|',
                f'| {fmt(b["untraced_node_us_without"], " µs")} | '
                f'{fmt(b["untraced_node_us_with"], " µs")} | {fmt(b["ratio"], "", 3)} |', '']
    s = results.get('monitor_scale')
    if s:
        out += ['**4. Monitor CPU and memory** (rostrace_monitor at 1 Hz, default '
                '`monitor_cpu_percent` 15, something subscribed to /diagnostics; 1 s samples '
                'after attaching (five; twelve for the topics rows, after 30 s), their median '
                'and spread, and the CPU over all of them; stop: SIGINT to exit, every '
                'probe detached)', '',
                '| load | monitor CPU (% of a core), 1 s samples | over all samples | '
                'publishing period (s) | lost samples | RSS (MiB) | stop (s) |',
                '|---|---|---|---|---|---|---|']
        rows = ([(f'{x["msgs_per_s"]} msg/s over 10 topics', x) for x in s['rate']]
                + [(f'{x["topics"]} topics at 1 Hz', x) for x in s['topics']]
                + [(f'{x["nodes"]} nodes, {x.get("topics_per_node", 1)} topics each', x)
                   for x in s['nodes']])
        for label, x in rows:
            overall = x.get('cpu_percent_overall')
            lost = x.get('lost_hist', -1) + x.get('lost_stats', -1) if 'lost_hist' in x else ''
            out.append(f'| {label} | {fmt(x["cpu_percent"], "", 2)} | '
                       f'{"" if overall is None else f"{overall:.1f}"} | '
                       f'{x.get("publish_period_s", float("nan")):.2f} | {lost} | '
                       f'{x["rss_mib"]:.0f} | {x.get("stop_s", float("nan")):.2f} |')
        out.append('')
    f = results.get('first_breakdown')
    if f:
        out += ['**5. From a node registering to its first breakdown** (monitor at '
                f'{f["publish_rate_hz"]} Hz)', '',
                f'attached after {fmt(f["to_attach_s"], " s", 2)}; first LatencyBreakdown after '
                f'{fmt(f["to_first_breakdown_s"], " s", 2)}.', '']
    a = results.get('accuracy')
    if a:
        out += ['**6. Accuracy against the scenario nodes\' own steady_clock truth**', '',
                '| scenario | stage | n | rostrace mean | truth mean | error | rostrace p99 | '
                'truth p99 | error |', '|---|---|---|---|---|---|---|---|---|']
        for x in a['stages']:
            out.append(f'| {x["scenario"]} | {x["stage"]} | {x["n"]} | '
                       f'{x["rostrace_mean_ms"]:.3f} ms | {x["truth_mean_ms"]:.3f} ms | '
                       f'{x["mean_error_pct"]:+.2f} % | {x["rostrace_p99_ms"]:.3f} ms | '
                       f'{x["truth_p99_ms"]:.3f} ms | {x["p99_error_pct"]:+.2f} % |')
        d = a['drops']
        out += ['', f'Drops, {d["scenario"]}, {d["published"]} published: rostrace '
                f'{d["rostrace_dropped"]} dropped / {d["rostrace_received"]} received; the node '
                f'inferred {d["truth_dropped"]} dropped / {d["truth_received"]} received.', '']
    v = results.get('versus_builtins')
    if v:
        out += ['**7. Against what ROS users run today** (subscriber at '
                f'{v[0]["rate"]} msg/s; CPU per message, µs)', '',
                '| observer | subscriber | observer process | total |', '|---|---|---|---|']
        for x in v:
            total = x['subscriber_us']['median'] + x['observer_us']['median']
            out.append(f'| {x["mode"]} | {fmt(x["subscriber_us"])} | {fmt(x["observer_us"])} | '
                       f'{total:.1f} |')
        out.append('')
    t = results.get('sched_tracepoints')
    if t:
        ns = t['ns_per_switch']
        out += ['**8. Scheduler tracepoints per context switch** (pipe ping-pong between two '
                f'processes on one CPU, {t["round_trips"]} round trips; wall time per switch, ns)', '',
                '| tracepoints | ns per switch | added |', '|---|---|---|',
                f'| detached | {fmt(ns["detached"])} | |',
                f'| attached, processes not traced | {fmt(ns["untraced"])} | '
                f'{t["added_untraced_ns"]:+.0f} |',
                f'| attached, processes traced | {fmt(ns["traced"])} | '
                f'{t["added_traced_ns"]:+.0f} |', '']
    m = results.get('versus_minimal')
    if m:
        ratio = fmt(m['ratio'], '', 2) if m['ratio'] else 'n/a'
        rows = [f'| minimal: 4 counting uprobes (bench/minimal.py) | '
                f'{m["minimal_hits_per_msg"]:.2f} | {fmt(m["minimal_added_us"])} | 1 |',
                f'| rostrace receive path | {m["rostrace_hits_per_msg"]:.2f} | '
                f'{fmt(m["rostrace_added_us"])} | {ratio} |']
        if m.get('no_split_added_us'):
            rows.append(f'| rostrace without the scheduler split | '
                        f'{m["rostrace_hits_per_msg"]:.2f} | {fmt(m["no_split_added_us"])} | '
                        f'{fmt(m["no_split_ratio"], "", 2) if m["no_split_ratio"] else "n/a"} |')
        pinned = ('; subscriber on one CPU, publisher on the other' if m.get('pinned') else '')
        out += [f'**11. rostrace against the simplest tracer** (subscriber at {m["rate"]} msg/s, '
                f'{m.get("rounds", 5)} interleaved rounds{pinned}; added CPU of the traced node '
                'per message, µs; hits per message counted in BPF; ratio to the minimal tracer '
                'per round)', '',
                '| tracer | hits / msg | added µs / msg | ÷ minimal |', '|---|---|---|---|',
                *rows, '', f'Untraced node: {fmt(m["untraced_us"], " µs")} per message.', '']
    a = results.get('attach_stall')
    if a:
        out += [f'**12. An untraced pair while rostrace attaches elsewhere** ({a["rate"]} msg/s, '
                f'{a["messages"]} messages per round; latency publish → callback start from the '
                f'nodes\' own truth, µs; {a["attaches_per_round"]} attach+detach of another node '
                'per round)', '', '| | p50 | p99 | max |', '|---|---|---|---|']
        for mode in ('quiet', 'attaching'):
            out.append(f'| {mode} | {fmt(a[mode]["p50_us"])} | {fmt(a[mode]["p99_us"])} | '
                       f'{fmt(a[mode]["max_us"])} |')
        out.append('')
    h = results.get('handler_time')
    if h:
        ratio = h['rostrace_ns_per_msg']['median'] / max(h['minimal_ns_per_msg']['median'], 1)
        out += [f'**13. Time inside the BPF handlers per message** (subscriber at {h["rate"]} '
                'msg/s; the kernel\'s run_time_ns per program with kernel.bpf_stats_enabled=1, '
                'which itself adds two clock reads per run; scheduler and page-fault '
                'tracepoints count every task on the machine)', '',
                '| handler | runs / msg | ns / msg |', '|---|---|---|']
        out += [f'| {name} | {v["runs_per_msg"]:.2f} | {v["ns_per_msg"]:.0f} |'
                for name, v in h['handlers'].items()]
        out += ['', f'rostrace {fmt(h["rostrace_ns_per_msg"], " ns", 0)} per message in its '
                f'handlers; the minimal tracer {fmt(h["minimal_ns_per_msg"], " ns", 0)} '
                f'({ratio:.0f}×). The trap itself is not in these numbers (section 11 has it).',
                '']
    c = results.get('link_cost')
    if c:
        split = ('tracepoint__tcp__tcp_probe', 'tracepoint__syscalls__sys_exit_recvfrom')
        split_ns = sum(c['handlers'].get(n, {}).get('ns_per_msg', 0) for n in split)
        out += [f'**15. A traced publisher feeding a traced subscriber** ({c["rate"]} msg/s, '
                'the connection matched in the kernel; CPU of both processes in µs per '
                'message, and the BPF run time per handler as in section 13)', '',
                '| untraced | traced | added |', '|---|---|---|',
                f'| {fmt(c["untraced_us"])} | {fmt(c["traced_us"])} | {fmt(c["added_us"])} |',
                '', '| handler | runs / msg | ns / msg |', '|---|---|---|']
        out += [f'| {name} | {v["runs_per_msg"]:.2f} | {v["ns_per_msg"]:.0f} |'
                for name, v in c['handlers'].items()]
        out += ['', f'The transport split (tcp_probe + recvfrom exit) takes {split_ns:.0f} ns '
                'per message of that.', '']
    b = results.get('budget')
    if b:
        back = b['windows_until_full_at_50']
        out += [f'**14. Overhead budget** (subscriber at {b["rate"]} msg/s, '
                f'`budget: {{cpu_percent: {b["budget_percent"]:g}}}`, {b["window_s"]} s windows; '
                'CPU of the subscriber in % of one core, measured after the first second)', '',
                '| | CPU % of a core |', '|---|---|',
                f'| untraced | {fmt(b["untraced_percent"], "", 2)} |',
                f'| traced with the budget | {fmt(b["traced_percent"], "", 2)} |',
                f'| added | {fmt(b["added_percent"], "", 2)} |', '',
                f'Modes chosen: {", ".join(b["modes"])}; rostrace\'s own estimate there '
                f'{fmt(b["estimate_percent"], " %", 2)}. At 50 msg/s the full breakdown was back '
                f'after {back if back is not None else "more than 16"} windows '
                f'({" → ".join(_runs(b["low_rate_modes"]))}).', '']
    t = results.get('tf_actions_cost')
    if t:
        tf, ac = t['tf'], t['actions']
        out += [f'**16. tf2 lookups and actionlib** (issue 17; {t["rate"]} lookups/s of a static '
                f'transform, and an action server sending feedback {t["rate"]} times a second to '
                f'a client; each against the same traced nodes without it, {t["seconds"]:g} s '
                'interleaved rounds; CPU of the traced processes in µs)', '',
                '| | without | with | added |', '|---|---|---|---|',
                f'| per tf2 lookup ({tf["hits_per_lookup"]:.1f} hits) | {fmt(tf["untraced_us"])} | '
                f'{fmt(tf["traced_us"])} | {fmt(tf["added_us"])} |',
                f'| per action message (feedback, no extra hit) | {fmt(ac["without_us"])} | '
                f'{fmt(ac["with_us"])} | {fmt(ac["added_us"])} |', '',
                f'The tracer parses each followed action message in '
                f'{fmt(ac["tracer_us_per_message"], " µs")} of its own CPU (user space, '
                'with the rest of its window).', '']
    k = results.get('soak')
    if k:
        out += [f'**10. Soak** ({k["seconds"]:.0f} s): target SIGKILL + restart '
                f'x{k["target_kills"]}, master restart x{k["master_restarts"]}: re-attached every '
                f'time; monitor SIGKILL x{k["monitor_kills"]}: no breakpoint and no uprobe entry '
                'left. The surviving monitor:', '',
                '| after | open fds | RSS (MiB) |', '|---|---|---|']
        out += [f'| {u["phase"]} | {u["fds"]} | {u["rss_mib"]:.1f} |' for u in k['monitor_usage']]
        out.append('')
    return '\n'.join(out)


def _runs(modes):
    """['counts', 'reduced', 'reduced', 'full'] -> ['counts', 'reduced ×2', 'full']."""
    out = []
    for mode in modes:
        if out and out[-1][0] == mode:
            out[-1][1] += 1
        else:
            out.append([mode, 1])
    return [m if n == 1 else f'{m} ×{n}' for m, n in out]


def write_results(results, out_dir):
    with open(os.path.join(out_dir, 'all.json'), 'w') as f:
        json.dump(results, f, indent=1)
    text = markdown(results)
    plots = _plots(results, out_dir)
    with open(os.path.join(out_dir, 'RESULTS.md'), 'w') as f:
        f.write('# rostrace benchmark results\n\n' + text + '\n'
                + ''.join(f'![{p}]({p})\n' for p in plots))
    return text
