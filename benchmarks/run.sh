#!/usr/bin/env bash
# Runs the whole performance suite once and rewrites the performance section of BENCHMARKS.md:
#   benchmarks/run.sh                      # full run, about 20 minutes on 2 cores
#   benchmarks/run.sh --quick              # smoke run (seconds per figure, numbers meaningless): checks the pipeline
#   benchmarks/run.sh --quick OUT.md       # the same, writing the section into OUT.md instead of BENCHMARKS.md
#   benchmarks/run.sh --blas [OUT.md]      # only the GEMM benchmark and the CNN step with both peers (about 10 minutes),
#                                          # written as its own section; a later full run replaces it
# Steps: build (Release), exact allocation counts, the interleaved SyncBN-step, 1-vs-2-replica CNN-step and BN+ReLU-vs-copy
# measurements, the GEMM micro-benchmark
# beside OpenBLAS's sgemm, the BenchmarkDotNet suites (in-process short job), the PyTorch 1.13 peer (/usr/bin/python3)
# with OpenBLAS, both peers alternating in the same rounds (benchmarks/pytorch/paired.py), then benchmarks/report.py. Outputs stay in BenchmarkDotNet.Artifacts/perf (git-ignored).
# BLAS: both TfSyncBN and the PyTorch peer use Debian's OpenBLAS (libopenblas0-pthread, installed here if missing).
# The GEMM benchmark, the CNN training step and the PyTorch peer run twice: with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE as
# this machine sets them, and with both unset (OpenBLAS then picks its kernels for the CPU itself). Only here: tests
# and CI leave the environment alone.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT="$ROOT/BenchmarkDotNet.Artifacts/perf"
QUICK=0
BLAS_ONLY=0
[[ "${1:-}" == "--quick" ]] && QUICK=1
[[ "${1:-}" == "--blas" ]] && BLAS_ONLY=1
TARGET="${2:-BENCHMARKS.md}"
rm -rf "$OUT" && mkdir -p "$OUT"
# The peer and the BLAS: Debian's PyTorch, OpenBLAS (takes over libblas.so.3) and threadpoolctl, installed if missing.
PACKAGES=(libopenblas0-pthread python3-threadpoolctl python3-torch python3-numpy)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if (( ${#missing[@]} )); then
  echo "run.sh: installing ${missing[*]} (OpenBLAS for TfSyncBN and for the PyTorch peer)"
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" || { $sudo apt-get update -q && $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"; }
fi
UNSET=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
started=$(date -u +"%Y-%m-%d %H:%M")
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

dotnet build benchmarks/TfSyncBN.Benchmarks -c Release -v q -nologo
BIN="$ROOT/benchmarks/TfSyncBN.Benchmarks/bin/Release/net10.0/TfSyncBN.Benchmarks.dll"

if [[ $BLAS_ONLY == 1 ]]; then
  dotnet "$BIN" gemm "$OUT/gemm.json" 0.5
  "${UNSET[@]}" dotnet "$BIN" gemm "$OUT/gemm-unset.json" 0.5
  BDN_JOB="6 warm-up and 9 measured iterations of ~120 ms (the CNN step after 8 s of training steps: tiered JIT)"
  dotnet "$BIN" --filter '*TrainingBenchmarks*' --artifacts "$OUT/bdn" || echo "run.sh: some benchmarks failed (see above)" >&2
  "${UNSET[@]}" dotnet "$BIN" --filter '*TrainingBenchmarks*' --artifacts "$OUT/bdn-unset" || echo "run.sh: some benchmarks failed (see above)" >&2
  TORCH_CNN_ONLY=1 /usr/bin/python3 benchmarks/pytorch/bench_torch.py "$OUT/torch.json"
  "${UNSET[@]}" TORCH_CNN_ONLY=1 /usr/bin/python3 benchmarks/pytorch/bench_torch.py "$OUT/torch-unset.json"
  TORCH_PAIRED_CNN_ONLY=1 /usr/bin/python3 benchmarks/pytorch/paired.py "$OUT/paired.json" 15
  "${UNSET[@]}" TORCH_PAIRED_CNN_ONLY=1 /usr/bin/python3 benchmarks/pytorch/paired.py "$OUT/paired-unset.json" 15
else
dotnet "$BIN" alloc "$OUT/allocations.json"
if [[ $QUICK == 1 ]]; then
  dotnet "$BIN" syncstep "$OUT/syncstep.json" 2 3
  TFSYNCBN_BENCH_WARMUP_S=0.5 dotnet "$BIN" scaling "$OUT/scaling.json" 2 2
  dotnet "$BIN" bnrelu-copies "$OUT/bnrelu-copies.json" 2 2
  dotnet "$BIN" gemm "$OUT/gemm.json" 0.05
  "${UNSET[@]}" dotnet "$BIN" gemm "$OUT/gemm-unset.json" 0.05
  export TFSYNCBN_BENCH_WARMUP_S=0.5
  BDN_JOB="1 warm-up and 2 measured iterations of ~20 ms (--quick; 0.5 s of training steps before the CNN step)"
  dotnet "$BIN" --filter '*' --artifacts "$OUT/bdn" --warmupCount 1 --iterationCount 2 --iterationTime 20 || echo "run.sh: some benchmarks failed (see above)" >&2
  "${UNSET[@]}" dotnet "$BIN" --filter '*TrainingBenchmarks*' --artifacts "$OUT/bdn-unset" --warmupCount 1 --iterationCount 2 --iterationTime 20 || echo "run.sh: some benchmarks failed (see above)" >&2
  TORCH_WARMUP_S=0.02 TORCH_MEASURE_S=0.05 /usr/bin/python3 benchmarks/pytorch/bench_torch.py "$OUT/torch.json"
  "${UNSET[@]}" TORCH_CNN_ONLY=1 TORCH_WARMUP_S=0.02 TORCH_MEASURE_S=0.05 /usr/bin/python3 benchmarks/pytorch/bench_torch.py "$OUT/torch-unset.json"
  TORCH_DEFAULT_MALLOC=1 TORCH_WARMUP_S=0.02 TORCH_MEASURE_S=0.05 /usr/bin/python3 benchmarks/pytorch/bench_torch.py "$OUT/torch-default-malloc.json"
  /usr/bin/python3 benchmarks/pytorch/paired.py "$OUT/paired.json" 3
  "${UNSET[@]}" TORCH_PAIRED_CNN_ONLY=1 /usr/bin/python3 benchmarks/pytorch/paired.py "$OUT/paired-unset.json" 3
else
  dotnet "$BIN" syncstep "$OUT/syncstep.json" 30 20
  dotnet "$BIN" scaling "$OUT/scaling.json" 20 10
  dotnet "$BIN" bnrelu-copies "$OUT/bnrelu-copies.json" 15 9
  dotnet "$BIN" gemm "$OUT/gemm.json" 1.0
  "${UNSET[@]}" dotnet "$BIN" gemm "$OUT/gemm-unset.json" 1.0
  BDN_JOB="6 warm-up and 9 measured iterations of ~120 ms (the CNN step after 8 s of training steps: tiered JIT)"
  dotnet "$BIN" --filter '*' --artifacts "$OUT/bdn" || echo "run.sh: some benchmarks failed (see above)" >&2
  "${UNSET[@]}" dotnet "$BIN" --filter '*TrainingBenchmarks*' --artifacts "$OUT/bdn-unset" || echo "run.sh: some benchmarks failed (see above)" >&2
  /usr/bin/python3 benchmarks/pytorch/bench_torch.py "$OUT/torch.json"
  "${UNSET[@]}" TORCH_CNN_ONLY=1 /usr/bin/python3 benchmarks/pytorch/bench_torch.py "$OUT/torch-unset.json"
  # For reference only: the same peer with glibc's default allocator (a fresh mmap per output of 32 MiB or more).
  TORCH_DEFAULT_MALLOC=1 /usr/bin/python3 benchmarks/pytorch/bench_torch.py "$OUT/torch-default-malloc.json"
  # Both peers again, alternating in the same rounds (the ratios without the host's bandwidth phases between them).
  /usr/bin/python3 benchmarks/pytorch/paired.py "$OUT/paired.json" 15
  "${UNSET[@]}" TORCH_PAIRED_CNN_ONLY=1 /usr/bin/python3 benchmarks/pytorch/paired.py "$OUT/paired-unset.json" 15
fi
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
/usr/bin/python3 benchmarks/report.py "$OUT" "$TARGET" $([[ $BLAS_ONLY == 1 ]] && echo --blas)
