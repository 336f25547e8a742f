#!/usr/bin/env bash
# Runs the whole performance suite once and rewrites the performance section of BENCHMARKS.md:
#   benchmarks/run.sh                      # full run, about 10-15 minutes on 2 cores
#   benchmarks/run.sh --quick              # smoke run (seconds per figure, numbers meaningless): checks the pipeline
#   benchmarks/run.sh --quick OUT.md       # the same, writing the section into OUT.md instead of BENCHMARKS.md
# Steps: build (Release), exact allocation counts, the interleaved SyncBN-step measurement, the BenchmarkDotNet suites
# (in-process short job), the PyTorch 1.13 peer (/usr/bin/python3), then benchmarks/report.py. Outputs stay in
# BenchmarkDotNet.Artifacts/perf (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT="$ROOT/BenchmarkDotNet.Artifacts/perf"
QUICK=0
[[ "${1:-}" == "--quick" ]] && QUICK=1
TARGET="${2:-BENCHMARKS.md}"
rm -rf "$OUT" && mkdir -p "$OUT"
started=$(date -u +"%Y-%m-%d %H:%M")
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

dotnet build benchmarks/TfSyncBN.Benchmarks -c Release -v q -nologo
BIN="$ROOT/benchmarks/TfSyncBN.Benchmarks/bin/Release/net10.0/TfSyncBN.Benchmarks.dll"

dotnet "$BIN" alloc "$OUT/allocations.json"
if [[ $QUICK == 1 ]]; then
  dotnet "$BIN" syncstep "$OUT/syncstep.json" 2 3
  BDN_JOB="1 warm-up and 2 measured iterations of ~20 ms (--quick)"
  dotnet "$BIN" --filter '*' --artifacts "$OUT/bdn" --warmupCount 1 --iterationCount 2 --iterationTime 20 || echo "run.sh: some benchmarks failed (see above)" >&2
  TORCH_WARMUP_S=0.02 TORCH_MEASURE_S=0.05 /usr/bin/python3 benchmarks/pytorch/bench_torch.py "$OUT/torch.json"
  TORCH_DEFAULT_MALLOC=1 TORCH_WARMUP_S=0.02 TORCH_MEASURE_S=0.05 /usr/bin/python3 benchmarks/pytorch/bench_torch.py "$OUT/torch-default-malloc.json"
else
  dotnet "$BIN" syncstep "$OUT/syncstep.json" 30 20
  BDN_JOB="6 warm-up and 9 measured iterations of ~120 ms"
  dotnet "$BIN" --filter '*' --artifacts "$OUT/bdn" || echo "run.sh: some benchmarks failed (see above)" >&2
  /usr/bin/python3 benchmarks/pytorch/bench_torch.py "$OUT/torch.json"
  # For reference only: the same peer with glibc's default allocator (a fresh mmap per output of 32 MiB or more).
  TORCH_DEFAULT_MALLOC=1 /usr/bin/python3 benchmarks/pytorch/bench_torch.py "$OUT/torch-default-malloc.json"
fi

cpu=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
cpuid=$(lscpu | sed -n 's/^\(CPU family\|Model\|Stepping\):[[:space:]]*/\1 /p' | paste -sd ',' | sed 's/,/, /g')
caches=$(lscpu | sed -n 's/^\(L[123][di]* cache\):[[:space:]]*/\1 /p' | paste -sd ',' | sed 's/,/, /g')
flags=$(grep -o -w 'avx512f\|avx2\|fma' /proc/cpuinfo | sort -u | tr '\n' ' ')
/usr/bin/python3 - "$OUT/meta.json" <<PY
import json, sys
json.dump({"cpu": "$cpu (${flags% })", "cpuid": "$cpuid", "caches": "$caches", "bdn_job": "$BDN_JOB", "cores": "$(nproc)", "os": "$(. /etc/os-release; echo "$PRETTY_NAME")",
           "dotnet": "$(dotnet --version) SDK, runtime $(dotnet --list-runtimes | sed -n 's/^Microsoft.NETCore.App \([^ ]*\).*/\1/p' | tail -1)",
           "started": "$started", "finished": "$(date -u +"%Y-%m-%d %H:%M")",
           "load_start": "$load_start", "load_end": "$(cut -d' ' -f1-3 /proc/loadavg)",
           "command": "benchmarks/run.sh${1:+ $1}"}, open(sys.argv[1], "w"))
PY
/usr/bin/python3 benchmarks/report.py "$OUT" "$TARGET"
