"""Golden vectors for tests/TfSyncBN.Tests/Keras/Layers/LayersGoldenTests.cs, computed with PyTorch 1.13 in float64.

Writes tests/TfSyncBN.Tests/Keras/Layers/LayersGolden.g.cs. Inputs are closed-form, as in nn_golden.py: element i of
a tensor with phase p and scale s is s * float32(sin(0.37*i + p)). Layouts are TfSyncBN's: NHWC inputs (unless
stated), kernels [KH, KW, C/G, F], depthwise kernels [KH, KW, C, M]. Every gradient is the vector-Jacobian product
with the upstream u = seq(output shape, 3.0). TensorFlow's "same" padding (extra row/column at the bottom/right) and
its average pooling that does not count padded positions are built by hand here from zero padding.
Run: /usr/bin/python3 tests/reference/layers_golden.py
"""
import math
import os
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
OUT = []


def seq(shape, phase, scale=1.0):
    n = math.prod(shape)
    v = torch.tensor([math.sin(0.37 * i + phase) for i in range(n)], dtype=torch.float32).double()
    return (v * scale).reshape(shape)


def emit(name, t):
    vals = ", ".join(f"{x:.17g}" for x in t.detach().flatten().tolist())
    OUT.append(f"    public static readonly double[] {name} = [{vals}];")


def same_pad(size, k, s, d=1):
    k = (k - 1) * d + 1
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def tf_pad_nchw(x, kh, kw, sh, sw, dh=1, dw=1, value=0.0):
    pt, pb = same_pad(x.shape[2], kh, sh, dh)
    pl, pr = same_pad(x.shape[3], kw, sw, dw)
    return F.pad(x, (pl, pr, pt, pb), value=value)


def vjp(y, inputs):
    u = seq(list(y.shape), 3.0)
    return torch.autograd.grad((y * u).sum(), inputs)


# Activations on x = 8*seq([2, 3, 5], 0) (values in [-8, 8]; x[0] = 0, where relu and relu6 have gradient 0 as in TensorFlow).
x = seq([2, 3, 5], 0.0, 8.0).requires_grad_()
acts = {
    "Relu": F.relu(x), "Relu6": torch.minimum(F.relu(x), torch.tensor(6.0)), "LeakyRelu": F.leaky_relu(x, 0.2), "Elu": F.elu(x, 1.0),
    "Gelu": F.gelu(x), "GeluTanh": F.gelu(x, approximate="tanh"), "Silu": F.silu(x), "Sigmoid": torch.sigmoid(x),
    "Tanh": torch.tanh(x), "Softmax": torch.softmax(x, -1),
}
for k, y in acts.items():
    emit(f"{k}Y", y)
    emit(f"{k}Dx", vjp(y, [x])[0])
emit("LeakyRelu03Y", F.leaky_relu(x, 0.3))

# Conv2D: x [2, 7, 6, 4], kernel [3, 3, 2, 6], groups 2, strides 2, "same", bias.
x = seq([2, 7, 6, 4], 0.0).requires_grad_()
k = seq([3, 3, 2, 6], 1.0).requires_grad_()
b = seq([6], 2.0).requires_grad_()
xn = tf_pad_nchw(x.permute(0, 3, 1, 2), 3, 3, 2, 2)
y = F.conv2d(xn, k.permute(3, 2, 0, 1), b, stride=2, groups=2).permute(0, 2, 3, 1)
emit("ConvGroupsY", y)
for n, g in zip(["Dx", "Dk", "Db"], vjp(y, [x, k, b])):
    emit(f"ConvGroups{n}", g)

# Conv2D: x [1, 7, 8, 2], kernel [3, 2, 2, 3], dilation [2, 3], strides 1, "same", no bias.
x = seq([1, 7, 8, 2], 0.5).requires_grad_()
k = seq([3, 2, 2, 3], 1.5).requires_grad_()
xn = tf_pad_nchw(x.permute(0, 3, 1, 2), 3, 2, 1, 1, 2, 3)
y = F.conv2d(xn, k.permute(3, 2, 0, 1), dilation=(2, 3)).permute(0, 2, 3, 1)
emit("ConvDilatedY", y)
for n, g in zip(["Dx", "Dk"], vjp(y, [x, k])):
    emit(f"ConvDilated{n}", g)

# DepthwiseConv2D: x [2, 6, 5, 3], kernel [3, 3, 3, 2] (multiplier 2), strides 2, "same", bias [6].
x = seq([2, 6, 5, 3], 0.25).requires_grad_()
k = seq([3, 3, 3, 2], 1.25).requires_grad_()
b = seq([6], 2.25).requires_grad_()
w = k.permute(2, 3, 0, 1).reshape(6, 1, 3, 3)
xn = tf_pad_nchw(x.permute(0, 3, 1, 2), 3, 3, 2, 2)
y = F.conv2d(xn, w, b, stride=2, groups=3).permute(0, 2, 3, 1)
emit("DepthwiseY", y)
for n, g in zip(["Dx", "Dk", "Db"], vjp(y, [x, k, b])):
    emit(f"Depthwise{n}", g)

