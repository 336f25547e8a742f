using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.Compat;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras;

/// <summary>tf.keras: <c>SyncBatchNormalization</c> is the core layer; Keras 3's <c>BatchNormalization(synchronized=True)</c> is the same computation.</summary>
[TestClass]
public sealed class KerasSyncFormsTests
{
    [TestMethod]
    public void KerasThreeSynchronizedForm_EqualsSyncBatchNormalization_OnUnevenReplicas()
    {
        var rng = new Random(12);
        var xs = new[] { 3, 1, 0 }.Select(n => Tensor.FromArray(TestData.Normal(rng, n * 2 * 3, 1, 2), [n, 2, 3])).ToArray();
        var dys = xs.Select(x => Tensor.FromArray(TestData.Normal(rng, x.Size), x.Shape)).ToArray();
        using var strategy = new MirroredStrategy(3);
        var sync = ParityHarness.InScope(strategy, () => new SyncBatchNormalization(axis: [1], momentum: 0.8f));
        var keras3 = ParityHarness.InScope(strategy, () => new BatchNormalization(axis: [1], momentum: 0.8f, synchronized: true));
        var a = ParityHarness.Step(strategy, sync, xs, dys);
        var b = ParityHarness.Step(strategy, keras3, xs, dys);
        for (int r = 0; r < 3; r++)
        {
            CollectionAssert.AreEqual(a[r].Y.ToArray(), b[r].Y.ToArray(), $"y {r}");
            CollectionAssert.AreEqual(a[r].Dx!.ToArray(), b[r].Dx!.ToArray(), $"dx {r}");
        }
        CollectionAssert.AreEqual(sync.MovingVariance!.Value.ToArray(), keras3.MovingVariance!.Value.ToArray());
        // And both are batch normalization of the concatenated batch (channel axis 1 of [4, 2, 3]).
        var reference = ReferenceBatchNorm.Training(ParityHarness.Concat(xs), [4, 2, 3], [1], null, null, 1e-3);
        TestData.AssertClose(ParityHarness.Concat(a.Select(o => o.Y)), reference.Y, 2e-5, 2e-5, "global batch");
        Assert.AreEqual(true, keras3.GetConfig()["synchronized"]);
        Assert.IsTrue(SyncBatchNormalization.FromConfig(keras3.GetConfig()).Synchronized);
    }
}
