using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras;

/// <summary>Every Keras option of BatchNormalization/SyncBatchNormalization, the defaults, and argument validation.</summary>
[TestClass]
public sealed class BatchNormalizationOptionsTests
{
    private static readonly float[] Data = [1, 4, 2, 8, 6, 0, 3, 4, -1, 2, 5, 6]; // 6 rows x 2 channels

    private static Tensor X => Tensor.FromArray(Data, [6, 2]);

    [TestMethod]
    public void Defaults_AreKeras()
    {
        var layer = new SyncBatchNormalization();
        CollectionAssert.AreEqual(new[] { -1 }, layer.Axis.ToArray());
        Assert.AreEqual(0.99f, layer.Momentum);
        Assert.AreEqual(1e-3f, layer.Epsilon);
        Assert.IsTrue(layer.Center);
        Assert.IsTrue(layer.Scale);
        Assert.IsTrue(layer.Synchronized);
        Assert.IsFalse(new BatchNormalization().Synchronized);
        Assert.IsTrue(layer.Trainable);
        Assert.AreEqual("Zeros", layer.BetaInitializer.ClassName);
        Assert.AreEqual("Ones", layer.GammaInitializer.ClassName);
        Assert.AreEqual("Zeros", layer.MovingMeanInitializer.ClassName);
        Assert.AreEqual("Ones", layer.MovingVarianceInitializer.ClassName);
        Assert.IsNull(layer.BetaRegularizer);
        Assert.IsNull(layer.GammaConstraint);
        Assert.IsFalse(layer.Built);
        layer.Call(X);
        Assert.IsTrue(layer.Built);
        CollectionAssert.AreEqual(new[] { 1 }, layer.Axis.ToArray(), "axis resolved at build");
        CollectionAssert.AreEqual(new[] { 1f, 1f }, layer.Gamma!.Value.ToArray());
        CollectionAssert.AreEqual(new[] { 0f, 0f }, layer.Beta!.Value.ToArray());
        Assert.AreEqual(2, layer.TrainableWeights.Count);
        Assert.AreEqual(2, layer.NonTrainableWeights.Count);
        CollectionAssert.AreEqual(new[] { "gamma", "beta", "moving_mean", "moving_variance" },
            layer.Weights.Select(w => w.Name.Split('/')[^1]).ToArray());
    }

    [TestMethod]
    public void UniqueNames_FollowKeras()
    {
        var a = new SyncBatchNormalization();
        var b = new SyncBatchNormalization();
        StringAssert.StartsWith(a.Name, "sync_batch_normalization");
        Assert.AreNotEqual(a.Name, b.Name);
        Assert.AreEqual("mine", new BatchNormalization(name: "mine").Name);
    }

    [TestMethod]
    public void Training_NormalizesWithBatchStatistics_AndUpdatesMovingStatistics()
    {
        var layer = new BatchNormalization(momentum: 0.5f, gammaInitializer: new FixedInitializer(2f, 0.5f), betaInitializer: new FixedInitializer(1f, -1f));
        var y = layer.Call(X, training: true);
        var oracle = ReferenceBatchNorm.Training(Data, [6, 2], [1], [2f, 0.5f], [1f, -1f], 1e-3);
        TestData.AssertClose(y.AsSpan(), oracle.Y, 1e-6, 1e-6, "y");
        TestData.AssertClose(layer.MovingMean!.Value.AsSpan(), oracle.Mean.Select(m => 0.5 * m).ToArray(), 1e-6, 1e-6, "moving mean");
        TestData.AssertClose(layer.MovingVariance!.Value.AsSpan(), oracle.Variance.Select(v => 0.5 + 0.5 * v).ToArray(), 1e-6, 1e-6, "moving variance (biased)");
    }

