#!/bin/bash
# Interleaved A/B of `probe-fixed` between two builds of the benchmarks (e.g. becf344 with probe-fixed-becf344.patch
# applied, and this branch). Usage:
#   benchmarks/probe-ab.sh OUT REPEATS DIR_A DIR_B
# DIR_A/DIR_B: folders holding TfSyncBN.Benchmarks.dll (copy each bin/Release/net10.0 away before rebuilding).
# Every row runs A then B (odd repeats) or B then A (even repeats), each in a fresh process: BN/SyncBN training
# forward, forward + backward and inference at SHAPE (default 128x32x32x64), NHWC and NCHW, 1 and 2 kernel threads,
# 20 warm-up and 40 timed calls; then the CNN TrainStep with 1 and 2 replicas, 5 warm-up and 15 timed steps.
# Environment: ROWS (default "bn-fwd bn-fwdbwd bn-inf sbn-fwd sbn-fwdbwd sbn-inf"), SHAPE, NOCNN=1 to skip the CNN.
# One line per run in OUT, prefixed by the side and the 1-minute load average; summarize with probe-ab-summary.py.
set -euo pipefail
out=$1; R=$2; A=$3; B=$4
rows=${ROWS:-"bn-fwd bn-fwdbwd bn-inf sbn-fwd sbn-fwdbwd sbn-inf"}
shape=${SHAPE:-128x32x32x64}
: > "$out"
run() { # side dir figure shape layout threads warmup calls
  echo "$1 $(cut -d' ' -f1 /proc/loadavg) $(dotnet "$2/TfSyncBN.Benchmarks.dll" probe-fixed "$3" "$4" "$5" "$6" "$7" "$8" | head -1)" >> "$out"; }
pair() { # figure shape layout threads warmup calls; order by repeat parity
  if [ $((r % 2)) = 1 ]; then run A "$A" "$@"; run B "$B" "$@"; else run B "$B" "$@"; run A "$A" "$@"; fi; }
for r in $(seq "$R"); do
  for f in $rows; do for L in NHWC NCHW; do for t in 1 2; do pair "$f" "$shape" "$L" "$t" 20 40; done; done; done
  if [ -z "${NOCNN:-}" ]; then for t in 1 2; do pair cnn x NHWC "$t" 5 15; done; fi
done
