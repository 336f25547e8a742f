"""Golden vectors for tests/TfSyncBN.Tests/Keras/Losses/TorchLossGoldenTests.cs, computed with PyTorch 1.13 (float64).

Logits are closed-form: element i is 4*sin(0.37*i + 0.5) (rounded to float32 first), shape [4, 5]; labels [3, 0, 4, 1].
PyTorch's cross_entropy with label_smoothing s uses targets y*(1-s) + s/C, exactly Keras' label smoothing.
Run: /usr/bin/python3 tests/reference/loss_golden.py
"""
import math
import torch
import torch.nn.functional as F

n, c = 4, 5
x = torch.tensor([4 * math.sin(0.37 * i + 0.5) for i in range(n * c)], dtype=torch.float32).double().reshape(n, c).requires_grad_()
labels = torch.tensor([3, 0, 4, 1])


def fmt(name, t):
    print(f"// {name} shape {list(t.shape)}")
    print(", ".join(f"{v:.12g}" for v in t.flatten().tolist()))


per = F.cross_entropy(x, labels, reduction="none")
fmt("sparse per-example", per)
mean = per.mean()
mean.backward()
fmt("d mean / d logits", x.grad)
x.grad = None
smooth = F.cross_entropy(x, labels, reduction="none", label_smoothing=0.2)
fmt("smoothed per-example (s = 0.2)", smooth)
smooth.mean().backward()
fmt("d smoothed mean / d logits", x.grad)
