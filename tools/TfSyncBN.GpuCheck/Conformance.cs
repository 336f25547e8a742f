using TfSyncBN.Gpu;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.GpuCheck;

/// <summary>One conformance case's outcome: the largest absolute difference from the CPU backend and the bound it must stay within.</summary>
public sealed record CaseResult(string Name, double MaxError, double Bound)
{
    /// <summary>Whether the case passed.</summary>
    public bool Passed => MaxError <= Bound;
}

/// <summary>
/// The backend conformance suite: every GPU op, forward and backward, against TfSyncBN's CPU backend (public tensor ops
/// and GradientTape) on the same inputs.
/// </summary>
/// <remarks>
/// Tolerances. u = 2⁻²⁴ is the float32 unit roundoff. Ops that round once per element in both backends (add, multiply,
/// scale, ReLU, bias add, max pooling, im2col gathers, dropout masks) must agree exactly (bound 0). A sum of n products
/// computed in float32 in any order is within n·u·Σ|terms| of the exact value (Higham's γₙ bound), so two backends that
/// sum in different orders differ by at most 2·n·u·Σ|terms|: that is the bound of GEMM, convolution, bias and batch-norm
/// gradients, with Σ|terms| computed on the host from the inputs. Transcendental functions (exp, log, tanh) differ
/// between XMath and .NET by a few ulps: bounds of 16·u times the magnitude of the result.
/// </remarks>
public static class Conformance
{
    private const double U = 1.0 / (1 << 24);

    /// <summary>The cases by name, each a function of the device under test.</summary>
    public static IReadOnlyList<(string Name, Func<IlgpuDevice, IReadOnlyList<CaseResult>> Run)> Cases { get; } =
    [
        ("Elementwise", Elementwise),
        ("Activations", Activations),
        ("BiasAdd", BiasAdd),
        ("MatMul", MatMul),
        ("Conv2D", Conv2D),
        ("MaxPool2D", MaxPool2D),
        ("Dropout", Dropout),
        ("SparseSoftmaxCrossEntropy", SoftmaxCrossEntropy),
        ("Sum", Sum),
        ("BatchNorm", BatchNorm),
        ("Optimizers", Optimizers),
    ];

    /// <summary>Runs every case on <paramref name="device"/>.</summary>
    public static IReadOnlyList<CaseResult> RunAll(IlgpuDevice device) => [.. Cases.SelectMany(c => c.Run(device))];

