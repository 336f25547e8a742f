using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Tensors;

/// <summary>The fused training-loop ops that replaced raw storage access outside the tensor core, against hand-computed values.</summary>
[TestClass]
public sealed class TrainingOpsTests
{
    [TestMethod]
    public void GreaterEqualMask_IsOneAtAndAboveTheThreshold()
    {
        var x = Tensor.FromArray([-1f, 0.5f, 0.4999f, 2f, float.NaN, 0.5f], [2, 3]);
        var mask = TrainingOps.GreaterEqualMask(x, 0.5f);
        CollectionAssert.AreEqual(new[] { 2, 3 }, mask.Shape.ToArray());
        CollectionAssert.AreEqual(new[] { 0f, 1f, 0f, 1f, 0f, 1f }, mask.ToArray());
    }

    [TestMethod]
    public void GatherRows_TakesTheRowsInTheGivenOrder()
    {
        var t = Tensor.FromFunction([4, 2, 1], i => i);   // row r holds 2r, 2r+1
        var rows = TrainingOps.GatherRows(t, [3, 0, 2, 1], start: 1, count: 2);
        CollectionAssert.AreEqual(new[] { 2, 2, 1 }, rows.Shape.ToArray());
        CollectionAssert.AreEqual(new[] { 0f, 1f, 4f, 5f }, rows.ToArray());
        Assert.AreEqual(0, TrainingOps.GatherRows(t, [3, 0], 2, 0).Size);
    }

    [TestMethod]
    public void ScaledFromHost_DividesAndAddsTheAddend()
    {
        var y = TrainingOps.ScaledFromHost([2f, 4f, -6f, 8f], 2f, [2, 2], Tensor.FromArray([0.5f, 0f, 1f, -1f], [2, 2]));
        CollectionAssert.AreEqual(new[] { 1.5f, 2f, -2f, 3f }, y.ToArray());
        CollectionAssert.AreEqual(new[] { 1f, 2f }, TrainingOps.ScaledFromHost([3f, 6f], 3f, [2], null).ToArray());
    }

    [TestMethod]
    public void ArgMaxLastAxis_TakesTheFirstLargest_AndCountEqualCountsMatches()
    {
        var p = Tensor.FromArray([0.1f, 0.7f, 0.7f, 3f, -1f, 2f, -5f, -4f, -4.5f], [3, 3]);
        CollectionAssert.AreEqual(new[] { 1, 0, 1 }, TrainingOps.ArgMaxLastAxis(p));
        Assert.ThrowsExactly<ArgumentException>(() => TrainingOps.ArgMaxLastAxis(Tensor.Zeros([2, 0])));
        Assert.ThrowsExactly<ArgumentException>(() => TrainingOps.ArgMaxLastAxis(Tensor.Scalar(1f)));
        Assert.AreEqual(2, TrainingOps.CountEqual(Tensor.FromArray([1f, 2f, float.NaN, 4f]), Tensor.FromArray([1f, 0f, float.NaN, 4f])));
        Assert.AreEqual("b", Assert.ThrowsExactly<ArgumentException>(() => TrainingOps.CountEqual(Tensor.Zeros([2]), Tensor.Zeros([3]))).ParamName);
    }
}
