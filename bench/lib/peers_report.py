#!/usr/bin/env python3
"""bench/peers.sh's report: results.tsv + meta -> <out>.md and two gnuplot PNGs.

usage: peers_report.py <results.tsv> <meta> <out prefix>

results.tsv: workload, peer, value, detail (tab-separated).  value is a
number (messages/s; commits/s for the ceiling; claims/s for depth_<D>), or
text starting with "n/a:", "skipped:" or "error:".  For depth_<D> the detail
is "count avg_ms p99_ms depth_after".
meta: key, value (tab-separated): versions, settings, the command.
"""
import collections
import os
import shutil
import subprocess
import sys

tsv, meta_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
base = os.path.basename(out)

meta = collections.OrderedDict()
for line in open(meta_path):
    k, _, v = line.rstrip('\n').partition('\t')
    meta[k] = v

R = collections.defaultdict(dict)       # workload -> peer -> (value, detail)
order = []
for line in open(tsv):
    line = line.rstrip('\n')
    if not line:
        continue
    w, p, v, d = (line.split('\t') + [''] * 4)[:4]
    R[w][p] = (v, d)
    if w not in order:
        order.append(w)

peers = meta.get('peers', '').split()
FQS = ('fqs', 'fqs_array')


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt(x, nd=0):
    return f"{x:,.{nd}f}"


# ---- notes for cells that hold no number
notes = collections.OrderedDict()


def note(text):
    if text not in notes:
        notes[text] = len(notes) + 1
    return notes[text]


def cell(w, p):
    v, d = R.get(w, {}).get(p, ('', ''))
    x = num(v)
    if x is not None:
        s = fmt(x)
        if 'time cap reached' in d:
            s += ' ᶜ'
        if p == 'pgq' and w.startswith('drain'):
            s += ' ¹ᶜˡ'
        return s
    if not v:
        return '—'
    kind = v.split(':', 1)[0]
    return f"{kind} [{note(v)}]"


# ---- throughput table
ROWS = [   # workload, label, commits per message (fqs; None: batched), short label for the plot
    ('enq1', 'enqueue, 1 per call', 1, 'enqueue 1'),
    ('enq100', 'enqueue, 100 per call', None, 'enqueue 100'),
    ('drain1', 'one-stage drain, claim 1 + ack', 2, 'drain 1'),
    ('drain10', 'one-stage drain, claim 10 + ack', None, 'drain 10'),
    ('drain1_c1', 'one-stage drain, claim 1, 1 client', 2, 'drain 1, C=1'),
    ('drain1_c64', 'one-stage drain, claim 1, 64 clients', 2, 'drain 1, C=64'),
    ('pipe1', 'per-key FIFO pipeline, claim 1', 4, 'FIFO 1'),
    ('pipe10', 'per-key FIFO pipeline, claim 10', None, 'FIFO 10'),
    ('pipe1_kbig', 'per-key FIFO pipeline, claim 1, K = KBIG keys', 4, 'FIFO 1, K=KBIG'),
]
COLOURS = {'naive': '#9e9e9e', 'naive_fifo': '#616161', 'pgq': '#1f77b4', 'pgmq': '#17becf',
           'fqs': '#d62728', 'fqs_array': '#8c1c13', 'pg-boss': '#2ca02c', 'graphile-worker': '#9467bd'}
ceil_vals = [num(R['ceiling'][k][0]) for k in ('start', 'end') if k in R.get('ceiling', {})]
ceil_vals = [c for c in ceil_vals if c is not None]
ceiling = sum(ceil_vals) / len(ceil_vals) if ceil_vals else None
def param(name, default=''):
    return next((t.split('=', 1)[1] for t in meta.get('params', '').split() if t.startswith(name + '=')), default)


kbig = param('KBIG', 'KBIG')

