using System.Globalization;
using System.Text;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.TestUtil;

/// <summary>
/// Checks <see cref="GradientTape"/> gradients against central finite differences.
/// </summary>
/// <remarks>
/// <para><b>What is compared.</b> For <c>y = f(x₀, …, xₖ)</c> and a random upstream gradient <c>u</c> (uniform in
/// [−1, 1], shape of <c>y</c>) the tape gives the vector-Jacobian products <c>uᵀ·∂y/∂xᵢ</c>. They are the gradients of
/// the scalar <c>L(x) = Σⱼ uⱼ·yⱼ(x)</c>, which is differentiated numerically element by element:
/// <c>∂L/∂xᵢ[e] ≈ (L(x + h·eₑ) − L(x − h·eₑ)) / (x⁺ − x⁻)</c>, where <c>x⁺</c>, <c>x⁻</c> are the float32 values
/// actually stored (so the representation error of the step does not count) and <c>L</c> is accumulated in float64.
/// A random <c>u</c>, rather than ones, covers every output element with its own weight: with ones, errors that
/// cancel in the sum (e.g. batch-norm's input gradient, which sums to zero over a channel) would go unseen.</para>
/// <para><b>Step.</b> Central differences have truncation error <c>h²/6·|L'''|</c> and rounding error about
/// <c>ε·Σ|uⱼyⱼ| / h</c> (ε = 2⁻²⁴ ≈ 6e-8 per float32 rounding of the outputs; <c>L</c> itself is summed in float64).
/// The total is smallest near <c>h ≈ (3ε)^(1/3) ≈ 6e-3</c> for O(1) data. The default <c>h = 1e-2</c> is at that
/// optimum to within a factor 2 and gives, for O(1) inputs and O(1) derivatives, truncation ≈ 2e-5 and rounding
/// ≈ 6e-6·Σ|uⱼyⱼ|: both far below the tolerance. Inputs should be O(1) and at least a few <c>h</c> away from kinks
/// (Abs at 0, ties of Maximum/Minimum) and poles (Log and Divide near 0), where the difference quotient is meaningless.</para>
/// <para><b>Tolerance.</b> An element passes when
/// <c>|analytic − numeric| ≤ atol + rtol·max(|analytic|, |numeric|) + noise</c>, with <c>rtol = 1e-2</c>,
/// <c>atol = 1e-3</c>, and <c>noise = 16·ε·Σ|uⱼyⱼ| / (x⁺ − x⁻)</c>: the rounding bound above with room for a few
/// ulps of error per output (several float32 operations each). A wrong gradient is typically wrong by O(1) (a missing
/// term, a wrong sign, a wrong broadcast reduction), far above this tolerance; in this suite the correct gradients use
/// at most 8% of it (measured), and a 3% error in one term of batch-norm's input gradient is caught.</para>
/// </remarks>
public static class GradientCheck
{
    /// <summary>Default finite-difference step (see the class remarks).</summary>
    public const float DefaultStep = 1e-2f;

    /// <summary>Default relative tolerance.</summary>
    public const double DefaultRelativeTolerance = 1e-2;

    /// <summary>Default absolute tolerance, added to the relative one and to the rounding-noise bound.</summary>
    public const double DefaultAbsoluteTolerance = 1e-3;

    private const double Float32Epsilon = 5.9604644775390625e-8; // 2^-24, half an ulp at 1.

