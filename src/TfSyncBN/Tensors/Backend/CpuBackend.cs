using System.Numerics;
using System.Numerics.Tensors;

namespace TfSyncBN.Tensors;

/// <summary>
/// The host backend: <see cref="HostStorage"/> over managed arrays (pooled by <see cref="TensorScope"/>) and the span
/// kernels of <c>Tensors/Kernels</c> and <see cref="TensorPrimitives"/>. The reference every other backend must match.
/// </summary>
internal sealed partial class CpuBackend : IBackend
{
    /// <summary>The single instance.</summary>
    public static CpuBackend Instance { get; } = new();

    private CpuBackend() { }

    /// <inheritdoc/>
    public Device Device => Device.Cpu;

    private static float[] A(TensorStorage s) => ((HostStorage)s).Array;

    private static float[]? AOrNull(TensorStorage? s) => s is null ? null : A(s);

    /// <inheritdoc/>
    public TensorStorage Allocate(int length) => new HostStorage(TensorScope.Allocate(length));

    /// <inheritdoc/>
    public TensorStorage Upload(ReadOnlySpan<float> values)
    {
        var storage = TensorScope.Allocate(values.Length);
        values.CopyTo(storage);
        return new HostStorage(storage);
    }

    /// <inheritdoc/>
    public void Fill(TensorStorage destination, float value) => A(destination).AsSpan().Fill(value);

    /// <inheritdoc/>
    public void Binary(BinaryOpKind op, TensorStorage x, TensorStorage y, TensorStorage destination) =>
        Binary(op, A(x), A(y), A(destination));

    /// <summary>The kernel of <see cref="Binary(BinaryOpKind, TensorStorage, TensorStorage, TensorStorage)"/> on host spans.</summary>
    internal static void Binary(BinaryOpKind op, ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d)
    {
        switch (op)
        {
            case BinaryOpKind.Add: Kernels.AddOp.Invoke(x, y, d); break;
            case BinaryOpKind.Subtract: Kernels.SubtractOp.Invoke(x, y, d); break;
            case BinaryOpKind.Multiply: Kernels.MultiplyOp.Invoke(x, y, d); break;
            case BinaryOpKind.Divide: Kernels.DivideOp.Invoke(x, y, d); break;
            case BinaryOpKind.Maximum: Kernels.MaximumOp.Invoke(x, y, d); break;
            case BinaryOpKind.Minimum: Kernels.MinimumOp.Invoke(x, y, d); break;
            default: throw new ArgumentOutOfRangeException(nameof(op), op, "Unknown binary operation.");
        }
    }

    /// <inheritdoc/>
    public void SgdUpdate(TensorStorage weights, TensorStorage gradient, TensorStorage? momentum, float learningRate, float mu,
        bool nesterov, TensorStorage newWeights, TensorStorage? newMomentum) =>
        SgdUpdate(A(weights), A(gradient), AOrNull(momentum), learningRate, mu, nesterov, A(newWeights), AOrNull(newMomentum));

    /// <summary>The kernel of <see cref="IBackend.SgdUpdate"/> on host spans.</summary>
    internal static void SgdUpdate(ReadOnlySpan<float> w, ReadOnlySpan<float> g, ReadOnlySpan<float> momentum, bool hasMomentum,
        float learningRate, float mu, bool nesterov, Span<float> result, Span<float> m)
    {
        if (!hasMomentum)
        {
            TensorPrimitives.Multiply(g, learningRate, result);
            TensorPrimitives.Subtract(w, result, result);
            return;
        }
        TensorPrimitives.Multiply(g, -learningRate, m);                    // −g·η
        TensorPrimitives.MultiplyAdd(momentum, mu, m, m);                 // + m·μ
        if (nesterov)
        {
            TensorPrimitives.Multiply(g, -learningRate, result);
            TensorPrimitives.MultiplyAdd(m, mu, result, result);
            TensorPrimitives.Add(w, result, result);
        }
        else
        {
            TensorPrimitives.Add(w, m, result);
        }
    }

    private static void SgdUpdate(float[] w, float[] g, float[]? momentum, float learningRate, float mu, bool nesterov, float[] result, float[]? m) =>
        SgdUpdate(w, g, momentum, momentum is not null, learningRate, mu, nesterov, result, m);

    /// <inheritdoc/>
    public void AdamUpdate(TensorStorage weights, TensorStorage gradient, TensorStorage m, TensorStorage v, float alpha, float beta1,
        float beta2, float epsilon, TensorStorage newWeights, TensorStorage newM, TensorStorage newV) =>
        AdamUpdate(A(weights), A(gradient), A(m), A(v), alpha, beta1, beta2, epsilon, A(newWeights), A(newM), A(newV));

    /// <summary>
    /// The kernel of <see cref="IBackend.AdamUpdate"/> on host spans, one pass over the elements. Each element takes the
    /// float32 operations, each rounded, in this order (no fused multiply-add):
    /// <c>m' = (g − m)·(1 − β₁) + m</c>, <c>v' = (g·g − v)·(1 − β₂) + v</c>, <c>w' = w − (m'·α)/(sqrt(v') + ε)</c>.
    /// </summary>
    internal static void AdamUpdate(ReadOnlySpan<float> w, ReadOnlySpan<float> g, ReadOnlySpan<float> m, ReadOnlySpan<float> v,
        float alpha, float beta1, float beta2, float epsilon, Span<float> update, Span<float> mNew, Span<float> vNew)
    {
        int n = w.Length;
        if (g.Length != n || m.Length != n || v.Length != n || update.Length != n || mNew.Length != n || vNew.Length != n)
            throw new ArgumentException("Adam's operands must all have the weights' length.");
        float b1 = 1f - beta1, b2 = 1f - beta2;
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vb1 = new Vector<float>(b1);
            var vb2 = new Vector<float>(b2);
            var va = new Vector<float>(alpha);
            var ve = new Vector<float>(epsilon);
            for (; i + Vector<float>.Count <= n; i += Vector<float>.Count)
            {
                var gi = new Vector<float>(g[i..]);
                var mi = new Vector<float>(m[i..]);
                var vi = new Vector<float>(v[i..]);
                var mt = (gi - mi) * vb1 + mi;
                var vt = (gi * gi - vi) * vb2 + vi;
                var wt = new Vector<float>(w[i..]) - mt * va / (Vector.SquareRoot(vt) + ve);
                mt.CopyTo(mNew[i..]);
                vt.CopyTo(vNew[i..]);
                wt.CopyTo(update[i..]);
            }
        }
        for (; i < n; i++)
        {
            float mt = (g[i] - m[i]) * b1 + m[i];
            float vt = (g[i] * g[i] - v[i]) * b2 + v[i];
            mNew[i] = mt;
            vNew[i] = vt;
            update[i] = w[i] - mt * alpha / (MathF.Sqrt(vt) + epsilon);
        }
    }
}