lines = []
P = lines.append
P(f"# fqs against its peers — {meta.get('stamp', '')}\n")
P(f"Command: `{meta.get('command', '')}` ({meta.get('mode', '')} mode; wall time {meta.get('wall', '?')}).\n")
P(f"- Machine: {meta.get('machine', '')}.")
P(f"- {meta.get('postgres', '')}; {meta.get('pgbench', '')}. One throw-away cluster for every peer "
  f"(each peer in its own database): {meta.get('settings', '')}.")
P(f"- Parameters: `{meta.get('params', '')}`.")
P(f"- fqs: {meta.get('fqs', '')}; {meta.get('fqs_after', '')}.")
P("- Versions: " + '; '.join(f"{p}: {meta['version_' + p]}" for p in peers if 'version_' + p in meta) + '.')
P('')
P("Every figure below comes from this one run; the peers ran one after the other on each workload, "
  "their order reversed from one workload to the next. The machine has 2 cores and other work ran on it: "
  "compare the ratios, not the absolute figures between runs.\n")
if ceiling:
    P(f"**Ceiling** (pgbench, {param('CLIENTS', '8')} clients, "
      "INSERT + UPDATE + DELETE of a trivial row as three autocommit statements): "
      + ', '.join(f"{fmt(num(R['ceiling'][k][0]))} commits/s at the {k}" for k in ('start', 'end')
                  if k in R['ceiling'] and num(R['ceiling'][k][0]) is not None)
      + (f"; the mean, {fmt(ceiling)} commits/s, is the ceiling below.\n" if len(ceil_vals) > 1 else
         " (measured once), the ceiling below.\n"))

has_rows = any(w in R for w, *_ in ROWS)
if has_rows:
    P("## Throughput, messages/s\n")
hdr = ['workload', 'commits per message (fqs)'] + peers + ['best peer', 'fqs ÷ best peer', 'fqs vs ceiling']
if has_rows:
    P('| ' + ' | '.join(hdr) + ' |')
    P('|' + '---|' * 2 + '---:|' * len(peers) + '---|---:|---|')
plotrows = []
for w, label, commits, short in ROWS:
    if w not in R:
        continue
    batched = commits is None
    kb = f"{int(kbig):,}" if kbig.isdigit() else kbig
    label, short = label.replace('KBIG', kb), short.replace('KBIG', kb)
    cells = [cell(w, p) for p in peers]
    fq = [(num(R[w].get(p, ('',))[0]), p) for p in FQS if p in peers]
    fq = [t for t in fq if t[0] is not None]
    others = [(num(R[w].get(p, ('',))[0]), p) for p in peers if p not in FQS]
    others = [t for t in others if t[0] is not None]
    best = max(others) if others else None
    fbest = max(fq) if fq else None
    bestcell = f"{best[1]} {fmt(best[0])}" if best else '—'
    ratio = f"**{fbest[0] / best[0]:.2f}**" + (f" ({fbest[1]})" if fbest[1] != 'fqs' else '') if best and fbest else '—'
    if ceiling and commits and fbest and not batched:
        bound = ceiling / commits
        vs = f"{fbest[0] / bound:.2f} of {fmt(bound)}"
    else:
        vs = '—'
    P('| ' + ' | '.join([label, str(commits) if commits else 'batched'] + cells + [bestcell, ratio, vs]) + ' |')
    plotrows.append((short, [num(R[w].get(p, ('',))[0]) for p in peers]))
if has_rows:
    P('')
    P("- Drains: the queue is preloaded (not timed), then the clients claim and acknowledge in two transactions "
      "until it is empty or the time cap is reached; messages/s = messages acknowledged ÷ wall time (less pgbench's connection set-up). "
      "ᶜ = time cap reached (the rate is over what was done). "
      "¹ᶜˡ = one client: a PgQ consumer is a single cursor.")
    P("- Per-key FIFO pipeline: fqs = both stages (fqs_claim → fqs_commit → fqs_claim_sequential → fqs_complete, "
      "4 commits per message); naive_fifo = claim of key heads + ack (2 commits per message, one stage). "
      "The messages are enqueued by the preload (not timed); enqueue is measured on its own rows.")
    P("- fqs ÷ best peer uses the better of the fqs columns (named when it is fqs_array) against the best other column. "
      "fqs vs ceiling = fqs messages/s ÷ (ceiling commits/s ÷ commits per message), for single-message rows only "
      "(the ceiling is measured with 8 clients, also for the 1- and 64-client rows).")
