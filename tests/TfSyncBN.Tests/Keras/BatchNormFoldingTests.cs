using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras;

/// <summary>
/// Inference folds a batch normalization into the linear Conv2D or Dense before it: the model's output stays within
/// 1e-5 (normwise, <c>max|folded − unfolded| / max|unfolded|</c>) of running the layers one by one, and the
/// batch normalization is left unfolded (bitwise the layer-by-layer result) where folding would not be exact enough.
/// </summary>
/// <remarks>
/// The bound: the folded layer rounds <c>W·scale</c> and <c>b·scale + shift</c> once each and sums the products in
/// another order, a few float32 roundings (~1e-7) of the output's scale per term; with moving means within
/// <see cref="BatchNormalization.MaxFoldedMeanOverStd"/> standard deviations the cancellation in the shift costs at
/// most that factor more, ~64·6e-8 ≈ 4e-6.
/// </remarks>
[TestClass]
public sealed class BatchNormFoldingTests
{
    private const double Bound = 1e-5;

    private static Sequential Model(string activation, double meanOverStd, bool useBias)
    {
        var rng = new Random(TestData.Seed + (int)meanOverStd);
        BatchNormalization Bn(int c)
        {
            var variance = Enumerable.Range(0, c).Select(_ => (float)(0.05 + rng.NextDouble())).ToArray();
            var mean = variance.Select((v, i) => (float)((i % 2 == 0 ? 1 : -1) * meanOverStd * Math.Sqrt(v + 1e-3))).ToArray();
            return new BatchNormalization(gammaInitializer: new FixedInitializer(TestData.Normal(rng, c, 1, 0.5)),
                betaInitializer: new FixedInitializer(TestData.Normal(rng, c, 0, 0.5)), movingMeanInitializer: new FixedInitializer(mean),
                movingVarianceInitializer: new FixedInitializer(variance));
        }
        return new Sequential(
        [
            new Conv2D(6, [3, 3], activation: activation, useBias: useBias), Bn(6), new ReLU(),
            new Flatten(), new Dense(4, activation: activation, useBias: useBias), Bn(4),
        ], inputShape: [7, 7, 3]);
    }

    private static (float[] Model, float[] Layers) Outputs(Sequential model)
    {
        var x = TestData.Uniform(new Random(TestData.Seed), [5, 7, 7, 3], -2, 2);
        var layers = model.Layers.Aggregate(x, (t, l) => l.Call(t, training: false)).ToArray();
        return (model.Call(x, training: false).ToArray(), layers);
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void Inference_FoldsIntoConv2DAndDense_WithinBound(bool useBias)
    {
        foreach (double meanOverStd in new[] { 0.0, 3.0, 50.0 })
        {
            var (folded, unfolded) = Outputs(Model("linear", meanOverStd, useBias));
            double err = BatchNormLargeOffsetTests.Normwise(folded, unfolded.Select(v => (double)v).ToArray());
            Console.WriteLine($"mean/std {meanOverStd}, bias {useBias}: normwise {err:E2}");
            Assert.IsTrue(err <= Bound, $"folded output: normwise error {err:E2} > {Bound:E0} (mean/std {meanOverStd}, bias {useBias})");
            // The fold ran: the result is not bit for bit the layer-by-layer one.
            Assert.IsFalse(folded.SequenceEqual(unfolded), $"the batch normalizations were folded (mean/std {meanOverStd})");
        }
    }

    [TestMethod]
    public void Inference_DoesNotFold_AfterAnActivationOrWithAFarMean()
    {
        foreach (var (activation, meanOverStd) in new[] { ("relu", 3.0), ("linear", 1000.0) })
        {
            var (model, layers) = Outputs(Model(activation, meanOverStd, useBias: true));
            BatchNormReluFusionTests.AssertBitwise(layers, model, $"unfolded ({activation}, mean/std {meanOverStd})");
        }
    }

    [TestMethod]
    public void Training_NeverFolds()
    {
        var model = Model("linear", 3.0, useBias: true);
        var x = TestData.Uniform(new Random(1), [5, 7, 7, 3]);
        var viaLayers = model.Layers.Aggregate(x, (t, l) => l is ReLU ? t.Relu() : l.Call(t, training: true)).ToArray();
        var viaModel = model.Call(x, training: true).ToArray();
        BatchNormReluFusionTests.AssertBitwise(viaLayers, viaModel, "training output");
    }
}
