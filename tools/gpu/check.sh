#!/usr/bin/env bash
# Runs TfSyncBN's GPU checks on a machine with an NVIDIA GPU and driver and no .NET: conformance of every op on
# cuda:0 against the CPU backend, determinism, SyncBN equivalence with 1-4 replicas, a short CNN training run, and
# timings of BN/SyncBN forward+backward and the CNN step, next to PyTorch CUDA when `python3 -c "import torch"` works.
# One summary line per check; exit status non-zero when a check fails.
#
#   tools/gpu/check.sh            # uses tools/gpu/bin/TfSyncBN.GpuCheck (publish it first, see below)
#   tools/gpu/check.sh --publish  # (on a machine with the .NET 10 SDK) publishes that binary, then stops
#   DEVICE=ilgpu-cpu:0 tools/gpu/check.sh --quick   # the same pipeline on ILGPU's CPU accelerator
#
# The binary is a self-contained, single-file, compressed linux-x64 publish of tools/TfSyncBN.GpuCheck; it is not
# committed (tools/gpu/bin/ is ignored): publish it, then copy the checkout with tools/gpu/bin to the GPU machine.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$here/bin/TfSyncBN.GpuCheck"

if [[ "${1:-}" == "--publish" ]]; then
  dotnet publish "$here/../TfSyncBN.GpuCheck/TfSyncBN.GpuCheck.csproj" -c Release -r linux-x64 --self-contained \
    -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true -p:IncludeNativeLibrariesForSelfExtract=true \
    -o "$here/bin"
  du -h "$bin"
  exit 0
fi

if [[ ! -x "$bin" ]]; then
  echo "FAIL setup: $bin is missing; run tools/gpu/check.sh --publish on a machine with the .NET 10 SDK first." >&2
  exit 2
fi

device="${DEVICE:-cuda:0}"
if [[ "$device" == cuda:* ]] && command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/gpu: /'
fi

status=0
"$bin" --device "$device" "$@" || status=$?

if [[ "$device" == cuda:* ]]; then
  py="$(command -v python3 || true)"
  if [[ -n "$py" ]] && "$py" -c "import torch" 2>/dev/null; then
    "$py" "$here/torch_bench.py" || { echo "FAIL torch benchmark"; status=1; }
  else
    echo "SKIP torch benchmark: python3 -c 'import torch' does not work here"
  fi
fi
exit $status