    /// <summary>n uniform values in [−scale, scale) from a seeded generator.</summary>
    public static float[] Random(int n, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale)];
    }

    /// <summary>The largest absolute difference (NaN counts as infinite) against <paramref name="bound"/>.</summary>
    public static CaseResult Compare(string name, float[] gpu, float[] cpu, double bound)
    {
        if (gpu.Length != cpu.Length) return new CaseResult($"{name} (length {gpu.Length} vs {cpu.Length})", double.PositiveInfinity, bound);
        double max = 0;
        for (int i = 0; i < gpu.Length; i++)
        {
            double d = Math.Abs((double)gpu[i] - cpu[i]);
            if (double.IsNaN(d)) d = double.PositiveInfinity;
            max = Math.Max(max, d);
        }
        return new CaseResult(name, max, bound);
    }

    private static double MaxAbs(float[] v) => v.Length == 0 ? 0 : v.Max(x => Math.Abs((double)x));

    private static Tensor T(float[] v, params int[] shape) => Tensor.FromArray(v, shape);

    private static IReadOnlyList<CaseResult> Elementwise(IlgpuDevice d)
    {
        using var scope = new DeviceScope();
        float[] a = Random(37, 1), b = Random(37, 2);
        var ga = d.Upload(a, [37]);
        var gb = d.Upload(b, [37]);
        return
        [
            Compare("Add", d.Add(ga, gb).ToArray(), (T(a, 37) + T(b, 37)).ToArray(), 0),
            Compare("Multiply", d.Multiply(ga, gb).ToArray(), (T(a, 37) * T(b, 37)).ToArray(), 0),
            Compare("Scale", d.Scale(ga, 0.37f).ToArray(), (T(a, 37) * 0.37f).ToArray(), 0),
        ];
    }

    private static IReadOnlyList<CaseResult> Activations(IlgpuDevice d)
    {
        using var scope = new DeviceScope();
        float[] x = Random(41, 3, 4f), dy = Random(41, 4);
        x[0] = 0f;
        var gx = d.Upload(x, [41]);
        var gdy = d.Upload(dy, [41]);
        var results = new List<CaseResult>();
        foreach (var (name, gpuF, gpuB, cpuF, exact) in new (string, Func<GpuTensor, GpuTensor>, Func<GpuTensor, GpuTensor, GpuTensor>, Func<Tensor, Tensor>, bool)[]
        {
            ("Relu", d.Relu, (y, g) => d.ReluBackward(gx, g), t => t.Relu(), true),
            ("Sigmoid", d.Sigmoid, d.SigmoidBackward, t => t.Sigmoid(), false),
            ("Tanh", d.Tanh, d.TanhBackward, t => t.Tanh(), false),
        })
        {
            var cx = T(x, 41);
            using var tape = new GradientTape();
            tape.Watch(cx);
            var cy = cpuF(cx);
            var cdx = tape.Gradient(cy, [cx], T(dy, 41))[0]!;
            var gy = gpuF(gx);
            // |y| ≤ 1 for sigmoid/tanh; a few ulps of difference in the function, carried through products of values ≤ 1.
            results.Add(Compare(name, gy.ToArray(), cy.ToArray(), exact ? 0 : 16 * U));
            results.Add(Compare(name + " backward", gpuB(gy, gdy).ToArray(), cdx.ToArray(), exact ? 0 : 16 * U * (1 + MaxAbs(dy))));
        }
        return results;
    }

    private static IReadOnlyList<CaseResult> BiasAdd(IlgpuDevice d)
    {
        using var scope = new DeviceScope();
        int rows = 300, c = 5;
        float[] x = Random(rows * c, 5), bias = Random(c, 6), dy = Random(rows * c, 7);
        var cx = T(x, rows, c);
        var cb = T(bias, c);
        using var tape = new GradientTape();
        tape.Watch(cb);
        var cy = cx.BiasAdd(cb);
        var cdb = tape.Gradient(cy, [cb], T(dy, rows, c))[0]!;
        // dbias sums `rows` terms of |dy| ≤ 1: 2·rows·u·Σ|dy| with Σ|dy| ≤ rows.
        return
        [
            Compare("BiasAdd", d.BiasAdd(d.Upload(x, [rows, c]), d.Upload(bias, [c])).ToArray(), cy.ToArray(), 0),
            Compare("BiasAdd backward", d.BiasAddBackward(d.Upload(dy, [rows, c])).ToArray(), cdb.ToArray(), 2.0 * rows * U * rows),
        ];
    }

    private static IReadOnlyList<CaseResult> MatMul(IlgpuDevice d)
    {
        var results = new List<CaseResult>();
        int m = 7, k = 9, n = 5;
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
            {
                using var scope = new DeviceScope();
                int[] sa = ta ? [k, m] : [m, k], sb = tb ? [n, k] : [k, n];
                float[] a = Random(m * k, 8), b = Random(k * n, 9), dy = Random(m * n, 10);
                var ca = T(a, sa);
                var cb = T(b, sb);
                using var tape = new GradientTape();
                tape.Watch(ca);
                tape.Watch(cb);
                var cy = ca.MatMul(cb, ta, tb);
                var grads = tape.Gradient(cy, [ca, cb], T(dy, m, n));
                var ga = d.Upload(a, sa);
                var gb = d.Upload(b, sb);
                var gdy = d.Upload(dy, [m, n]);
                string tag = $"MatMul{(ta ? " Aᵀ" : "")}{(tb ? " Bᵀ" : "")}";
                // Each output sums k (forward), n (dA) or m (dB) products of values ≤ 1: 2·n·u·n.
                results.Add(Compare(tag, d.MatMul(ga, gb, ta, tb).ToArray(), cy.ToArray(), 2.0 * k * k * U));
                // dA = dY·op(B)ᵀ (transposed back when A was transposed); dB likewise.
                var gda = ta ? d.MatMul(gb, gdy, tb, true) : d.MatMul(gdy, gb, false, !tb);
                var gdb = tb ? d.MatMul(gdy, ga, true, ta) : d.MatMul(ga, gdy, !ta, false);
                results.Add(Compare(tag + " dA", gda.ToArray(), grads[0]!.ToArray(), 2.0 * n * n * U));
                results.Add(Compare(tag + " dB", gdb.ToArray(), grads[1]!.ToArray(), 2.0 * m * m * U));
            }
        return results;
    }

    private static IReadOnlyList<CaseResult> Conv2D(IlgpuDevice d)
    {
        var results = new List<CaseResult>();
        int n = 2, h = 6, w = 5, c = 3, f = 4;
        foreach (var (kh, kw, s, padding) in new[] { (3, 3, 1, "same"), (3, 2, 2, "valid"), (2, 2, 2, "same") })
        {
            using var scope = new DeviceScope();
            float[] x = Random(n * h * w * c, 11), kernel = Random(kh * kw * c * f, 12);
            var cx = T(x, n, h, w, c);
            var ck = T(kernel, kh, kw, c, f);
            using var tape = new GradientTape();
            tape.Watch(cx);
            tape.Watch(ck);
            var cy = cx.Conv2D(ck, [s, s], padding);
            float[] dy = Random(cy.Size, 13);
            var grads = tape.Gradient(cy, [cx, ck], T(dy, [.. cy.Shape]));
            var gx = d.Upload(x, [n, h, w, c]);
            var gk = d.Upload(kernel, [kh, kw, c, f]);
            var gy = d.Conv2D(gx, gk, [s, s], padding);
            var g = d.Conv2DBackward(gx, gk, d.Upload(dy, [.. gy.Shape]), [s, s], padding);
            string tag = $"Conv2D {kh}x{kw}/{s} {padding}";
            int taps = kh * kw * c, positions = n * cy.Shape[1] * cy.Shape[2];
            // Sums of `taps` (forward), `kh·kw·f` (dX) and `positions` (dK) products of values ≤ 1.
            results.Add(Compare(tag, gy.ToArray(), cy.ToArray(), 2.0 * taps * taps * U));
            results.Add(Compare(tag + " dX", g.Input.ToArray(), grads[0]!.ToArray(), 2.0 * kh * kw * f * kh * kw * f * U));
            results.Add(Compare(tag + " dK", g.Kernel.ToArray(), grads[1]!.ToArray(), 2.0 * positions * positions * U));
        }
        return results;
    }

    private static IReadOnlyList<CaseResult> MaxPool2D(IlgpuDevice d)
    {
        var results = new List<CaseResult>();
        int n = 2, h = 5, w = 6, c = 3;
        foreach (var (p, s, padding) in new[] { (2, 2, "valid"), (3, 2, "same"), (2, 1, "valid") })
        {
            using var scope = new DeviceScope();
            float[] x = Random(n * h * w * c, 14);
            var cx = T(x, n, h, w, c);
            using var tape = new GradientTape();
            tape.Watch(cx);
            var cy = cx.MaxPool2D([p, p], [s, s], padding);
            float[] dy = Random(cy.Size, 15);
            var cdx = tape.Gradient(cy, [cx], T(dy, [.. cy.Shape]))[0]!;
            var gx = d.Upload(x, [n, h, w, c]);
            var gy = d.MaxPool2D(gx, [p, p], [s, s], padding);
            string tag = $"MaxPool2D {p}/{s} {padding}";
            results.Add(Compare(tag, gy.ToArray(), cy.ToArray(), 0));
            // Overlapping windows add up to ⌈p/s⌉² gradients of |dy| ≤ 1 in another order.
            int overlap = (p + s - 1) / s;
            results.Add(Compare(tag + " backward", d.MaxPool2DBackward(gx, d.Upload(dy, [.. gy.Shape]), [p, p], [s, s], padding).ToArray(), cdx.ToArray(),
                2.0 * overlap * overlap * overlap * overlap * U));
        }
        return results;
    }

    private static IReadOnlyList<CaseResult> Dropout(IlgpuDevice d)
    {
        using var scope = new DeviceScope();
        int len = 4000;
        float rate = 0.3f;
        float[] x = Random(len, 16), dy = Random(len, 17);
        var mask = d.Dropout(d.Upload(Enumerable.Repeat(1f, len).ToArray(), [len]), rate, 1234).ToArray();
        var cpuY = (T(x, len) * T(mask, len)).ToArray();
        var cpuDx = (T(dy, len) * T(mask, len)).ToArray();
        float keep = 1f / (1f - rate);
        int dropped = mask.Count(v => v == 0f), bad = mask.Count(v => v != 0f && v != keep);
        // Dropped count ~ Binomial(4000, 0.3): mean 1200, sd 29; 6 sd either side.
        double off = Math.Abs(dropped - len * rate);
        return
        [
            Compare("Dropout", d.Dropout(d.Upload(x, [len]), rate, 1234).ToArray(), cpuY, 0),
            Compare("Dropout backward", d.DropoutBackward(d.Upload(dy, [len]), rate, 1234).ToArray(), cpuDx, 0),
            new CaseResult($"Dropout mask: {dropped} of {len} dropped, {bad} values neither 0 nor 1/(1 − rate)", bad == 0 ? off : double.PositiveInfinity,
                6 * Math.Sqrt(len * rate * (1 - rate))),
            Compare("Dropout mask depends on the seed (negative control: different masks)", [d.Dropout(d.Upload(Enumerable.Repeat(1f, len).ToArray(), [len]), rate, 99).ToArray().SequenceEqual(mask) ? 1f : 0f], [0f], 0),
        ];
    }

    private static IReadOnlyList<CaseResult> SoftmaxCrossEntropy(IlgpuDevice d)
    {
        using var scope = new DeviceScope();
        int rows = 13, classes = 10;
        float[] logits = Random(rows * classes, 18, 6f), dloss = Random(rows, 19);
        int[] labels = [.. Enumerable.Range(0, rows).Select(r => (r * 7) % classes)];
        var cl = T(logits, rows, classes);
        using var tape = new GradientTape();
        tape.Watch(cl);
        var closs = Ops.SparseSoftmaxCrossEntropyWithLogits(T([.. labels.Select(v => (float)v)], rows), cl);
        var cdx = tape.Gradient(closs, [cl], T(dloss, rows))[0]!;
        using var g = d.SparseSoftmaxCrossEntropy(d.Upload(logits, [rows, classes]), labels);
        // loss = logsumexp − x[k] with |x| ≤ 6: exp/log within a few ulps, a sum of 10 terms: 16·u·(|loss| + 2·6).
        return
        [
            Compare("SparseSoftmaxCrossEntropy", g.Loss.ToArray(), closs.ToArray(), 16 * U * (MaxAbs(closs.ToArray()) + 12)),
            Compare("SparseSoftmaxCrossEntropy backward", d.SparseSoftmaxCrossEntropyBackward(g, d.Upload(dloss, [rows])).ToArray(), cdx.ToArray(), 16 * U * 12),
        ];
    }

    private static IReadOnlyList<CaseResult> Sum(IlgpuDevice d)
    {
        using var scope = new DeviceScope();
        int len = 1000;
        float[] x = Random(len, 20);
        var cpu = T(x, len).Sum().ToArray();
        // 1000 terms of |x| ≤ 1 in another order: 2·1000·u·1000.
        return [Compare("Sum", d.Sum(d.Upload(x, [len])).ToArray(), cpu, 2.0 * len * len * U)];
    }

    private static IReadOnlyList<CaseResult> BatchNorm(IlgpuDevice d)
    {
        var results = new List<CaseResult>();
        // NHWC-like [rows, C] (axis -1 = axis 1) and NCHW [N, C, H, W] (axis 1).
        foreach (var shape in new[] { new[] { 40, 6 }, new[] { 3, 4, 5, 3 } })
        {
            using var scope = new DeviceScope();
            int c = shape[1], size = shape.Aggregate(1, (a, b) => a * b), count = size / c;
            float[] x = Random(size, 21, 3f).Select(v => v + 2f).ToArray(), dy = Random(size, 22);
            float[] gamma = Random(c, 23).Select(v => v + 1.5f).ToArray(), beta = Random(c, 24);
            const float eps = 1e-3f;
            var cx = T(x, shape);
            var cg = T(gamma, c);
            var cb = T(beta, c);
            var rm = new Variable(Tensor.Zeros([c]));
            var rv = new Variable(Tensor.Ones([c]));
            using var tape = new GradientTape();
            tape.Watch(cx);
            tape.Watch(cg);
            tape.Watch(cb);
            var cy = Ops.BatchNorm(cx, rm, rv, cg, cb, training: true, momentum: 1f, epsilon: eps);
            var grads = tape.Gradient(cy, [cx, cg, cb], T(dy, shape));
            var gx = d.Upload(x, shape);
            var gg = d.Upload(gamma, [c]);
            var gb = d.Upload(beta, [c]);
            var fwd = d.BatchNormTraining(gx, 1, gg, gb, eps);
            var bwd = d.BatchNormBackward(gx, d.Upload(dy, shape), fwd, gg);
            string tag = $"BatchNorm [{string.Join(",", shape)}]";
            // Both compute the statistics in float64: mean and variance agree to float32 rounding (|x| ≤ 5 → 4·u·25).
            results.Add(Compare(tag + " mean", fwd.Mean.ToArray(), rm.Value.ToArray(), 4 * U * 5));
            results.Add(Compare(tag + " variance", fwd.Variance.ToArray(), rv.Value.ToArray(), 4 * U * 25));
            // y = x·scale + shift with |y| ≲ 2.5·|γ|/σ·5: a few roundings of terms up to |x·scale| + |shift| ≤ 2·5·2.5/σ.
            double invMin = 1 / Math.Sqrt(rv.Value.ToArray().Min() + eps);
            double yScale = 5 * 2.5 * invMin * 2 + 1;
            results.Add(Compare(tag, fwd.Y.ToArray(), cy.ToArray(), 8 * U * yScale));
            // dβ, dγ: sums of `count` terms |dy| ≤ 1, |dy·(x−μ)·inv| ≤ 10·inv; dx: γ·inv·(dy − Σdy/N − (x−μ)·inv²·Σdy(x−μ)/N).
            results.Add(Compare(tag + " dβ", bwd.Beta.ToArray(), grads[2]!.ToArray(), 2.0 * count * U * count));
            results.Add(Compare(tag + " dγ", bwd.Gamma.ToArray(), grads[1]!.ToArray(), 2.0 * count * U * count * 10 * invMin));
            results.Add(Compare(tag + " dx", bwd.Input.ToArray(), grads[0]!.ToArray(), 2.0 * count * U * 2.5 * invMin * (1 + 10 * invMin * invMin * 10)));
            // Inference with the batch statistics as moving statistics equals the training output up to rounding.
            var inf = d.BatchNormInference(gx, fwd.Mean, fwd.Variance, 1, gg, gb, eps);
            var cinf = Ops.BatchNorm(cx, rm, rv, cg, cb, training: false, epsilon: eps);
            results.Add(Compare(tag + " inference", inf.ToArray(), cinf.ToArray(), 8 * U * yScale));
        }
        return results;
    }

    private static IReadOnlyList<CaseResult> Optimizers(IlgpuDevice d)
    {
        var results = new List<CaseResult>();
        int len = 50, steps = 3;
        foreach (var (name, make) in new (string, Func<Optimizer>)[]
        {
            ("SGD", () => new SGD(0.1f)),
            ("SGD momentum", () => new SGD(0.1f, momentum: 0.9f)),
            ("SGD Nesterov", () => new SGD(0.1f, momentum: 0.9f, nesterov: true)),
            ("Adam", () => new Adam(0.01f)),
        })
        {
            float[] w0 = Random(len, 25);
            var variable = new Variable(T(w0, len));
            var optimizer = make();
            using var gw = d.CreateVariable(w0, [len]);
            using var m = d.CreateVariable(new float[len], [len]);
            using var v = d.CreateVariable(new float[len], [len]);
            for (int s = 0; s < steps; s++)
            {
                using var scope = new DeviceScope();
                float[] g = Random(len, 26 + s);
                optimizer.ApplyGradients([T(g, len)], [variable]);
                var gg = d.Upload(g, [len]);
                if (optimizer is SGD sgd) d.SgdUpdate(gw, gg, m, 0.1f, sgd.Momentum, sgd.Nesterov);
                else d.AdamUpdate(gw, gg, m, v, s, 0.01f);
            }
            // A few float32 roundings per step of terms ≤ 1 + the weights; the CPU may fuse a multiply-add.
            results.Add(Compare(name, gw.ToArray(), variable.Value.ToArray(), 8 * U * steps * 4));
        }
        return results;
    }
}