    /// <summary>
    /// Asserts that the tape gradients of <paramref name="f"/> with respect to every input match central finite
    /// differences, for a random upstream gradient.
    /// </summary>
    /// <param name="f">The function; it must be deterministic and must not change its inputs.</param>
    /// <param name="inputs">The point at which to differentiate; each is watched on the tape.</param>
    /// <param name="step">The finite-difference step h.</param>
    /// <param name="relativeTolerance">rtol of the comparison.</param>
    /// <param name="absoluteTolerance">atol of the comparison.</param>
    /// <param name="seed">Seed of the random upstream gradient.</param>
    /// <param name="message">Prefix for failure messages, e.g. the op's name.</param>
    public static void AssertGradients(Func<IReadOnlyList<Tensor>, Tensor> f, IReadOnlyList<Tensor> inputs,
        float step = DefaultStep, double relativeTolerance = DefaultRelativeTolerance,
        double absoluteTolerance = DefaultAbsoluteTolerance, int seed = TestData.Seed, string? message = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(inputs);
        var y0 = f(inputs);
        var upstream = RandomUpstream(y0, seed);
        var analytic = TapeGradients(f, inputs, upstream);
        var failures = new StringBuilder();
        int failed = 0;
        for (int i = 0; i < inputs.Count; i++)
        {
            var x = inputs[i];
            var g = analytic[i];
            if (g is not null)
                CollectionAssert.AreEqual(x.Shape.ToArray(), g.Shape.ToArray(), $"{message}: the gradient of input {i} has the wrong shape.");
            var ga = g?.ToArray();
            for (int e = 0; e < x.Size; e++)
            {
                var (numeric, noise) = NumericDerivative(f, inputs, upstream, i, e, step);
                double a = ga?[e] ?? 0.0;
                double tol = absoluteTolerance + relativeTolerance * Math.Max(Math.Abs(a), Math.Abs(numeric)) + noise;
                if (!(Math.Abs(a - numeric) <= tol))
                {
                    if (++failed <= 12)
                    {
                        failures.Append(CultureInfo.InvariantCulture,
                            $"\n  input {i} {Format(x.Shape)} element [{string.Join(", ", TestData.Unravel(e, x.Shape))}]: " +
                            $"tape {(ga is null ? "null (taken as 0)" : a.ToString("G7", CultureInfo.InvariantCulture))}, " +
                            $"finite difference {numeric.ToString("G7", CultureInfo.InvariantCulture)}, " +
                            $"|diff| {Math.Abs(a - numeric):G3} > tolerance {tol:G3}");
                    }
                }
            }
        }
        if (failed > 0)
            Assert.Fail($"{message}: {failed} gradient element(s) disagree with central finite differences (h = {step}):{failures}");
    }

    /// <summary>Single-input form of <see cref="AssertGradients"/>.</summary>
    public static void AssertGradient(Func<Tensor, Tensor> f, Tensor input, float step = DefaultStep,
        double relativeTolerance = DefaultRelativeTolerance, double absoluteTolerance = DefaultAbsoluteTolerance,
        int seed = TestData.Seed, string? message = null) =>
        AssertGradients(xs => f(xs[0]), [input], step, relativeTolerance, absoluteTolerance, seed, message);

    /// <summary>A random upstream gradient for <paramref name="output"/>: uniform in [−1, 1], same shape.</summary>
    public static Tensor RandomUpstream(Tensor output, int seed = TestData.Seed)
    {
        var random = new Random(seed ^ 0x5bd1e995);
        return TestData.Uniform(random, output.Shape.ToArray());
    }

    /// <summary>The tape's vector-Jacobian products <c>uᵀ·∂f/∂xᵢ</c> (null where the tape says f does not depend on xᵢ).</summary>
    public static IReadOnlyList<Tensor?> TapeGradients(Func<IReadOnlyList<Tensor>, Tensor> f, IReadOnlyList<Tensor> inputs, Tensor upstream)
    {
        using var tape = new GradientTape();
        foreach (var x in inputs) tape.Watch(x);
        var y = f(inputs);
        return tape.Gradient(y, inputs.ToArray(), upstream);
    }

    /// <summary>
    /// The central difference of <c>L = Σ u·f</c> with respect to element <paramref name="element"/> of input
    /// <paramref name="index"/>, and the rounding-noise bound that goes with it (see the class remarks).
    /// </summary>
    public static (double Value, double Noise) NumericDerivative(Func<IReadOnlyList<Tensor>, Tensor> f, IReadOnlyList<Tensor> inputs,
        Tensor upstream, int index, int element, float step = DefaultStep)
    {
        var x = inputs[index];
        var data = x.ToArray();
        float center = data[element];
        float plus = center + step, minus = center - step;
        var (lPlus, mPlus) = Contract(f, inputs, upstream, index, data, element, plus);
        var (lMinus, mMinus) = Contract(f, inputs, upstream, index, data, element, minus);
        double width = (double)plus - minus;
        return ((lPlus - lMinus) / width, 16 * Float32Epsilon * Math.Max(mPlus, mMinus) / width);
    }

    private static (double L, double Magnitude) Contract(Func<IReadOnlyList<Tensor>, Tensor> f, IReadOnlyList<Tensor> inputs,
        Tensor upstream, int index, float[] data, int element, float value)
    {
        var perturbed = (float[])data.Clone();
        perturbed[element] = value;
        var args = inputs.ToArray();
        args[index] = Tensor.FromArray(perturbed, inputs[index].Shape);
        var y = f(args).AsSpan();
        var u = upstream.AsSpan();
        Assert.AreEqual(u.Length, y.Length, "f changed its output size under a perturbation.");
        double l = 0, m = 0;
        for (int j = 0; j < y.Length; j++)
        {
            l += (double)u[j] * y[j];
            m += Math.Abs((double)u[j] * y[j]);
        }
        return (l, m);
    }

    private static string Format(IReadOnlyList<int> shape) => "[" + string.Join(", ", shape) + "]";
}