if notes:
    P('')
    for text, n in notes.items():
        P(f"[{n}] {text}  ")
P('')

# ---- depth
depths = sorted({int(w.split('_')[1]) for w in R if w.startswith('depth_')})
series = []
for d in depths:
    for s in R[f"depth_{d}"]:
        if s not in series:
            series.append(s)
if depths:
    P("## Latency against depth\n")
    P(f"Claim 1 + ack cycle (two transactions), average / p99 in ms, at a preloaded depth D; "
      f"{param('DEPTH_CLIENTS', '4')} clients, each running an enqueue or a claim cycle at random 1:1, so the depth stays near D; "
      "claims/s in brackets. `pipeline` series: the claim cycle is the per-key FIFO pipeline script. "
      "`redox` series: the Redox shape, every key's head unprocessed (fqs: delivered only in a day; "
      "naive_fifo: taken by a stuck worker) and the D messages behind the heads (fqs: processed by the "
      "concurrent stage, waiting for their heads in the sequential one; naive_fifo: waiting), so the "
      "sequential claim (fqs) or the claim (naive_fifo) finds nothing to release.\n")
    P('| depth | ' + ' | '.join(series) + ' |')
    P('|---:|' + '---:|' * len(series))
    lat = {}
    for d in depths:
        row = []
        for s in series:
            v, det = R[f"depth_{d}"].get(s, ('', ''))
            if num(v) is None:
                row.append(f"{v.split(':', 1)[0]} [{note(v)}]" if v else '—')
                continue
            c, avg, p99, *rest = det.split()
            lat[(d, s)] = (num(avg), num(p99))
            row.append(f"{float(avg):.2f} / {float(p99):.2f} ({fmt(num(v))}/s)")
        P(f"| {d:,} | " + ' | '.join(row) + ' |')
    if len(depths) > 1:
        lo, hi = depths[0], depths[-1]
        row = []
        for s in series:
            a, b = lat.get((hi, s)), lat.get((lo, s))
            row.append(f"{a[0] / b[0]:.2f} / {a[1] / b[1]:.2f}" if a and b and b[0] and b[1] else '—')
        P(f"| ratio {hi:,} ÷ {lo:,} | " + ' | '.join(row) + ' |')
    P('')

# ---- held snapshot
held = [(p, v, d) for p, (v, d) in R.get('held', {}).items()]
if held:
    P("## Held snapshot\n")
    P(f"One session holds a REPEATABLE READ snapshot and an xid in the peer's database for {param('HELD_SECS', '?')} "
      f"while 4 clients offer {param('HELD_RATE', '?')} transactions/s (pgbench `-R`), each at random an enqueue or a "
      "claim 1 + ack cycle. Latency is counted from the scheduled start, so a peer that falls behind the offered rate "
      "shows it. Dead tuples and sizes: all of the peer's tables.\n")
    first10 = {}
    for line in open(tsv):
        f = line.rstrip('\n').split('\t')
        if len(f) >= 4 and f[0] == 'held_w' and f[2] == '0':
            first10[f[1]] = num(f[3].split()[1])
    P('| peer | claims/s, first minute | claims/s, last minute | p99 ms, first 10 s | p99 ms, first minute | '
      'p99 ms, last minute | p99 last minute ÷ first minute | dead tuples, start → end | tables MB, start → end | '
      'snapshot age at the end, xids |')
    P('|---|---:|---:|---:|---:|---:|---:|---|---|---:|')
    for p, v, d in held:
        f = d.split()
        if num(v) is None or len(f) < 9:
            P(f"| {p} | {v} |" + ' |' * 8)
            continue
        c1, p1, c2, p2, d0, s0, d1, s1, age = f[:9]
        ratio = f"**{float(p2) / float(p1):.1f}**" if float(p1) else '—'
        p10 = f"{first10[p]:,.2f}" if first10.get(p) is not None else '—'
        P(f"| {p} | {fmt(num(c1))} | {fmt(num(c2))} | {p10} | {float(p1):,.2f} | {float(p2):,.2f} | {ratio} | "
          f"{fmt(num(d0))} → {fmt(num(d1))} | {num(s0) / 1048576:,.1f} → {num(s1) / 1048576:,.1f} | {fmt(num(age))} |")
    P('')

