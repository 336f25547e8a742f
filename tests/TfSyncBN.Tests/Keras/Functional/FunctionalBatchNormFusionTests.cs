using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.Tensors;
using TfSyncBN.Tests.TestUtil;
using FunctionalModel = TfSyncBN.Keras.Functional;

namespace TfSyncBN.Tests.Keras.Functional;

/// <summary>
/// Functional models run a batch normalization and the plain ReLU that alone reads its output as one fused op (bit for
/// bit the results of the two calls), and fold a batch normalization into the linear Conv2D/Dense whose output it alone
/// reads in inference (within the bound of the Sequential folding tests); not when the output has another reader or is
/// a model output.
/// </summary>
[TestClass]
public sealed class FunctionalBatchNormFusionTests
{
    /// <summary>The layers of a residual block, so that a test can run them one by one as the reference.</summary>
    private sealed class Block
    {
        public readonly Conv2D Conv1 = new(4, [3, 3], padding: "same", useBias: false, kernelInitializer: Initializers.GlorotUniform(seed: 1));
        public readonly BatchNormalization Bn1 = new(momentum: 0.5f);
        public readonly ReLU Relu1 = new();
        public readonly Conv2D Conv2 = new(4, [3, 3], padding: "same", activation: "linear", kernelInitializer: Initializers.GlorotUniform(seed: 2));
        public readonly BatchNormalization Bn2 = new(momentum: 0.5f, gammaInitializer: Initializers.RandomUniform(0.5f, 1.5f, seed: 3));
        public readonly Conv2D Shortcut = new(4, [1, 1], kernelInitializer: Initializers.GlorotUniform(seed: 4));
        public readonly Add Add = new();
        public readonly Activation Relu2 = new("relu");
        public readonly GlobalAveragePooling2D Pool = new();
        public readonly Dense Head = new(3, kernelInitializer: Initializers.GlorotUniform(seed: 5));

        public FunctionalModel Model()
        {
            var x = TfSyncBN.Keras.Model.Input([6, 6, 3]);
            var h = Relu1.Call(Bn1.Call(Conv1.Call(x)));
            h = Bn2.Call(Conv2.Call(h));
            var y = Head.Call(Pool.Call(Relu2.Call(Add.Call([h, Shortcut.Call(x)]))));
            return new FunctionalModel([x], [y]);
        }

        /// <summary>The block call by call, nothing fused or folded.</summary>
        public Tensor Layerwise(Tensor x, bool training)
        {
            var h = Relu1.Call(Bn1.Call(Conv1.Call(x, training), training), training);
            h = Bn2.Call(Conv2.Call(h, training), training);
            var s = Add.Call([h, Shortcut.Call(x, training)], training);
            return Head.Call(Pool.Call(Relu2.Call(s, training), training), training);
        }
    }

    private static (float[] Y, List<float[]> Grads, float[][] Stats, int Ops) Step(FunctionalModel model, Func<Tensor> forward, Tensor dy)
    {
        using var tape = new GradientTape();
        var y = forward();
        int ops = tape.RecordedOps;
        var grads = tape.Gradient(y, model.TrainableWeights.Cast<ITensorLike>().ToArray(), dy);
        return (y.ToArray(), grads.Select(g => g!.ToArray()).ToList(), model.NonTrainableWeights.Select(w => w.Value.ToArray()).ToArray(), ops);
    }