    [TestMethod]
    public void Inference_UsesMovingStatistics_AndChangesNothing()
    {
        var layer = new BatchNormalization(movingMeanInitializer: new FixedInitializer(1f, 2f), movingVarianceInitializer: new FixedInitializer(4f, 9f),
            gammaInitializer: new FixedInitializer(3f, 1f), betaInitializer: new FixedInitializer(0.5f, 0f));
        foreach (bool? training in new bool?[] { null, false })
        {
            var y = layer.Call(X, training: training).ToArray();
            for (int e = 0; e < Data.Length; e++)
            {
                int c = e % 2;
                double expected = new[] { 3.0, 1.0 }[c] * (Data[e] - new[] { 1.0, 2.0 }[c]) / Math.Sqrt(new[] { 4.0, 9.0 }[c] + 1e-3) + new[] { 0.5, 0.0 }[c];
                Assert.AreEqual(expected, y[e], 1e-5, $"element {e}");
            }
            CollectionAssert.AreEqual(new[] { 1f, 2f }, layer.MovingMean!.Value.ToArray());
            CollectionAssert.AreEqual(new[] { 4f, 9f }, layer.MovingVariance!.Value.ToArray());
        }
    }

    [TestMethod]
    public void NotTrainable_MeansInferenceEvenWhenTrainingIsTrue()
    {
        var layer = new SyncBatchNormalization(trainable: false);
        var y = layer.Call(X, training: true).ToArray();
        var expected = Data.Select(v => v / Math.Sqrt(1 + 1e-3)).ToArray();
        TestData.AssertClose(y, expected, 1e-5, 1e-6, "inference output");
        CollectionAssert.AreEqual(new[] { 0f, 0f }, layer.MovingMean!.Value.ToArray());
        Assert.AreEqual(0, layer.TrainableWeights.Count);
        Assert.AreEqual(4, layer.NonTrainableWeights.Count);

        layer.Trainable = true; // Keras allows unfreezing.
        layer.Call(X, training: true);
        Assert.AreNotEqual(0f, layer.MovingMean!.Value.ToArray()[0]);
        Assert.AreEqual(2, layer.TrainableWeights.Count);
    }

    [TestMethod]
    public void CenterAndScaleFalse_HaveNoBetaOrGamma()
    {
        var layer = new SyncBatchNormalization(center: false, scale: false);
        var y = layer.Call(X, training: true);
        Assert.IsNull(layer.Gamma);
        Assert.IsNull(layer.Beta);
        Assert.AreEqual(0, layer.TrainableWeights.Count);
        var oracle = ReferenceBatchNorm.Training(Data, [6, 2], [1], null, null, 1e-3);
        TestData.AssertClose(y.AsSpan(), oracle.Y, 1e-6, 1e-6, "y");

        var onlyScale = new BatchNormalization(center: false, gammaInitializer: new FixedInitializer(2f, 3f));
        using var tape = new GradientTape();
        var x = X;
        tape.Watch(x);
        var y2 = onlyScale.Call(x, training: true);
        Assert.IsNull(onlyScale.Beta);
        var grads = tape.Gradient(y2, [x, onlyScale.Gamma!]);
        Assert.IsNotNull(grads[0]);
        Assert.IsNotNull(grads[1]);
        TestData.AssertClose(y2.AsSpan(), ReferenceBatchNorm.Training(Data, [6, 2], [1], [2f, 3f], null, 1e-3).Y, 1e-5, 1e-6, "scale only");
    }

    [TestMethod]
    public void Constraints_AreAttachedToTheirVariables()
    {
        var constraint = new ClipConstraint();
        var layer = new BatchNormalization(gammaConstraint: constraint, betaConstraint: constraint);
        layer.Call(X);
        Assert.IsNotNull(layer.Gamma!.Constraint);
        CollectionAssert.AreEqual(new[] { 1f, 0.25f }, layer.Gamma.Constraint!(Tensor.FromArray([3f, 0.25f])).ToArray());
        CollectionAssert.AreEqual(new[] { 1f, 0f }, layer.Beta!.Constraint!(Tensor.FromArray([3f, -1f])).ToArray());
        Assert.IsNull(layer.MovingMean!.Constraint);
    }

    private sealed class ClipConstraint : IConstraint
    {
        public string ClassName => "Clip01";
        public IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>();
        public Tensor Call(Tensor w) => w.Maximum(Tensor.Scalar(0)).Minimum(Tensor.Scalar(1));
    }