# ---- wake-up and storage (fqs only)
wk = R.get('wakeup', {}).get('fqs')
if wk and num(wk[0]) is not None:
    med, p99, p90, mx, nc, ns = (wk[1].split() + [''] * 6)[:6]
    P("## Wake-up\n")
    P(f"{nc} claimers asleep in `fqs_claim(q, 1, wait => '10 seconds')` on one queue; the time from an enqueue's "
      f"COMMIT returning to the first claimer returning with the message (`bench/wakeup_many.py`, {ns} enqueues "
      f"5–20 ms apart), ms: median **{float(med):.3f}**, p90 {float(p90):.3f}, p99 **{float(p99):.3f}**, max {float(mx):.3f}.\n")
st = R.get('storage', {}).get('fqs')
if st and num(st[0]) is not None:
    f = st[1].split()
    P("## Storage\n")
    P(f"`bench/storage.sh` in a cluster of its own ({param('STORAGE_N', '?')} messages over "
      f"{param('KEYS', '?')} keys, after VACUUM): **{float(f[0]):.0f} bytes** per ready message beyond its payload, "
      f"{float(f[1]):.0f} per processed one (tables, indexes, TOAST). While the full pipeline ran "
      f"({param('STORAGE_ROUNDS', '?')} windows of {param('STORAGE_WINDOW', '?')}), the working-set tables went from "
      f"{f[2]} kB to {f[3]} kB (lowest {f[4]}, highest {f[5]}). Per relation: [{base}-storage.md]({base}-storage.md).\n")

# ---- issue 8's targets, from this run's figures
T8 = []


def target(n, what, goal, measured, ok):
    T8.append((n, what, goal, measured, '—' if ok is None else ('**met**' if ok else '**missed**')))


def v(w, p):
    return num(R.get(w, {}).get(p, ('',))[0])


lat8 = {}
for w in R:
    if w.startswith('depth_'):
        for s_, (val, det) in R[w].items():
            f = det.split()
            if num(val) is not None and len(f) >= 3 and num(f[1]) and num(f[2]):
                lat8[(int(w.split('_')[1]), s_)] = (float(f[1]), float(f[2]))
p1 = []
for s_ in ('fqs', 'fqs pipeline', 'fqs redox', 'fqs pipeline redox'):
    ds = sorted(d for d, t in lat8 if t == s_)
    if len(ds) > 1 and ds[0] == 1000:
        a, b = lat8[(ds[-1], s_)], lat8[(ds[0], s_)]
        p1.append((s_, ds[-1], a[0] / b[0], a[1] / b[1]))
if p1:
    top = min(d for _, d, _, _ in p1)
    worst = max(max(x, y) for _, _, x, y in p1)
    target('P1', 'depth: latency at D ÷ at 1,000 (avg / p99)', '≤ 1.2 at 1e7, Redox shape included',
           '; '.join(f"{s_} {x:.2f} / {y:.2f} at {d:,}" for s_, d, x, y in p1),
           (worst <= 1.2) if top >= 10000000 else (False if worst > 1.2 else None))
    if top < 10000000 and worst <= 1.2:
        T8[-1] = T8[-1][:4] + (f"met to {top:,}; 1e7 not run (`--depth`)",)
