"""Golden vectors for tests/TfSyncBN.Tests/Keras/Layers/TorchGoldenTests.cs, computed with PyTorch 1.13 (float64).

Inputs are closed-form (so the C# test rebuilds them without embedding): element i of a tensor with
phase p is sin(0.37*i + p) (rounded to float32 first). Layouts are converted to TfSyncBN's NHWC / [KH, KW, C, F].
Run: /usr/bin/python3 tests/reference/nn_golden.py
"""
import math
import torch
import torch.nn.functional as F


def seq(shape, phase):
    n = math.prod(shape)
    v = torch.tensor([math.sin(0.37 * i + phase) for i in range(n)], dtype=torch.float32).double()
    return v.reshape(shape)


def fmt(name, t):
    vals = ", ".join(f"{x:.9g}" for x in t.flatten().tolist())
    print(f"// {name} shape {list(t.shape)}\n{vals}\n")


def same_pad(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


# Conv2D: x [1, 5, 6, 2] NHWC, kernel [3, 3, 2, 3], stride 2, "same" padding, bias, then upstream u.
x = seq([1, 5, 6, 2], 0.0).requires_grad_()
k = seq([3, 3, 2, 3], 1.0).requires_grad_()
b = seq([3], 2.0)
pt, pb = same_pad(5, 3, 2)
pl, pr = same_pad(6, 3, 2)
xn = x.permute(0, 3, 1, 2)
xn = F.pad(xn, (pl, pr, pt, pb))
y = F.conv2d(xn, k.permute(3, 2, 0, 1), b, stride=2).permute(0, 2, 3, 1)
u = seq(list(y.shape), 3.0)
(y * u).sum().backward()
fmt("conv y", y.detach())
fmt("conv dx", x.grad)
fmt("conv dk", k.grad)

# Dense: x [2, 4], kernel [4, 3], bias [3], relu.
xd = seq([2, 4], 0.5)
wd = seq([4, 3], 1.5)
bd = seq([3], 2.5)
fmt("dense relu y", F.relu(xd @ wd + bd))

# Softmax with large logits, last axis.
xs = seq([2, 5], 0.25) * 1000
fmt("softmax y", F.softmax(xs, dim=-1))
fmt("log_softmax y", F.log_softmax(xs, dim=-1))

# Max pooling 3x3 stride 2 "same" on [1, 5, 6, 2]: torch pads with -inf explicitly.
xp = seq([1, 5, 6, 2], 4.0).permute(0, 3, 1, 2)
pt, pb = same_pad(5, 3, 2)
pl, pr = same_pad(6, 3, 2)
xp = F.pad(xp, (pl, pr, pt, pb), value=-math.inf)
fmt("maxpool y", F.max_pool2d(xp, 3, 2).permute(0, 2, 3, 1))
