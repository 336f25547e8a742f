"""Summarizes run-all.sh's raw output: per configuration, the median of the runs' medians, the minimum over all runs,
and the per-run ratio to the bare MPI_Allreduce timed in the same run (median over runs)."""
import re
import statistics as st
import sys

text = open(sys.argv[1]).read()
data = {}
for block in re.split(r'^### ', text, flags=re.M)[1:]:
    head = block.splitlines()[0]
    label = re.match(r'(.*) run \d', head).group(1)
    entry = data.setdefault(label, {'loads': [], 'rows': {}})
    entry['loads'].append(head.split('load ')[1].split()[0])
    for m in re.finditer(r'^\s+(\S.*?)\s{2,}([\d.]+) \(([\d.]+)\)\s+vs', block, re.M):
        entry['rows'].setdefault(m.group(1), []).append((float(m.group(2)), float(m.group(3))))
    m = re.search(r'TrainStep median ([\d.]+) ms \(min ([\d.]+)', block)
    if m:
        entry['rows'].setdefault('TrainStep ms', []).append((float(m.group(1)), float(m.group(2))))
for label, entry in data.items():
    print(f"== {label}  (1-min load average at each run: {', '.join(entry['loads'])})")
    ref = entry['rows'].get('bare MPI_Allreduce')
    for name, values in entry['rows'].items():
        medians, minima = [v[0] for v in values], [v[1] for v in values]
        line = f"   {name:27s} runs {medians} -> median {st.median(medians):.2f}, min {min(minima):.2f}"
        if ref and name != 'bare MPI_Allreduce' and len(ref) == len(values):
            ratios = [a[0] / b[0] for a, b in zip(values, ref)]
            line += (f" | vs bare MPI_Allreduce per run {[round(r, 2) for r in ratios]}: median {st.median(ratios):.2f}x,"
                     f" min/min {min(minima) / min(v[1] for v in ref):.2f}x")
        print(line)
