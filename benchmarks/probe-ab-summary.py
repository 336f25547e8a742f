"""Summarizes benchmarks/probe-ab.sh output as a Markdown table: per row, the minimum and median wall time and the
minimum CPU time per call of each side, and B/A ratios. Usage: python3 probe-ab-summary.py OUT [NAME_A NAME_B]"""
import re, sys, statistics as st
rows = {}
loads = []
for line in open(sys.argv[1]):
    m = re.match(r'(\w) ([\d.]+) (\S+) (\S+) (\S+) t=(\d+): calls \d+ min ([\d.]+) median ([\d.]+) mean [\d.]+ ms, cpu ([\d.]+) ms/call, alloc (\d+)', line)
    if not m: continue
    side, load, fig, shape, lay, t, mn, med, cpu, alloc = m.groups()
    loads.append(float(load))
    key = (fig, lay if fig != 'cnn' else '-', int(t))
    rows.setdefault(key, {'A': [], 'B': []})[side].append((float(mn), float(med), float(cpu), int(alloc)))
la, lb = (sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else ('A', 'B')
print(f"load average during the runs: {min(loads):.1f}-{max(loads):.1f}")
print(f"| row | threads | {la} min | {lb} min | {lb}/{la} min | {la} median | {lb} median | {lb}/{la} median | {la} CPU/call | {lb} CPU/call | {lb}/{la} CPU | alloc {la} / {lb} (B/call) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for key in sorted(rows, key=lambda k: (k[0] == 'cnn', k[0].startswith('sbn'), k[0], k[1], k[2])):
    a, b = rows[key]['A'], rows[key]['B']
    if not a or not b: continue
    amin, bmin = min(x[0] for x in a), min(x[0] for x in b)
    amed, bmed = st.median(x[1] for x in a), st.median(x[1] for x in b)
    acpu, bcpu = min(x[2] for x in a), min(x[2] for x in b)
    fig, lay, t = key
    name = {'bn-fwd': 'BN training forward', 'bn-fwdbwd': 'BN forward + backward', 'bn-inf': 'BN inference',
            'sbn-fwd': 'SyncBN training forward', 'sbn-fwdbwd': 'SyncBN forward + backward', 'sbn-inf': 'SyncBN inference',
            'cnn': 'CNN TrainStep (threads = replicas)'}[fig]
    if lay != '-': name += ' ' + lay
    print(f"| {name} | {t} | {amin:.3f} | {bmin:.3f} | {bmin/amin:.2f} | {amed:.3f} | {bmed:.3f} | {bmed/amed:.2f} | {acpu:.3f} | {bcpu:.3f} | {bcpu/acpu:.2f} | {a[0][3]} / {b[0][3]} |")
