using System.Runtime.CompilerServices;

namespace TfSyncBN.Tensors;

/// <summary>An element-wise function with its derivative, for <see cref="Tensor"/>'s pointwise activations.</summary>
internal interface IPointwise
{
    /// <summary>f(x).</summary>
    float Forward(float x);

    /// <summary>f'(x), given x and y = f(x).</summary>
    float Derivative(float x, float y);
}

// Element-wise activations (keras.activations) beyond relu, sigmoid and tanh: one generic forward-plus-tape helper,
// specialized per activation by a struct, so each runs as one inlined loop forward and one backward.
public sealed partial class Tensor
{
    /// <summary>Applies <typeparamref name="TOp"/> element-wise and records <c>dx = dy·f'(x)</c> on the tape.</summary>
    internal Tensor Pointwise<TOp>(TOp op) where TOp : struct, IPointwise
    {
        var y = Uninitialized(shape);
        var xs = Data;
        var ys = y.Data;
        for (int i = 0; i < xs.Length; i++) ys[i] = op.Forward(xs[i]);
        GradientTape.Record(y, [this], (dy, _) =>
        {
            var dx = Uninitialized(shape);
            var g = dy.Data;
            var d = dx.Data;
            for (int i = 0; i < d.Length; i++) d[i] = g[i] * op.Derivative(xs[i], ys[i]);
            return [dx];
        });
        return y;
    }

    /// <summary>Element-wise <c>y = min(max(x, 0), 6)</c> (<c>keras.activations.relu6</c>); gradient dy on 0 &lt; x &lt; 6, else 0.</summary>
    public Tensor Relu6() => Pointwise(new Relu6Op());

    /// <summary>
    /// Element-wise leaky ReLU (<c>keras.activations.leaky_relu</c>): <c>y = x</c> for x ≥ 0, <c>negativeSlope·x</c>
    /// below; gradient 1 for x &gt; 0, <paramref name="negativeSlope"/> otherwise (as TensorFlow).
    /// </summary>
    /// <param name="negativeSlope">The slope below 0; Keras' activation default is 0.2.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="negativeSlope"/> is not finite.</exception>
    public Tensor LeakyRelu(float negativeSlope = 0.2f)
    {
        if (!float.IsFinite(negativeSlope)) throw new ArgumentOutOfRangeException(nameof(negativeSlope), negativeSlope, "negativeSlope must be finite.");
        return Pointwise(new LeakyReluOp(negativeSlope));
    }

    /// <summary>
    /// Element-wise exponential linear unit (<c>keras.activations.elu</c>): <c>y = x</c> for x &gt; 0,
    /// <c>alpha·(eˣ − 1)</c> otherwise; gradient 1 for x &gt; 0, <c>y + alpha</c> otherwise.
    /// </summary>
    /// <param name="alpha">The scale of the negative part; Keras' default is 1.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="alpha"/> is not finite.</exception>
    public Tensor Elu(float alpha = 1f)
    {
        if (!float.IsFinite(alpha)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "alpha must be finite.");
        return Pointwise(new EluOp(alpha));
    }

    /// <summary>
    /// Element-wise Gaussian error linear unit (<c>keras.activations.gelu</c>): exact
    /// <c>y = x·Φ(x) = x/2·(1 + erf(x/√2))</c> (Keras' default <c>approximate=False</c>), or with
    /// <paramref name="approximate"/> <c>y = x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³)))</c>. Computed in double precision
    /// and rounded; the gradient is the exact derivative of the chosen form (<c>Φ(x) + x·φ(x)</c> for the exact one).
    /// </summary>
    /// <param name="approximate">Whether to use the tanh approximation.</param>
    public Tensor Gelu(bool approximate = false) => approximate ? Pointwise(new GeluTanhOp()) : Pointwise(new GeluOp());

    /// <summary>
    /// Element-wise SiLU / swish (<c>keras.activations.silu</c>, <c>swish</c>): <c>y = x·σ(x)</c>, σ the logistic
    /// sigmoid; gradient <c>σ(x)·(1 + x·(1 − σ(x)))</c>.
    /// </summary>
    public Tensor Silu() => Pointwise(new SiluOp());

    private readonly struct Relu6Op : IPointwise
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Forward(float x) => Math.Min(Math.Max(x, 0f), 6f);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Derivative(float x, float y) => x > 0f && x < 6f ? 1f : 0f;
    }

    private readonly struct LeakyReluOp(float slope) : IPointwise
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Forward(float x) => x >= 0f ? x : slope * x;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Derivative(float x, float y) => x > 0f ? 1f : slope;
    }

    private readonly struct EluOp(float alpha) : IPointwise
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Forward(float x) => x > 0f ? x : (float)(alpha * double.ExpM1(x));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Derivative(float x, float y) => x > 0f ? 1f : (float)(alpha * Math.Exp(x));
    }

    private readonly struct GeluOp : IPointwise
    {
        private const double InvSqrt2 = 0.70710678118654752440, InvSqrt2Pi = 0.39894228040143267794;

        public float Forward(float x) => (float)(0.5 * x * (1 + MathNet.Numerics.SpecialFunctions.Erf(x * InvSqrt2)));

        public float Derivative(float x, float y) =>
            (float)(0.5 * (1 + MathNet.Numerics.SpecialFunctions.Erf(x * InvSqrt2)) + x * InvSqrt2Pi * Math.Exp(-0.5 * (double)x * x));
    }

    private readonly struct GeluTanhOp : IPointwise
    {
        private const double C = 0.79788456080286535588, A = 0.044715;

        public float Forward(float x) => (float)(0.5 * x * (1 + Math.Tanh(C * (x + A * (double)x * x * x))));

        public float Derivative(float x, float y)
        {
            double t = Math.Tanh(C * (x + A * (double)x * x * x));
            return (float)(0.5 * (1 + t) + 0.5 * x * (1 - t * t) * C * (1 + 3 * A * (double)x * x));
        }
    }

    private readonly struct SiluOp : IPointwise
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Forward(float x) => (float)(x / (1 + Math.Exp(-(double)x)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Derivative(float x, float y)
        {
            double s = 1 / (1 + Math.Exp(-(double)x));
            return (float)(s * (1 + x * (1 - s)));
        }
    }
}