# DepthwiseConv2D: x [1, 7, 7, 2], kernel [2, 2, 2, 1], dilation 2, "valid", no bias.
x = seq([1, 7, 7, 2], 0.75).requires_grad_()
k = seq([2, 2, 2, 1], 1.75).requires_grad_()
y = F.conv2d(x.permute(0, 3, 1, 2), k.permute(2, 3, 0, 1).reshape(2, 1, 2, 2), dilation=2, groups=2).permute(0, 2, 3, 1)
emit("DepthwiseDilatedY", y)
for n, g in zip(["Dx", "Dk"], vjp(y, [x, k])):
    emit(f"DepthwiseDilated{n}", g)

# AveragePooling2D: x [2, 5, 7, 3], pool 3, strides 2, "same" (padding not counted).
x = seq([2, 5, 7, 3], 0.1).requires_grad_()
xn = x.permute(0, 3, 1, 2)
s = F.avg_pool2d(tf_pad_nchw(xn, 3, 3, 2, 2), 3, 2, divisor_override=1)
c = F.avg_pool2d(tf_pad_nchw(torch.ones_like(xn), 3, 3, 2, 2), 3, 2, divisor_override=1)
y = (s / c).permute(0, 2, 3, 1)
emit("AvgSameY", y)
emit("AvgSameDx", vjp(y, [x])[0])

# AveragePooling2D: x [1, 5, 6, 2], pool [2, 3], strides [1, 2], "valid".
x = seq([1, 5, 6, 2], 0.2).requires_grad_()
y = F.avg_pool2d(x.permute(0, 3, 1, 2), (2, 3), (1, 2)).permute(0, 2, 3, 1)
emit("AvgValidY", y)
emit("AvgValidDx", vjp(y, [x])[0])

# MaxPooling2D channels_first: x NCHW [2, 3, 4, 4], pool 2 -> [2, 3, 2, 2].
x = seq([2, 3, 4, 4], 0.3).requires_grad_()
y = F.max_pool2d(x, 2)
emit("MaxNchwY", y)
emit("MaxNchwDx", vjp(y, [x])[0])

# GlobalMaxPooling2D / GlobalAveragePooling2D: x NHWC [2, 3, 4, 5].
x = seq([2, 3, 4, 5], 0.4).requires_grad_()
y = x.amax(dim=(1, 2))
emit("GlobalMaxY", y)
emit("GlobalMaxDx", vjp(y, [x])[0])
y = x.mean(dim=(1, 2))
emit("GlobalAvgY", y)

# UpSampling2D nearest, size [2, 3]: x NHWC [2, 3, 2, 2].
x = seq([2, 3, 2, 2], 0.6).requires_grad_()
y = F.interpolate(x.permute(0, 3, 1, 2), scale_factor=(2, 3), mode="nearest").permute(0, 2, 3, 1)
emit("UpY", y)
emit("UpDx", vjp(y, [x])[0])

# LayerNormalization, axis -1, epsilon 1e-3: x [3, 2, 5], gamma, beta [5].
x = seq([3, 2, 5], 0.7, 2.0).requires_grad_()
g = seq([5], 1.7).requires_grad_()
b = seq([5], 2.7).requires_grad_()
y = F.layer_norm(x, [5], g, b, 1e-3)
emit("LayerNormY", y)
for n, gr in zip(["Dx", "Dgamma", "Dbeta"], vjp(y, [x, g, b])):
    emit(f"LayerNorm{n}", gr)

# LayerNormalization, axis [1, 2], epsilon 1e-3: x [2, 3, 4], gamma, beta [3, 4].
x = seq([2, 3, 4], 0.8, 2.0).requires_grad_()
g = seq([3, 4], 1.8).requires_grad_()
b = seq([3, 4], 2.8).requires_grad_()
y = F.layer_norm(x, [3, 4], g, b, 1e-3)
emit("LayerNorm2Y", y)
for n, gr in zip(["Dx", "Dgamma", "Dbeta"], vjp(y, [x, g, b])):
    emit(f"LayerNorm2{n}", gr)

path = os.path.join(os.path.dirname(__file__), "..", "TfSyncBN.Tests", "Keras", "Layers", "LayersGolden.g.cs")
with open(path, "w") as f:
    f.write("// <auto-generated> by tests/reference/layers_golden.py (PyTorch " + torch.__version__ + ", float64). Do not edit.\n")
    f.write("namespace TfSyncBN.Tests.Keras.Layers;\n\n")
    f.write("/// <summary>Golden vectors of tests/reference/layers_golden.py.</summary>\n")
    f.write("internal static class LayersGolden\n{\n")
    f.write("\n".join(OUT))
    f.write("\n}\n")
print("wrote", path, len(OUT), "arrays")
