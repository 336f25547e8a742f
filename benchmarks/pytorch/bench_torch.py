#!/usr/bin/python3
"""PyTorch 1.13 peer of the TfSyncBN benchmarks (run by benchmarks/run.sh; use /usr/bin/python3, which has torch).

Times, for each thread count (torch.set_num_threads):
  * nn.BatchNorm2d training forward, training forward+backward (y.backward(dy)) and inference (eval, no_grad) on the
    same shapes (N x H x W x C) as the .NET suite, NCHW (contiguous) and channels_last, and a copy of the same tensor
    (y.copy_(x)) as torch's own bandwidth reference;
  * BatchNorm2d followed by an in-place ReLU, training forward and forward+backward (the peer of the .NET
    BatchNormReluBenchmarks: PyTorch runs them as two kernels each way);
  * one training step (forward, cross-entropy, backward, Adam) of the Fashion-MNIST example's CNN on a batch of 128
    28x28x1 images, NCHW and channels_last.
Each figure is the median of timed repetitions after a time-based warm-up. Writes JSON to the path in argv[1].

BLAS: Debian's PyTorch links libblas.so.3, which is the reference BLAS unless libopenblas0-pthread is installed
(run.sh installs it). torch.set_num_threads does not reach that BLAS (BLAS_INFO=generic), so every case also limits
the BLAS pool to the same thread count with threadpoolctl (Debian's python3-threadpoolctl). The output records which
BLAS and kernels the peer used: threadpoolctl's view of the loaded libraries (library, version, architecture, threads)
per case, torch.__config__.show(), the OPENBLAS_* variables, and the convolution and matrix ops a CNN step dispatched
to (torch.profiler). Run it as the machine is configured and once more with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset
(run.sh does both).

Allocator: every call returns a fresh output tensor. glibc malloc serves blocks of 32 MiB and more (the outputs at
128x32x32x64) with mmap and returns them with munmap, so each call page-faulted 8192 fresh pages (~40 ms here,
depending on what the process had allocated before: 17.5 ms on 1 thread against 0.86 ms on 2 threads for the same
inference). The script therefore re-executes itself with MALLOC_MMAP_MAX_=0 and a large MALLOC_TRIM_THRESHOLD_, so
freed tensors' pages are reused, as with the caching allocators (jemalloc, tcmalloc) usually deployed with PyTorch
on CPU: torch's figures are its best, not its allocator's worst. (The .NET side still gets fresh memory per call; see
benchmarks/analysis.md.)
"""
import json
import os
import statistics
import sys
import time

ALLOCATOR_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 40)}
if os.environ.get("TORCH_DEFAULT_MALLOC") != "1" and any(os.environ.get(k) != v for k, v in ALLOCATOR_ENV.items()):
    os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, **ALLOCATOR_ENV})

import torch
import torch.nn as nn
import torch.nn.functional as F
from threadpoolctl import threadpool_info, threadpool_limits

SHAPES = ["32x32x32x64", "128x32x32x64", "128x32x32x3"]
THREADS = [1, 2]
WARMUP_S = float(os.environ.get("TORCH_WARMUP_S", "0.3"))
MEASURE_S = float(os.environ.get("TORCH_MEASURE_S", "0.8"))


def median_ms(fn):
    end = time.perf_counter() + WARMUP_S
    while time.perf_counter() < end:
        fn()
    times = []
    end = time.perf_counter() + MEASURE_S
    while time.perf_counter() < end or len(times) < 5:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def set_threads(threads):
    """torch's intra-op threads and the BLAS pool (which torch.set_num_threads does not reach) to the same count."""
    torch.set_num_threads(threads)
    threadpool_limits(limits=threads, user_api="blas")


def blas_info():
    return [{k: v for k, v in lib.items() if k in ("internal_api", "version", "architecture", "num_threads", "filepath", "threading_layer")}
            for lib in threadpool_info() if lib["user_api"] == "blas"]


