#!/usr/bin/env bash
# Every MPI measurement of BENCHMARKS.md, each run 3 times (the machine is shared, so one run proves little), then
# a summary per configuration: the median of the 3 runs' medians and the minimum over the runs, and the ratios to the
# bare MPI_Allreduce of the same run. About 3 minutes on 2 cores. Usage, from the repository root:
#   dotnet build benchmarks/TfSyncBN.Mpi.Benchmarks -c Release
#   bash benchmarks/TfSyncBN.Mpi.Benchmarks/run-all.sh [raw-output-file]
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=${1:-/tmp/tfsyncbn-mpi-benchmarks.txt}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 TERM=dumb
B=benchmarks/TfSyncBN.Mpi.Benchmarks/bin/Release/net10.0/TfSyncBN.Mpi.Benchmarks.dll
M=(mpirun --allow-run-as-root --oversubscribe -x TERM=dumb)
TCP=(--mca btl tcp,self --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo)
run() { # label, then the command
  local label=$1; shift
  for i in 1 2 3; do
    echo "### $label run $i $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
    timeout 300 "$@" 2>&1
  done
}
{
  echo "START $(date -u) loadavg $(cat /proc/loadavg)"
  for np in 2 3; do for L in 1 2; do
    run "allreduce np=$np L=$L shm" "${M[@]}" -np $np dotnet $B allreduce 64 200 60 local=$L
    run "allreduce np=$np L=$L tcp" "${M[@]}" "${TCP[@]}" -np $np dotnet $B allreduce 64 200 60 local=$L
  done; done
  run "allreduce np=2 L=2 shm bind-to-none" "${M[@]}" --bind-to none -np 2 dotnet $B allreduce 64 200 60 local=2
  run "allreduce np=1 L=2 (local rendezvous only)" "${M[@]}" -np 1 dotnet $B allreduce 64 200 60 local=2
  run "allreduce np=1 L=2 bind-to-none (local rendezvous only)" "${M[@]}" --bind-to none -np 1 dotnet $B allreduce 64 200 60 local=2
  for np in 2 3 4; do run "gradients np=$np" "${M[@]}" -np $np dotnet $B gradients 204042 10 30; done
  for np in 1 2 4; do run "step np=$np" "${M[@]}" -np $np dotnet $B step 256 60; done
  for np in 2 4; do run "step np=$np yield_when_idle" "${M[@]}" --mca mpi_yield_when_idle 1 -np $np dotnet $B step 256 60; done
  echo "END $(date -u) loadavg $(cat /proc/loadavg)"
} > "$out" 2>&1
head -1 "$out"; tail -1 "$out"
python3 benchmarks/TfSyncBN.Mpi.Benchmarks/summarize.py "$out"
