using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Distribute;

/// <summary>
/// Issue #16, item 6: a layer remembers the strategy it was created under and builds its weights under it even when
/// first built outside the scope (as Keras does); a model that belongs to no strategy and is used inside a strategy's
/// scope gets a message that says exactly that.
/// </summary>
[TestClass]
public sealed class CreationStrategyTests
{
    [TestMethod]
    public void LayerCreatedInScope_BuiltOutside_HasMirroredWeights_ThatReplicasTrainIndependently()
    {
        using var strategy = new MirroredStrategy(2);
        Dense dense;
        using (strategy.Scope()) dense = new Dense(3, kernelInitializer: Initializers.Constant(0.5f), name: "created_in_scope");
        var x = Tensor.FromFunction([2, 4], i => i * 0.25f);
        var y0 = dense.Call(x).ToArray(); // first built here, outside the scope
        Assert.AreSame(strategy, dense.Kernel!.Strategy);
        Assert.AreEqual(2, dense.Kernel.Replicas.Count);
        CollectionAssert.AreEqual(Enumerable.Repeat(0.5f, 12).ToArray(), dense.Kernel.Replicas[1].ToArray());
        // x·W for a constant W of 0.5: each output is half the row sum (0, .25, .5, .75 → 0.75; 1, ..., 1.75 → 2.75).
        CollectionAssert.AreEqual(new[] { 0.75f, 0.75f, 0.75f, 2.75f, 2.75f, 2.75f }, y0);

        // Each replica writes its own copy (a single-copy variable would throw here).
        strategy.Run(ctx =>
        {
            dense.Kernel.AssignAdd(Tensor.Fill([4, 3], ctx.ReplicaId + 1f));
            return 0;
        });
        CollectionAssert.AreEqual(Enumerable.Repeat(1.5f, 12).ToArray(), dense.Kernel.Replicas[0].ToArray());
        CollectionAssert.AreEqual(Enumerable.Repeat(2.5f, 12).ToArray(), dense.Kernel.Replicas[1].ToArray());
    }

    [TestMethod]
    public void Control_LayerCreatedOutsideAnyScope_HasOneCopy_AndReplicasCannotWriteIt()
    {
        using var strategy = new MirroredStrategy(2);
        var dense = new Dense(3, name: "created_outside");
        dense.Call(Tensor.Zeros([1, 4]));
        Assert.IsNull(dense.Kernel!.Strategy);
        Assert.AreEqual(1, dense.Kernel.Replicas.Count);
        Assert.ThrowsExactly<InvalidOperationException>(() => strategy.Run(_ =>
        {
            dense.Kernel.AssignAdd(Tensor.Fill([4, 3], 1f));
            return 0;
        }));
    }

    [TestMethod]
    public void ModelBuiltOutsideAnyScope_FittedInsideAScope_SaysSo()
    {
        using var strategy = new MirroredStrategy(2);
        var model = new Sequential([new Dense(2, name: "outside_dense")], [3], name: "outside_model");
        model.Compile(new SGD(), new MeanSquaredError());
        var x = Tensor.Zeros([4, 3]);
        var y = Tensor.Zeros([4, 2]);
        using (strategy.Scope())
        {
            var e = Assert.ThrowsExactly<InvalidOperationException>(() => model.Fit(x, y, epochs: 1, verbose: 0));
            StringAssert.Contains(e.Message, "Model 'outside_model' was created and built outside any strategy scope");
            StringAssert.Contains(e.Message, "MirroredStrategy with 2 replicas");
            Assert.IsFalse(e.Message.Contains("Mixing", StringComparison.Ordinal), e.Message);
            StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => model.Evaluate(x, y)).Message, "outside any strategy scope");
            StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => model.Predict(x)).Message, "outside any strategy scope");
        }
        // Outside the scope the same model trains on one device.
        model.Fit(x, y, epochs: 1, verbose: 0);
        Assert.AreEqual(1L, model.Optimizer!.Iterations);
    }
}
