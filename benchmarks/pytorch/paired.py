#!/usr/bin/python3
"""TfSyncBN and its PyTorch peer timed alternately in the same rounds (run by benchmarks/run.sh; use /usr/bin/python3).

The separate tables of run.sh time our cases and PyTorch's minutes apart, and this host's memory bandwidth moves by
up to 1.5x between phases, which moves every ratio. Here each case runs as rounds: our figure (in a `serve` process of
the benchmark program, see PeerServer.cs) and PyTorch's in both layouts, one block of calls each (9 for the batch
norm, 5 for the CNN step), the order alternating between rounds, with a 50 ms pause before each block so that the
side that just ran has parked its threads. Each block makes one more call first, untimed: it meets the caches and the
parked threads the other side left. A block's figure is the median of its timed calls. A round's
ratio is PyTorch's faster layout in that round over ours (> 1: we are faster); the case reports the median and
quartiles of the round ratios and of each side's per-round medians. Before each round the serve process reports each
core's in-cache product rate (`cores`, CoreCheck.cs), kept per round: a host slow phase takes about a quarter of it
from one vCPU, so the rates tell which rounds fell in one.

Cases: the fused BN + ReLU forward+backward (`bn-relu-fwdbwd`, our NHWC and NCHW against BatchNorm2d + in-place ReLU,
NCHW and channels_last) at 128x32x32x64 on 1 and 2 threads, and the CNN training step on 1 and 2 threads (ours: 1 and
2 replicas). With TORCH_PAIRED_CNN_ONLY=1 only the CNN cases run (run.sh's OPENBLAS_*-unset pass).

Usage: paired.py OUT.json [ROUNDS]   (the benchmark program must be built: dotnet build -c Release benchmarks/TfSyncBN.Benchmarks)
"""
import json
import os
import statistics
import subprocess
import sys
import time

import bench_torch as peer  # re-executes this script with bench_torch's allocator settings first
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROGRAM = os.path.join(ROOT, "benchmarks", "TfSyncBN.Benchmarks", "bin", "Release", "net10.0", "TfSyncBN.Benchmarks.dll")
PAUSE_S = 0.05


def quartiles(values):
    q = statistics.quantiles(values, n=4, method="inclusive")
    return {"median": statistics.median(values), "p25": q[0], "p75": q[2]}


class Ours:
    """A `serve` process of the benchmark program holding one figure."""

    def __init__(self, figure, shape, layout, threads, warmup_s):
        self.proc = subprocess.Popen(["dotnet", PROGRAM, "serve", figure, shape, layout, str(threads), str(warmup_s)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.expect("ready")

    def expect(self, word):
        line = self.proc.stdout.readline().strip()
        if line != word:
            self.proc.kill()
            raise RuntimeError(f"paired.py: the serve process answered {line!r}, expected {word!r}")

    def times(self, calls):
        self.proc.stdin.write(f"run {calls}\n")
        line = self.proc.stdout.readline()
        try:
            return [float(t) for t in line.split()]
        except ValueError:
            raise RuntimeError(f"paired.py: the serve process answered {line!r} to 'run {calls}'") from None

    def cores(self):
        """Each core's in-cache product rate, GFLOP/s (CoreCheck.PerCore; empty where threads cannot be pinned)."""
        self.proc.stdin.write("cores\n")
        return [float(t) for t in self.proc.stdout.readline().split()]

    def checksum(self):
        self.proc.stdin.write("checksum\n")
        return self.proc.stdout.readline().strip()

    def close(self):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def torch_times(fn, calls):
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def paired_case(name, figure, shape, layout, torch_fns, threads, rounds, calls, warmup_s):
    """Our figure (serve process) against PyTorch's torch_fns (by layout), warmed up for warmup_s each (the CNN's
    serve process warms itself up: TrainingBenchmarks.Setup trains for TFSYNCBN_BENCH_WARMUP_S, 8 s by default)."""
    peer.set_threads(threads)
    ours = Ours(figure, shape, layout, threads, 0 if figure == "cnn" else warmup_s)
    for fn in torch_fns.values():
        end = time.perf_counter() + warmup_s
        while time.perf_counter() < end:
            fn()
    ours_ms, torch_ms, ratios, core_rates = [], {k: [] for k in torch_fns}, [], []
    for r in range(rounds):
        core_rates.append(ours.cores())
        sides = ["torch", "ours"] if r % 2 == 0 else ["ours", "torch"]
        for side in sides:
            time.sleep(PAUSE_S)
            if side == "ours":
                ours_ms.append(statistics.median(ours.times(calls + 1)[1:]))
            else:
                for k, fn in torch_fns.items():
                    torch_ms[k].append(statistics.median(torch_times(fn, calls + 1)[1:]))
        best = min(torch_ms[k][-1] for k in torch_fns)
        ratios.append(best / ours_ms[-1])
    checksum = ours.checksum()
    ours.close()
    row = {"case": name, "threads": threads, "rounds": rounds, "callsPerBlock": calls, "oursMs": quartiles(ours_ms),
           "torchMs": {k: quartiles(v) for k, v in torch_ms.items()}, "ratio": quartiles(ratios),
           "roundRatios": ratios, "coreGemmGflops": core_rates, "oursChecksum": checksum}  # the CNN's varies with the number of warm-up steps
    print(json.dumps({k: v for k, v in row.items() if k not in ("roundRatios", "coreGemmGflops")}), flush=True)
    return row


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "paired.json"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    if not os.path.exists(PROGRAM):
        sys.exit(f"paired.py: {PROGRAM} is missing; build it with dotnet build -c Release benchmarks/TfSyncBN.Benchmarks")
    cnn_only = os.environ.get("TORCH_PAIRED_CNN_ONLY") == "1"
    rows = []
    for threads in peer.THREADS:
        if not cnn_only:
            shape = "128x32x32x64"
            for layout in ["NHWC", "NCHW"]:
                peer.set_threads(threads)
                fns = {tl: peer.bn_figures(shape, tl)["BnReluForwardBackward"] for tl in ["NCHW", "channels_last"]}
                rows.append(paired_case(f"bn-relu-fwdbwd {shape} {layout}", "bn-relu-fwdbwd", shape, layout, fns,
                                        threads, rounds, 9, 2.0))
        peer.set_threads(threads)
        fns = {tl: peer.cnn_step(tl) for tl in ["NCHW", "channels_last"]}
        rows.append(paired_case("cnn", "cnn", "0", "NHWC", fns, threads, max(rounds * 2 // 3, 3), 5, 2.0))
    result = {"torch": torch.__version__, "allocator": "as bench_torch.py", "pauseS": PAUSE_S, "blas": peer.blas_info(),
              "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}, "cases": rows}
    with open(out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
