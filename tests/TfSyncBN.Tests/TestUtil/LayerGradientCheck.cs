using System.Globalization;
using System.Text;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.TestUtil;

/// <summary>
/// <see cref="GradientCheck"/> for a layer: the tape gradients with respect to the input AND every trainable weight
/// (variables) against central finite differences, with the tolerance rule of <see cref="GradientCheck"/>.
/// </summary>
public static class LayerGradientCheck
{
    /// <summary>Asserts the input and weight gradients of <c>layer.Call(x, training)</c> (the layer is built first).</summary>
    public static void Assert(Layer layer, Tensor x, bool training = false, string? message = null)
    {
        layer.EnsureBuilt(x.Shape);
        var weights = layer.TrainableWeights;
        var start = weights.Select(w => w.Value).ToArray();
        Tensor F(IReadOnlyList<Tensor> xs)
        {
            for (int i = 0; i < weights.Count; i++) weights[i].Assign(xs[i + 1]);
            return layer.Call(xs[0], training);
        }
        var inputs = new List<Tensor> { x };
        inputs.AddRange(start);
        var y0 = F(inputs);
        var upstream = GradientCheck.RandomUpstream(y0);
        IReadOnlyList<Tensor?> analytic;
        using (var tape = new GradientTape())
        {
            tape.Watch(x);
            var y = F(inputs);
            analytic = tape.Gradient(y, [x, .. weights], upstream);
        }
        var failures = new StringBuilder();
        int failed = 0;
        for (int i = 0; i < inputs.Count; i++)
        {
            var g = analytic[i]?.ToArray();
            for (int e = 0; e < inputs[i].Size; e++)
            {
                var (numeric, noise) = GradientCheck.NumericDerivative(F, inputs, upstream, i, e);
                double a = g?[e] ?? 0;
                double tol = GradientCheck.DefaultAbsoluteTolerance + GradientCheck.DefaultRelativeTolerance * Math.Max(Math.Abs(a), Math.Abs(numeric)) + noise;
                if (!(Math.Abs(a - numeric) <= tol) && ++failed <= 12)
                    failures.Append(CultureInfo.InvariantCulture, $"\n  {(i == 0 ? "input" : weights[i - 1].Name)} element {e}: tape {a:G7}, finite difference {numeric:G7}");
            }
        }
        for (int i = 0; i < weights.Count; i++) weights[i].Assign(start[i]);
        if (failed > 0) Microsoft.VisualStudio.TestTools.UnitTesting.Assert.Fail($"{message ?? layer.ToString()}: {failed} gradient element(s) disagree:{failures}");
    }
}