for p_, (val, det) in R.get('held', {}).items():
    f = det.split()
    if num(val) is None or len(f) < 9:
        continue
    c1, q1_, c2, q2, d0, s0, d1, s1 = (float(x) for x in f[:8])
    offered = num(param('HELD_RATE', '0')) / 2
    lat_ok = q1_ > 0 and q2 / q1_ <= 1.5
    rate_ok = c2 >= 0.9 * offered
    target('P2', f"held snapshot, {p_}: p99 last ÷ first minute; claims/s last minute; dead tuples",
           '≤ 1.5; the offered rate; flat',
           f"{q2 / q1_:.2f}; {c2:,.0f} of {offered:,.0f}; {d0:,.0f} → {d1:,.0f}" if q1_ else '—',
           lat_ok and rate_ok and d1 <= max(2 * d0, 1000))
    if lat_ok and rate_ok and not d1 <= max(2 * d0, 1000):
        T8[-1] = T8[-1][:4] + ("latency and rate met; dead tuples missed",)
if v('pipe1', 'fqs') and ceiling:
    x = v('pipe1', 'fqs') / (ceiling / 4)
    target('P3', 'full pipeline, single calls ÷ (ceiling ÷ 4)', '≥ 0.8',
           f"{v('pipe1', 'fqs'):,.0f} ÷ {ceiling / 4:,.0f} = {x:.2f}", x >= 0.8)
if v('drain1', 'fqs'):
    others = [(v('drain1', p_), p_) for p_ in peers if p_ not in FQS and v('drain1', p_)]
    if others:
        b, bp = max(others)
        x = v('drain1', 'fqs') / b
        target('P4', 'one-stage drain, claim 1: fqs ÷ best peer', '≥ 2.0',
               f"{v('drain1', 'fqs'):,.0f} ÷ {bp} {b:,.0f} = {x:.2f}", x >= 2.0)
if v('enq100', 'fqs') or v('pipe10', 'fqs_array'):
    e, a = v('enq100', 'fqs'), v('pipe10', 'fqs_array')
    target('P5', 'enqueue 100 per call; full pipeline with array calls (claim 10)',
           '≥ 100,000 msg/s; ≥ 30,000 msg/s',
           f"{e:,.0f}; {a:,.0f}" if e and a else (f"{e:,.0f}; —" if e else f"—; {a:,.0f}"),
           bool(e and a and e >= 100000 and a >= 30000))
if v('pipe1', 'fqs') and v('pipe1_kbig', 'fqs'):
    x = v('pipe1_kbig', 'fqs') / v('pipe1', 'fqs')
    target('P6', f"full pipeline, K = {int(kbig):,} ÷ K = {int(param('KEYS', '100')):,}" if kbig.isdigit() else 'K big ÷ K = 100',
           '≥ 0.8', f"{x:.2f}", x >= 0.8)
if wk and num(wk[0]) is not None:
    med, p99 = float(wk[1].split()[0]), float(wk[1].split()[1])
    target('P7', f"wake-up with {wk[1].split()[4]} claimers waiting: median, p99 ms", '< 0.5; < 2',
           f"{med:.3f}; {p99:.3f}", med < 0.5 and p99 < 2)
if st and num(st[0]) is not None:
    f = [float(x) for x in st[1].split()]
    flat = f[3] <= 1.2 * f[2]
    target('P8', 'bytes per unfinished message beyond its payload; working set flat',
           '≤ 150; last window within 20 % of the first', f"{f[0]:.0f}; {f[2]:.0f} → {f[3]:.0f} kB",
           f[0] <= 150 and flat)
    if flat and f[0] > 150:
        T8[-1] = T8[-1][:4] + ("size missed; steady state met",)
if v('enq1', 'fqs') and ceiling:
    x = v('enq1', 'fqs') / ceiling
    target('P9', 'single enqueue ÷ ceiling', '≥ 0.8', f"{v('enq1', 'fqs'):,.0f} ÷ {ceiling:,.0f} = {x:.2f}", x >= 0.8)