def dispatched_ops(step):
    """The aten convolution and matrix-product ops one call of step() runs (which kernels the peer used)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step()
    names = {e.key for e in prof.key_averages()}
    return sorted(n for n in names if any(w in n for w in ("conv", "mm", "addmm", "linear", "mkldnn", "im2col", "col2im")))


def bn_figures(shape, layout):
    """nn.BatchNorm2d's figures at one shape (N x H x W x C) and layout (NCHW or channels_last), by name."""
    n, h, w, c = (int(v) for v in shape.split("x"))
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(n, c, h, w, generator=g) * 4 - 1.5).contiguous(memory_format=fmt)
    dy = torch.rand(n, c, h, w, generator=g).contiguous(memory_format=fmt)
    out = torch.empty_like(x)
    bn = nn.BatchNorm2d(c, eps=1e-3)
    xg = x.clone().requires_grad_(True)

    def copy():
        out.copy_(x)

    def forward():
        with torch.no_grad():
            bn.train()
            bn(x)

    def forward_backward():
        bn.train()
        xg.grad = None
        bn.zero_grad(set_to_none=True)
        bn(xg).backward(dy)

    def inference():
        bn.eval()
        with torch.no_grad():
            bn(x)

    def bn_relu_forward():
        with torch.no_grad():
            bn.train()
            F.relu(bn(x), inplace=True)

    def bn_relu_forward_backward():
        bn.train()
        xg.grad = None
        bn.zero_grad(set_to_none=True)
        F.relu(bn(xg), inplace=True).backward(dy)

    return {"Copy": copy, "TrainForward": forward, "TrainForwardBackward": forward_backward, "Inference": inference,
            "BnReluForward": bn_relu_forward, "BnReluForwardBackward": bn_relu_forward_backward}


def bn_cases():
    rows = []
    for threads in THREADS:
        set_threads(threads)
        for shape in SHAPES:
            for layout in ["NCHW", "channels_last"]:
                row = {"shape": shape, "layout": layout, "threads": threads}
                for name, fn in bn_figures(shape, layout).items():
                    row[name] = median_ms(fn)
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


class FashionMnistCnn(nn.Module):
    """examples/FashionMnist: Conv 32 3x3 same (no bias) -> BN -> ReLU -> MaxPool 2 -> Conv 64 3x3 same (no bias) -> BN
    -> ReLU -> MaxPool 2 -> Flatten -> Dense 128 (no bias) -> BN -> ReLU -> Dropout 0.3 -> Dense 10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32, eps=1e-3, momentum=0.1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(64, eps=1e-3, momentum=0.1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128, bias=False)
        self.bn3 = nn.BatchNorm1d(128, eps=1e-3, momentum=0.1)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = torch.flatten(x, 1)
        x = self.drop(F.relu(self.bn3(self.fc1(x))))
        return self.fc2(x)


def cnn_step(layout, batch=128):
    """One training step (forward, cross-entropy, backward, Adam) of the CNN in layout NCHW or channels_last."""
    torch.manual_seed(0)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    model = FashionMnistCnn().to(memory_format=fmt)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, 28, 28).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return step


def cnn_cases(batch=128):
    rows = []
    for threads in THREADS:
        set_threads(threads)
        for layout in ["NCHW", "channels_last"]:
            step = cnn_step(layout, batch)
            ms = median_ms(step)
            row = {"layout": layout, "threads": threads, "batch": batch, "stepMs": ms, "imagesPerSecond": batch / ms * 1e3,
                   "blas": blas_info(), "ops": dispatched_ops(step)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


if __name__ == "__main__":
    allocator = "glibc malloc, default settings" if os.environ.get("TORCH_DEFAULT_MALLOC") == "1" else \
        "glibc malloc with " + " ".join(f"{k}={v}" for k, v in ALLOCATOR_ENV.items()) + " (freed pages reused)"
    blas = blas_info()
    result = {"torch": torch.__version__, "threadsSetBeforeEachCase": True, "allocator": allocator,
              "warmupS": WARMUP_S, "measureS": MEASURE_S,
              "blas": blas, "config": torch.__config__.show(), "mkldnn": torch.backends.mkldnn.is_available(),
              "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")},
              "bn": [] if os.environ.get("TORCH_CNN_ONLY") == "1" else bn_cases(), "cnn": cnn_cases()}
    if not any(b["internal_api"] == "openblas" for b in blas):
        print("bench_torch.py: warning: PyTorch is not using OpenBLAS (apt-get install libopenblas0-pthread); the peer is handicapped", file=sys.stderr)
    with open(sys.argv[1] if len(sys.argv) > 1 else "torch.json", "w") as f:
        json.dump(result, f, indent=2)
