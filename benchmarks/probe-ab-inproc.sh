#!/bin/bash
# In-process A/B of probe-fixed rows between two builds of the benchmarks (see benchmarks/AbInProcess/Program.cs).
# Usage: benchmarks/probe-ab-inproc.sh OUT ROUNDS DIR_A DIR_B
# DIR_A/DIR_B: folders holding TfSyncBN.Benchmarks.dll (copy each bin/Release/net10.0 away before rebuilding).
# Environment: ROWS (default "bn-fwd bn-fwdbwd bn-inf sbn-fwd sbn-fwdbwd sbn-inf"), SHAPE (128x32x32x64), LAYOUTS
# (NHWC), THREADS ("1 2"). Each row runs in both arrangements (A B, then B A); the last column of the summary is B/A
# combined as sqrt(r_AB / r_BA) of the paired medians, which cancels the bias of the load order.
set -euo pipefail
out=$1; R=$2; A=$3; B=$4
here=$(cd "$(dirname "$0")" && pwd)
dotnet build "$here/AbInProcess" -c Release -v q -nologo >/dev/null
tool="$here/AbInProcess/bin/Release/net10.0/AbInProcess.dll"
: > "$out"
for L in ${LAYOUTS:-NHWC}; do for t in ${THREADS:-1 2}; do for f in ${ROWS:-bn-fwd bn-fwdbwd bn-inf sbn-fwd sbn-fwdbwd sbn-inf}; do
  ab=$(dotnet "$tool" "$A" "$B" "$R" "$f" "${SHAPE:-128x32x32x64}" "$L" "$t" 20 40)
  ba=$(dotnet "$tool" "$B" "$A" "$R" "$f" "${SHAPE:-128x32x32x64}" "$L" "$t" 20 40)
  echo "AB $(cut -d' ' -f1 /proc/loadavg) $ab" >> "$out"
  echo "BA $(cut -d' ' -f1 /proc/loadavg) $ba" >> "$out"
  python3 - "$ab" "$ba" <<'PY' | tee -a "$out"
import math, re, sys
r = [float(re.search(r"paired medians: median ([0-9.]+)", s).group(1)) for s in sys.argv[1:3]]
print(f"{sys.argv[1].split(' rounds')[0]}: B/A = {math.sqrt(r[0] / r[1]):.3f} (A B arrangement {r[0]:.3f}, B A arrangement {1 / r[1]:.3f})")
PY
done; done; done