if T8:
    P("## Issue 8's targets, from this run\n")
    P("Computed from the figures above; a target whose workload was not run is left out. "
      "Why a target is missed is in README.md.\n")
    P('| # | what | target | measured | |')
    P('|---|---|---|---|---|')
    for t in sorted(T8, key=lambda t: t[0]):
        P('| ' + ' | '.join(t) + ' |')
    P('')

# ---- plots
plot_ok = shutil.which('gnuplot') is not None
P("## Plots\n")
if not plot_ok:
    P("gnuplot was not found: no plots (`apt-get install gnuplot-nox`).\n")
else:
    if plotrows:
        P(f"![throughput]({base}-throughput.png)\n")
    if depths:
        P(f"![latency against depth]({base}-latency.png)\n")
    if held:
        P(f"![held snapshot]({base}-held.png)\n")

# ---- what is not here
P("## Not measured in this run\n")
if not held:
    P("- Held snapshot (10 minutes at a fixed offered rate while another session holds a snapshot): "
      "not run (`--held` adds it; 10 minutes per peer).")
elif param('HELD_SECS', '600s').rstrip('s') != '600':
    P(f"- The held snapshot ran {param('HELD_SECS')} per peer, not the 10 minutes of the issue's target.")
if not depths or max(depths) < 10000000:
    P(f"- Depths beyond {max(depths):,}" if depths else "- The depth ladder", )
    lines[-1] += " (`--depth` adds 1e6 and 1e7; loading 1e7 messages per peer takes minutes each)."
if not any(s.endswith(' redox') for s in series):
    P("- The Redox-shaped depth (every key's head unprocessed, processed messages piling up behind it).")
for w, label, commits, short in ROWS:
    if w not in R:
        why = (" (left out of `--quick`: 64 new backends would spend its 2-second cap warming up)"
               if w == 'drain1_c64' and meta.get('mode') == 'quick' else " (not in WORKLOADS)")
        P(f"- {label.replace('KBIG', f'{int(kbig):,}' if kbig.isdigit() else kbig)}{why}.")
for p, (v, d) in R.get('depth', {}).items():
    P(f"- Depth for {p}: {v}")
for p, (v, d) in R.get('redox', {}).items():
    P(f"- Redox-shaped depth for {p}: {v}")
if 'wakeup' not in R:
    P("- Wake-up with claimers waiting (not in WORKLOADS).")
if 'storage' not in R:
    P("- Storage per message (not in WORKLOADS).")
if meta.get('mode') == 'quick':
    P("- This is a `--quick` run: small preloads, 2-second runs and short time caps; the K row uses as many keys as "
      "messages (one message per key). Use the full run for figures to quote.")
P('')

# ---- details
P("## Peers\n")
for p in peers:
    P(f"- **{p}**: {meta.get('desc_' + p, '')}")
P('')
P("## Details of every run\n")
P('| workload | peer | value | detail |')
P('|---|---|---:|---|')
for w in order:
    if w == 'held_w':     # the 10-second windows: in the held plot and the .tsv
        continue
    for p, (v, d) in R[w].items():
        if num(v) is None and not d:
            continue
        P(f"| {w} | {p} | {fmt(num(v)) if num(v) is not None else v} | {d} |")
P('')
open(out + '.md', 'w').write('\n'.join(lines) + '\n')

# ---- gnuplot
def esc(s):
    return s.replace('"', "'")


if plotrows and plot_ok:
    used = [i for i, p in enumerate(peers) if any(r[1][i] for r in plotrows)]
    dat = out + '-throughput.dat'
    with open(dat, 'w') as f:
        f.write('workload ' + ' '.join(f'"{peers[i]}"' for i in used) + '\n')
        for label, vals in plotrows:
            f.write(f'"{esc(label)}" ' + ' '.join(f"{vals[i]:.0f}" if vals[i] else '?' for i in used) + '\n')
    gp = f"""set terminal pngcairo size 1100,520 font ",9" noenhanced
set output "{out}-throughput.png"
set title "fqs and its peers, messages/s ({meta.get('mode', '')} run {meta.get('stamp', '')}; log scale)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set datafile missing "?"
set logscale y
set yrange [10:*]
set grid ytics
set key outside right top vertical
set xtics rotate by -20 left
set ylabel "messages/s"
set bmargin 4
plot {', '.join(f'"{dat}" using {j + 2}:xtic(1) title columnheader({j + 2}) lc rgb "{COLOURS.get(peers[i], "#000000")}"' for j, i in enumerate(used))}
"""
    subprocess.run(['gnuplot'], input=gp, text=True, check=True)
    os.remove(dat)

