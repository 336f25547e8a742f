using ScottPlot;
using TfSyncBN.Keras;

/// <summary>
/// The training curves of a <see cref="History"/> as a ScottPlot chart: loss and val_loss on the left axis, accuracy and
/// val_accuracy on the right axis, one point per epoch (numbered from 1). Keys the history lacks are left out.
/// </summary>
public static class TrainingCurves
{
    /// <summary>The series drawn, in order: log key, axis (true = right, accuracy) and colour.</summary>
    public static IReadOnlyList<(string Key, bool Right, Color Color)> Series { get; } =
    [
        ("loss", false, Colors.C0),
        ("val_loss", false, Colors.C1),
        ("accuracy", true, Colors.C2),
        ("val_accuracy", true, Colors.C3),
    ];

    /// <summary>The chart of <paramref name="history"/>; its scatter plottables are the series present, in <see cref="Series"/> order.</summary>
    /// <exception cref="ArgumentException">The history has no epochs.</exception>
    public static Plot Build(History history)
    {
        if (history.Epochs.Count == 0) throw new ArgumentException("The history has no epochs to plot.", nameof(history));
        var plot = new Plot();
        double[] epochs = history.Epochs.Select(e => e + 1.0).ToArray();
        foreach (var (key, right, color) in Series)
        {
            if (!history.Values.TryGetValue(key, out var values)) continue;
            var scatter = plot.Add.Scatter(epochs, values.ToArray(), color);
            scatter.LegendText = key;
            scatter.LineWidth = 2;
            scatter.MarkerSize = 6;
            if (key.StartsWith("val_", StringComparison.Ordinal)) scatter.LinePattern = LinePattern.Dashed;
            scatter.Axes.YAxis = right ? plot.Axes.Right : plot.Axes.Left;
        }
        plot.Title("Training curves");
        plot.XLabel("epoch");
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(1);
        plot.YLabel("loss");
        plot.Axes.Right.Label.Text = "accuracy";
        plot.ShowLegend(Alignment.UpperCenter);
        return plot;
    }

    /// <summary>Writes the chart of <paramref name="history"/> to <paramref name="path"/> as a PNG of the given size; returns the full path.</summary>
    public static string SavePng(History history, string path, int width = 900, int height = 500)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        Build(history).SavePng(full, width, height);
        return full;
    }
}
