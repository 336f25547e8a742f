using TfSyncBN.NotebookRunner;

namespace TfSyncBN.Tooling.Tests;

/// <summary>
/// How <see cref="OutputComparison"/> tells a stale notebook output from a fresh one: timings and throughputs are
/// masked, everything else is compared, numbers within float32 and display rounding.
/// </summary>
[TestClass]
public sealed class OutputComparisonTests
{
    private const string Epoch = "Epoch 1/3\n63/63 - 18s 286ms/step - loss: 0.6456 - accuracy: 0.7867 - val_loss: 0.4195 - val_accuracy: 0.8595 - 444 images/s\n";

    [TestMethod]
    public void TimingsAndThroughputsAreMasked()
    {
        Assert.AreEqual("Epoch 1/3\n63/63 - <time> <time> - loss: 0.6456 - accuracy: 0.7867 - val_loss: 0.4195 - val_accuracy: 0.8595 - <rate>\n",
            OutputComparison.Normalize(Epoch));
        Assert.AreEqual("took <time>, <time> (<time>), <rate>; <time> per step, 3 epochs, 2 steps",
            OutputComparison.Normalize("took 1.5 s/epoch, 00:00:03.75 (12 ms), 3.2e3 samples/s; 40us per step, 3 epochs, 2 steps"));
        Assert.AreEqual("data in <repo>/data/fashion-mnist-subset", OutputComparison.Normalize("data in /home/ci/TfSyncBN/data/fashion-mnist-subset", "/home/ci/TfSyncBN/"));
        Assert.IsNull(OutputComparison.TextDifference(Epoch, Epoch.Replace("18s 286ms/step", "9s 150ms/step").Replace("444 images/s", "849 images/s")));
    }

    [TestMethod]
    public void ResultsBeyondRoundingAreDifferences()
    {
        // A loss that moved, an accuracy one test image off (500 images: 0.2%), a count off by one, changed words.
        Assert.IsNotNull(OutputComparison.TextDifference(Epoch, Epoch.Replace("loss: 0.6456", "loss: 0.6490")));
        Assert.IsNotNull(OutputComparison.TextDifference("accuracy on 500 test images: 79.6 %\n", "accuracy on 500 test images: 79.8 %\n"));
        Assert.IsNotNull(OutputComparison.TextDifference("Total params: 422,314", "Total params: 422,315"));
        Assert.IsNotNull(OutputComparison.TextDifference("SyncBN error 6.0E-007", "SyncBN error 2.5E-005"));
        Assert.IsNotNull(OutputComparison.TextDifference("max |SyncBN - BN| = 2.4e-007", "max |BN - SyncBN| = 2.4e-007"));
        Assert.IsNotNull(OutputComparison.TextDifference("a 1\nb 2\n", "a 1\nb 2\nc 3\n"));
        StringAssert.Contains(OutputComparison.TextDifference(Epoch, Epoch.Replace("0.4195", "0.5195")), "number 0.4195 stored, 0.5195 produced");
    }

    [TestMethod]
    public void RoundingLevelDifferencesMatch()
    {
        // The F# notebook's logits with Vector256 kernels and with 128-bit vectors only (DOTNET_EnableAVX2=0).
        Assert.IsNull(OutputComparison.TextDifference(
            "Tensor[3, 10] [-4.015769, -2.314038, -3.457135, -2.146129, -2.24368, 0.8910263, -2.407176, 2.658231, ...]",
            "Tensor[3, 10] [-4.015771, -2.314037, -3.457134, -2.14613, -2.24368, 0.891027, -2.407176, 2.658232, ...]"));
        // A value on a rounding boundary prints either way; an SVG coordinate may print as an integer.
        Assert.IsTrue(OutputComparison.NumbersMatch("0.634872", "0.634873"));
        Assert.IsTrue(OutputComparison.NumbersMatch("204", "203.9"));
        Assert.IsTrue(OutputComparison.NumbersMatch("6.0E-007", "4.8E-007"));
        Assert.IsFalse(OutputComparison.NumbersMatch("0.634872", "0.634892"));
        Assert.IsFalse(OutputComparison.NumbersMatch("204", "203.8"));
        Assert.IsFalse(OutputComparison.NumbersMatch("480", "481"));
    }

    [TestMethod]
    public void CellsCompareKindsTextAndHtml()
    {
        CellOutput[] stored = [new("stream", "accuracy 79.6 %\n"), new("execute_result", "Tensor[1] [0.5]", "<td>0.5</td>")];
        Assert.IsNull(OutputComparison.CellDifference(stored, [new("stream", "accuracy 79.6 %\r\n"), new("execute_result", "Tensor[1] [0.5]", "<td>0.5</td>")]));
        StringAssert.Contains(OutputComparison.CellDifference(stored, [stored[0]]), "2 stored outputs (stream, execute_result), 1 produced (stream)");
        StringAssert.Contains(OutputComparison.CellDifference(stored, [stored[0], stored[1] with { Kind = "display_data" }]), "output 1: stored execute_result, produced display_data");
        StringAssert.Contains(OutputComparison.CellDifference(stored, [stored[0], stored[1] with { Html = null }]), "HTML stored but not produced");
        StringAssert.Contains(OutputComparison.CellDifference(stored, [stored[0], stored[1] with { Html = "<td>0.7</td>" }]), "output 1 (execute_result) HTML: number 0.5 stored, 0.7 produced");
    }
}
