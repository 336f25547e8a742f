using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Keras.Optimizers;

/// <summary>
/// Issue #16, item 5: an optimizer update (and a training step) is all or nothing. A constraint that returns a tensor of
/// the wrong shape, on a layer in the middle of the model, used to fail after the earlier variables (and the moving
/// statistics of the forward pass) had changed.
/// </summary>
[TestClass]
public sealed class AllOrNothingUpdateTests
{
    /// <summary>A broken constraint: returns a tensor with one element too many.</summary>
    private sealed class WrongShape : IConstraint
    {
        public string ClassName => "WrongShape";
        public IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>();
        public Tensor Call(Tensor weights) => Tensor.Zeros([weights.Size + 1]);
    }

    private static Sequential Model(string prefix) => new(
    [
        new Dense(4, name: prefix + "dense", kernelInitializer: Initializers.Constant(0.3f)),
        new BatchNormalization(momentum: 0.5f, name: prefix + "bn", betaConstraint: new WrongShape()),
        new Dense(2, name: prefix + "out", kernelInitializer: Initializers.Constant(0.2f)),
    ], [3]);

    private static (Tensor X, Tensor Y) Batch()
    {
        var x = Tensor.FromFunction([6, 3], i => (float)Math.Sin(i + 1) * 2);
        var y = Tensor.FromFunction([6, 2], i => (float)Math.Cos(i));
        return (x, y);
    }

    private static float[][] State(Sequential model) =>
        [.. model.Weights.SelectMany(w => w.Replicas).Select(t => t.ToArray()), .. model.Optimizer!.Variables.SelectMany(v => v.Replicas).Select(t => t.ToArray())];

    private static void AssertSame(float[][] before, float[][] after)
    {
        Assert.AreEqual(before.Length, after.Length);
        for (int i = 0; i < before.Length; i++) CollectionAssert.AreEqual(before[i], after[i], $"state tensor {i} changed");
    }

    [TestMethod]
    public void ApplyGradients_ConstraintReturnsWrongShape_NoVariableOrSlotChanges()
    {
        var a = new Variable(Tensor.FromArray([1f, 2f]), "a/kernel");
        var b = new Variable(Tensor.FromArray([3f, 4f]), "b/kernel", weightConstraint: new WrongShape().Call);
        var c = new Variable(Tensor.FromArray([5f]), "c/kernel");
        var adam = new Adam(learningRate: 0.1f);
        adam.ApplyGradients([Tensor.FromArray([1f, 1f]), null, Tensor.FromArray([1f])], [a, b, c]); // a good step first
        var before = new[] { a, b, c }.Concat(adam.Variables).Select(v => v.Value.ToArray()).ToArray();
        var e = Assert.ThrowsExactly<InvalidOperationException>(() =>
            adam.ApplyGradients([Tensor.FromArray([0.5f, 0.5f]), Tensor.FromArray([1f, 1f]), Tensor.FromArray([2f])], [a, b, c]));
        StringAssert.Contains(e.Message, "'b/kernel'");
        StringAssert.Contains(e.Message, "[3]");
        var after = new[] { a, b, c }.Concat(adam.Variables).Select(v => v.Value.ToArray()).ToArray();
        AssertSame(before, after);
        Assert.AreEqual(1L, adam.Iterations);
    }

    [TestMethod]
    public void TrainStep_ConstraintFails_NothingChanges_OneReplicaAndMirrored()
    {
        var (x, y) = Batch();
        // One device.
        var single = Model("s_");
        single.Compile(new SGD(learningRate: 0.1f, momentum: 0.9f), new MeanSquaredError());
        single.Optimizer!.Build(single.TrainableWeights); // the slots exist before, so that every state tensor is compared
        var before = State(single);
        Assert.ThrowsExactly<InvalidOperationException>(() => single.TrainStep(x, y));
        AssertSame(before, State(single));
        Assert.AreEqual(0L, single.Optimizer!.Iterations);

        // Two replicas: every replica's copy is restored.
        using var strategy = new MirroredStrategy(2);
        Sequential mirrored;
        using (strategy.Scope())
        {
            mirrored = Model("m_");
            mirrored.Compile(new Adam(learningRate: 0.1f), new MeanSquaredError());
        }
        mirrored.Build([-1, 3]);
        mirrored.Optimizer!.Build(mirrored.TrainableWeights);
        var beforeMirrored = State(mirrored);
        Assert.ThrowsExactly<InvalidOperationException>(() => mirrored.Fit(x, y, batchSize: 6, epochs: 1, verbose: 0, shuffle: false));
        AssertSame(beforeMirrored, State(mirrored));
    }

    [TestMethod]
    public void TrainStep_Control_WithoutTheBrokenConstraint_TheSameStepChangesEveryWeight()
    {
        var (x, y) = Batch();
        var model = new Sequential(
        [
            new Dense(4, name: "c_dense", kernelInitializer: Initializers.Constant(0.3f)),
            new BatchNormalization(momentum: 0.5f, name: "c_bn"),
            new Dense(2, name: "c_out", kernelInitializer: Initializers.Constant(0.2f)),
        ], [3]);
        model.Compile(new SGD(learningRate: 0.1f, momentum: 0.9f), new MeanSquaredError());
        var before = model.Weights.Select(w => w.Value.ToArray()).ToArray();
        model.TrainStep(x, y);
        var after = model.Weights.Select(w => w.Value.ToArray()).ToArray();
        for (int i = 0; i < before.Length; i++)
            CollectionAssert.AreNotEqual(before[i], after[i], $"weight {model.Weights[i].Name} changes in a good step");
    }
}