if depths and series and plot_ok:
    dat = out + '-latency.dat'
    with open(dat, 'w') as f:
        for d in depths:
            f.write(f"{d} " + ' '.join(
                f"{lat[(d, s)][0]:.3f} {lat[(d, s)][1]:.3f}" if (d, s) in lat else '? ?' for s in series) + '\n')
    plots = []
    for i, s in enumerate(series):
        c = COLOURS.get(s.split()[0], '#000000')
        pt = 9 if s.endswith('pipeline') else 7
        plots.append(f'"{dat}" using 1:{2 * i + 3} with linespoints lw 2 lc rgb "{c}" pt {pt} title "{esc(s)} p99"')
        plots.append(f'"{dat}" using 1:{2 * i + 2} with linespoints dt 2 lc rgb "{c}" pt {pt - 1} title "{esc(s)} avg"')
    gp = f"""set terminal pngcairo size 1000,520 font ",9" noenhanced
set output "{out}-latency.png"
set title "claim 1 + ack latency against queue depth ({meta.get('mode', '')} run {meta.get('stamp', '')})"
set datafile missing "?"
set logscale x
set logscale y
set xrange [{depths[0] / 2}:{depths[-1] * 2}]
set grid
set key outside right top vertical
set xlabel "messages in the queue (depth)"
set ylabel "ms per claim + ack cycle"
plot {', '.join(plots)}
"""
    subprocess.run(['gnuplot'], input=gp, text=True, check=True)
    os.remove(dat)

if held and plot_ok:
    # held_w rows: value = window start (s), detail = "claims p99_ms dead size age"
    wins = collections.defaultdict(list)
    for line in open(tsv):
        f = line.rstrip('\n').split('\t')
        if len(f) >= 4 and f[0] == 'held_w':
            d = f[3].split()
            wins[f[1]].append((int(f[2]), num(d[1]), num(d[2]) if len(d) > 2 else None))
    dats = []
    for i, (p, rows) in enumerate(wins.items()):
        dat = f"{out}-held-{i}.dat"
        with open(dat, 'w') as fh:
            for t, p99, dead in rows:
                fh.write(f"{t} {p99 if p99 else '?'} {dead if dead is not None else '?'}\n")
        dats.append((p, dat))
    p99s = ', '.join(f'"{dat}" using 1:2 with linespoints lw 2 pt 7 lc rgb "{COLOURS.get(p, "#000000")}" title "{p}"' for p, dat in dats)
    deads = ', '.join(f'"{dat}" using 1:3 with linespoints lw 2 pt 7 lc rgb "{COLOURS.get(p, "#000000")}" title "{p}"' for p, dat in dats)
    gp = f"""set terminal pngcairo size 1000,700 font ",9" noenhanced
set output "{out}-held.png"
set datafile missing "?"
set multiplot layout 2,1 title "held snapshot: {param('HELD_RATE', '?')} transactions/s offered ({meta.get('stamp', '')})"
set grid
set key outside right top vertical
set logscale y
set ylabel "claim + ack p99, ms (10 s windows)"
plot {p99s}
unset logscale y
set xlabel "seconds since the first claim"
set ylabel "dead tuples, the peer's tables"
plot {deads}
unset multiplot
"""
    subprocess.run(['gnuplot'], input=gp, text=True, check=True)
    for p, dat in dats:
        os.remove(dat)