    [TestMethod]
    public void Regularizers_ContributeDifferentiableLosses()
    {
        var layer = new BatchNormalization(gammaRegularizer: new SumOfSquares(), gammaInitializer: new FixedInitializer(2f, 3f));
        layer.Call(X);
        Assert.AreEqual(1, layer.Losses.Count);
        Assert.AreEqual(13f, layer.Losses[0].ToScalar());
        using var tape = new GradientTape();
        var loss = layer.Losses[0];
        CollectionAssert.AreEqual(new[] { 4f, 6f }, tape.Gradient(loss, [layer.Gamma!])[0]!.ToArray());
    }

    private sealed class SumOfSquares : IRegularizer
    {
        public string ClassName => "SumOfSquares";
        public IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>();
        public Tensor Call(Tensor w) => w.Square().Sum();
    }

    [TestMethod]
    public void ListAxis_ParamShapeIsKerasBroadcastShape()
    {
        var layer = new BatchNormalization(axis: [1, -1]);
        layer.Call(Tensor.Zeros([2, 3, 4, 5]));
        CollectionAssert.AreEqual(new[] { 1, 3 }, layer.Axis.ToArray());
        CollectionAssert.AreEqual(new[] { 1, 3, 1, 5 }, layer.Gamma!.Shape.ToArray());
    }

    [TestMethod]
    [DataRow(-0.1f)]
    [DataRow(1.1f)]
    [DataRow(float.NaN)]
    public void Momentum_OutsideZeroOne_Throws(float momentum)
    {
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new SyncBatchNormalization(momentum: momentum));
        Assert.AreEqual("momentum", e.ParamName);
    }

    [TestMethod]
    [DataRow(0f)]
    [DataRow(-1e-3f)]
    [DataRow(float.PositiveInfinity)]
    public void Epsilon_NotPositive_Throws(float epsilon)
    {
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new BatchNormalization(epsilon: epsilon));
        Assert.AreEqual("epsilon", e.ParamName);
    }

    [TestMethod]
    public void Axis_Invalid_Throws()
    {
        Assert.AreEqual("axis", Assert.ThrowsExactly<ArgumentException>(() => new BatchNormalization(axis: [1, 1])).ParamName);
        Assert.AreEqual("axis", Assert.ThrowsExactly<ArgumentException>(() => new BatchNormalization(axis: [])).ParamName);
        Assert.AreEqual("axis", Assert.ThrowsExactly<ArgumentException>(() => new BatchNormalization(axis: [0])).ParamName);
        // Out of range and negative aliases of the batch axis or of each other are found at build.
        Assert.AreEqual("axis", Assert.ThrowsExactly<ArgumentException>(() => new BatchNormalization(axis: [3]).Call(X)).ParamName);
        Assert.AreEqual("axis", Assert.ThrowsExactly<ArgumentException>(() => new BatchNormalization(axis: [-2]).Call(X)).ParamName);
        Assert.AreEqual("axis", Assert.ThrowsExactly<ArgumentException>(() => new BatchNormalization(axis: [1, -1]).Call(X)).ParamName);
    }

    [TestMethod]
    public void Input_RankOrChannelsChangingAfterBuild_Throws()
    {
        var layer = new BatchNormalization();
        layer.Call(X);
        layer.Call(Tensor.Zeros([3, 2])); // another batch size is fine
        Assert.AreEqual("inputs", Assert.ThrowsExactly<ArgumentException>(() => layer.Call(Tensor.Zeros([6, 3]))).ParamName);
        Assert.AreEqual("inputs", Assert.ThrowsExactly<ArgumentException>(() => layer.Call(Tensor.Zeros([6, 1, 2]))).ParamName);
        Assert.AreEqual("inputs", Assert.ThrowsExactly<ArgumentException>(() => new BatchNormalization().Call(Tensor.Zeros([4]))).ParamName);
        Assert.AreEqual("mask", Assert.ThrowsExactly<ArgumentException>(() => layer.Call(X, training: true, mask: Tensor.Ones([5]))).ParamName);
    }
}