    [TestMethod]
    public void ResidualBlock_FusesBatchNormAndRelu_BitForBit_ForwardGradientsAndMovingStats()
    {
        var rng = new Random(TestData.Seed);
        var x = TestData.Uniform(rng, [5, 6, 6, 3]);
        var dy = TestData.Uniform(rng, [5, 3]);
        // Two identical blocks: one run as the model, one call by call (moving statistics change on every training call).
        var fused = new Block();
        var fusedModel = fused.Model();
        var plain = new Block();
        var plainModel = plain.Model();
        for (int step = 0; step < 2; step++)
        {
            var a = Step(fusedModel, () => fusedModel.Call(x, training: true), dy);
            var b = Step(plainModel, () => plain.Layerwise(x, training: true), dy);
            BatchNormReluFusionTests.AssertBitwise(b.Y, a.Y, $"output, step {step}");
            for (int i = 0; i < b.Grads.Count; i++)
                BatchNormReluFusionTests.AssertBitwise(b.Grads[i], a.Grads[i], $"gradient of {fusedModel.TrainableWeights[i].Name}, step {step}");
            for (int i = 0; i < b.Stats.Length; i++)
                BatchNormReluFusionTests.AssertBitwise(b.Stats[i], a.Stats[i], $"{fusedModel.NonTrainableWeights[i].Name}, step {step}");
            // Bn1 + Relu1 is one op; Bn2 feeds Add (not a ReLU), and Add feeds the second ReLU: no other pair fuses.
            Assert.AreEqual(b.Ops - 1, a.Ops, $"recorded ops, step {step}");
        }
        Assert.IsTrue(fused.Bn1.NonTrainableWeights[0].Value.ToArray().Any(v => Math.Abs(v) > 1e-3), "moving mean moved");
    }

    [TestMethod]
    public void Inference_FoldsTheLinearConvsIntoTheirBatchNorms_WithinTheBound()
    {
        var rng = new Random(TestData.Seed + 1);
        var x = TestData.Uniform(rng, [5, 6, 6, 3], -2, 2);
        var block = new Block();
        var model = block.Model();
        for (int i = 0; i < 3; i++) model.Call(x, training: true); // moving statistics away from their initial values
        var folded = model.Call(x, training: false).ToArray();
        var reference = block.Layerwise(x, training: false).ToArray();
        double err = BatchNormLargeOffsetTests.Normwise(folded, reference.Select(v => (double)v).ToArray());
        Assert.IsTrue(err <= 1e-5, $"folded output: normwise error {err:E2}");
        Assert.IsFalse(folded.SequenceEqual(reference), "Conv2 (linear) and Bn2 were folded");

    }

    public static IEnumerable<object[]> NotFused =>
    [
        ["BN output also read by Add (fan-out)"],
        ["BN output is also a model output"],
        ["ReLU(maxValue: 6)"],
    ];

    [TestMethod]
    [DynamicData(nameof(NotFused))]
    public void BatchNorm_IsNotFused_WhenItsOutputHasAnotherReader_OrIsAModelOutput_OrTheReluIsNotPlain(string variant)
    {
        var rng = new Random(TestData.Seed + 2);
        var xv = TestData.Uniform(rng, [6, 4]);
        // tanh: inference does not fold the batch normalization into the Dense, so both modes compare bit for bit.
        var dense = new Dense(5, activation: "tanh", kernelInitializer: Initializers.GlorotUniform(seed: 7));
        var add = new Add();
        var bn = new BatchNormalization();
        Layer relu = variant.StartsWith("ReLU(") ? new ReLU(maxValue: 6) : new ReLU();
        var x = TfSyncBN.Keras.Model.Input([4]);
        var h = bn.Call(dense.Call(x));
        var r = relu.Call(h);
        var (outputs, reference) = variant switch
        {
            "BN output also read by Add (fan-out)" => ((KerasTensor[])[add.Call([r, h])], (Func<Tensor, bool, Tensor[]>)((t, tr) => [add.Call([relu.Call(t, tr), t], tr)])),
            "BN output is also a model output" => ([r, h], (t, tr) => [relu.Call(t, tr), t]),
            _ => ([r], (t, tr) => [relu.Call(t, tr)]),
        };
        var model = new FunctionalModel([x], outputs);
        foreach (bool training in new[] { true, false })
        {
            using var tape = new GradientTape();
            var got = model.Call([xv], training);
            int ops = tape.RecordedOps;
            using var tape2 = new GradientTape();
            var want = reference(bn.Call(dense.Call(xv, training), training), training);
            int refOps = tape2.RecordedOps;
            for (int k = 0; k < got.Count; k++) BatchNormReluFusionTests.AssertBitwise(want[k].ToArray(), got[k].ToArray(), $"output {k} ({variant}, training={training})");
            Assert.AreEqual(refOps, ops, $"no op saved: nothing fused ({variant}, training={training})");
        }
    }
}
