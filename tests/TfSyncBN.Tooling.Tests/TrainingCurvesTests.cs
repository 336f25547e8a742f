using ScottPlot.Plottables;
using SkiaSharp;
using TfSyncBN.Keras;

namespace TfSyncBN.Tooling.Tests;

/// <summary>The main example's training-curves PNG (examples/FashionMnist/TrainingCurves.cs, ScottPlot).</summary>
[TestClass]
public sealed class TrainingCurvesTests
{
    private static readonly Dictionary<string, double[]> Logged = new()
    {
        ["loss"] = [0.92, 0.55, 0.41, 0.33],
        ["accuracy"] = [0.70, 0.81, 0.86, 0.89],
        ["val_loss"] = [0.99, 0.67, 0.61, 0.58],
        ["val_accuracy"] = [0.62, 0.76, 0.79, 0.80],
    };

    private static History MakeHistory()
    {
        var history = new History();
        history.OnTrainBegin(new Dictionary<string, double>());
        for (int e = 0; e < 4; e++) history.OnEpochEnd(e, Logged.ToDictionary(kv => kv.Key, kv => kv.Value[e]));
        return history;
    }

    [TestMethod]
    public void PlottedPointsAreTheHistoryValues()
    {
        var history = MakeHistory();
        var plot = TrainingCurves.Build(history);
        var scatters = plot.GetPlottables().OfType<Scatter>().ToArray();
        CollectionAssert.AreEqual(new[] { "loss", "val_loss", "accuracy", "val_accuracy" }, scatters.Select(s => s.LegendText).ToArray());
        foreach (var s in scatters)
        {
            var points = s.Data.GetScatterPoints();
            CollectionAssert.AreEqual(new[] { 1.0, 2.0, 3.0, 4.0 }, points.Select(p => p.X).ToArray(), s.LegendText);
            CollectionAssert.AreEqual(history[s.LegendText].ToArray(), points.Select(p => p.Y).ToArray(), s.LegendText);
            Assert.AreSame(s.LegendText.EndsWith("accuracy") ? plot.Axes.Right : plot.Axes.Left, s.Axes.YAxis, s.LegendText);
        }
    }

    [TestMethod]
    public void PngHasTheRequestedSizeAndDrawsEverySeries()
    {
        using var dir = new Repo.TempDirectory();
        string path = TrainingCurves.SavePng(MakeHistory(), Path.Combine(dir.Path, "sub", "curves.png"), 640, 360);
        Assert.AreEqual(Path.Combine(dir.Path, "sub", "curves.png"), path);
        var bytes = File.ReadAllBytes(path);
        CollectionAssert.AreEqual(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        using var bitmap = SKBitmap.Decode(bytes);
        Assert.AreEqual(640, bitmap.Width);
        Assert.AreEqual(360, bitmap.Height);
        // Not blank: each series' colour covers some pixels (its line, markers and legend entry).
        var pixels = bitmap.Pixels;
        foreach (var (key, _, color) in TrainingCurves.Series)
        {
            int n = pixels.Count(p => Math.Abs(p.Red - color.R) < 8 && Math.Abs(p.Green - color.G) < 8 && Math.Abs(p.Blue - color.B) < 8);
            Assert.IsTrue(n > 100, $"{key}: only {n} pixels of its colour");
        }
        Assert.IsTrue(pixels.Distinct().Count() > 20, "the image has almost no distinct colours");
    }

    [TestMethod]
    public void EmptyHistoryIsRefused()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => TrainingCurves.Build(new History()));
        Assert.AreEqual("history", e.ParamName);
    }
}
