"""PyTorch CUDA peer of TfSyncBN.GpuCheck's benchmarks (same shapes), printed as `BENCH torch-<name>: <ms> ms` lines.

BN forward+backward on NHWC (channels_last) [32, 64, 32, 32] float32 input, and one SGD step of the check CNN
(Conv2d 3x3x16 same, BatchNorm2d, ReLU, MaxPool 2, Linear to 2 classes, as the check CNN) at batch 64, 28x28, channels_last.
Median of 20 synchronized runs after 3 warm-up runs.
"""
import sys
import time

import torch


def median_ms(fn, runs=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return times[runs // 2]


def main():
    if not torch.cuda.is_available():
        print("SKIP torch benchmark: torch.cuda.is_available() is False")
        return 0
    dev = torch.device("cuda:0")
    torch.manual_seed(0)
    x = torch.randn(32, 64, 32, 32, device=dev).to(memory_format=torch.channels_last).requires_grad_()
    dy = torch.randn_like(x)
    bn = torch.nn.BatchNorm2d(64, eps=1e-3).to(dev)

    def bn_step():
        y = bn(x)
        y.backward(dy)

    print(f"BENCH torch-bn-fwd-bwd NHWC 32x32x32x64: {median_ms(bn_step):.3f} ms")

    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1, bias=False), torch.nn.BatchNorm2d(16, eps=1e-3), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(14 * 14 * 16, 2)).to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    images = torch.rand(64, 1, 28, 28, device=dev).to(memory_format=torch.channels_last)
    labels = torch.randint(0, 2, (64,), device=dev)

    def cnn_step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        opt.step()
        loss.item()

    print(f"BENCH torch-cnn-step batch 64 28x28 (conv 3x3x16 + BN + ReLU + pool + dense): {median_ms(cnn_step):.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
