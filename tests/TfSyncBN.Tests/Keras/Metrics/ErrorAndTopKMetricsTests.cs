using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Keras.Metrics;

/// <summary>mae and top_k_categorical_accuracy against values worked out by hand from the Keras definitions.</summary>
[TestClass]
public sealed class ErrorAndTopKMetricsTests
{
    [TestMethod]
    public void Mae_AveragesPerExampleMeansOverAllUpdates()
    {
        var mae = (MeanAbsoluteError)TfSyncBN.Keras.Metrics.Get("mae");
        // Example means: (|1 − 0.5| + |−2 − 1|)/2 = 1.75 and (|0 − 0| + |3 − 1|)/2 = 1; then one example with 0.25.
        mae.Update(Tensor.FromArray([1f, -2f, 0f, 3f], [2, 2]), Tensor.FromArray([0.5f, 1f, 0f, 1f], [2, 2]));
        Assert.AreEqual((1.75 + 1) / 2, mae.Result(), 1e-7);
        mae.Update(Tensor.FromArray([1f, 1f], [1, 2]), Tensor.FromArray([0.5f, 1f], [1, 2]));
        Assert.AreEqual((1.75 + 1 + 0.25) / 3, mae.Result(), 1e-7);
        Assert.IsInstanceOfType<MeanAbsoluteError>(TfSyncBN.Keras.Metrics.Get("mean_absolute_error"));
        Assert.ThrowsExactly<ArgumentException>(() => mae.Update(Tensor.Zeros([2, 2]), Tensor.Zeros([2, 3])));
    }

    [TestMethod]
    public void TopK_CountsTrueClassAmongKLargest_TiesAtTheBoundaryCount()
    {
        float[] y =
        [
            0, 0, 1, 0,   // true class 2
            1, 0, 0, 0,   // true class 0, largest
            0, 0, 0, 1,   // true class 3, smallest
            0, 1, 0, 0,   // true class 1, tied with class 0 at the 2nd place boundary
        ];
        float[] p =
        [
            0.4f, 0.35f, 0.3f, 0.1f,   // 2 larger than the target: in top 3, not in top 2
            0.7f, 0.1f, 0.1f, 0.1f,    // 0 larger: in top 1
            0.4f, 0.3f, 0.2f, 0.1f,    // 3 larger: in top 4 only
            0.3f, 0.3f, 0.4f, 0.0f,    // 1 larger (0.4), class 0 ties: in top 2 (in_top_k counts ties)
        ];
        var yt = Tensor.FromArray(y, [4, 4]);
        var yp = Tensor.FromArray(p, [4, 4]);
        double[] expected = [1 / 4.0, 2 / 4.0, 3 / 4.0, 4 / 4.0];
        for (int k = 1; k <= 4; k++)
        {
            var m = new TopKCategoricalAccuracy(k);
            m.Update(yt, yp);
            Assert.AreEqual(expected[k - 1], m.Result(), 1e-12, $"k = {k}");
        }
        var byName = (TopKCategoricalAccuracy)TfSyncBN.Keras.Metrics.Get("top_k_categorical_accuracy");
        Assert.AreEqual(5, byName.K);
        var back = (TopKCategoricalAccuracy)TfSyncBN.Keras.Metrics.FromConfig(TfSyncBN.Keras.Metrics.Serialize(new TopKCategoricalAccuracy(3)));
        Assert.AreEqual(3, back.K);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new TopKCategoricalAccuracy(0));
    }
}
