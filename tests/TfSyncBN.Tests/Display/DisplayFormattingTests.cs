using System.Collections;
using System.Reflection;
using TfSyncBN.Display;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Display;

/// <summary>
/// Notebook display: the formatter source is found by name the way .NET Interactive finds it, and the HTML tables
/// and SVG charts hold the right values.
/// </summary>
[TestClass]
public sealed class DisplayFormattingTests
{
    /// <summary>The text/html output for <paramref name="value"/>, found only through names, as .NET Interactive does.</summary>
    private static string? HtmlByName(object value)
    {
        var attribute = value.GetType().GetCustomAttributes(inherit: true).SingleOrDefault(a => a.GetType().Name == "TypeFormatterSourceAttribute");
        if (attribute is null) return null;
        var sourceType = (Type)attribute.GetType().GetProperty("FormatterSourceType")!.GetValue(attribute)!;
        var source = Activator.CreateInstance(sourceType, nonPublic: true);
        var formatters = (IEnumerable)sourceType.GetMethod("CreateTypeFormatters")!.Invoke(source, null)!;
        foreach (var f in formatters)
        {
            if ((string)f.GetType().GetProperty("MimeType")!.GetValue(f)! != "text/html") continue;
            using var writer = new StringWriter();
            if ((bool)f.GetType().GetMethod("Format")!.Invoke(f, [value, writer])!) return writer.ToString();
        }
        return null;
    }

    [TestMethod]
    public void FormatterSourceIsRecognizedByNameWithoutTheInteractivePackages()
    {
        Assert.IsFalse(typeof(Tensor).Assembly.GetReferencedAssemblies().Any(a => a.Name!.StartsWith("Microsoft.DotNet.Interactive", StringComparison.Ordinal)));
        foreach (var type in new[] { typeof(Tensor), typeof(Model), typeof(Sequential), typeof(History) })
        {
            var attribute = type.GetCustomAttributes(inherit: true).Single(a => a.GetType().Name == "TypeFormatterSourceAttribute");
            CollectionAssert.AreEqual(new[] { "text/html" }, (string[])attribute.GetType().GetProperty("PreferredMimeTypes")!.GetValue(attribute)!, type.Name);
        }
        var t = Tensor.FromArray([1f, 2f], [2]);
        Assert.AreEqual(Html.Tensor(t), HtmlByName(t));
        // A formatter declines other types instead of writing something wrong.
        var formatter = new FormatterSource().CreateTypeFormatters().Cast<FormatterSource.HtmlFormatter>().Single(f => f.Type == typeof(Tensor));
        using var writer = new StringWriter();
        Assert.IsFalse(formatter.Format("not a tensor", writer));
        Assert.AreEqual("", writer.ToString());
        Assert.IsNull(HtmlByName("plain string"));
    }

    [TestMethod]
    public void TensorIsATableOfTheLastAxisAcrossAndLeadingIndicesDown()
    {
        var t = Tensor.FromArray([1f, 2f, 3f, 4f, 5f, 6.5f, 7f, -8f, 0.125f, 10f, 11f, 12f], [2, 2, 3]);
        string html = HtmlByName(t)!;
        StringAssert.StartsWith(html, "<table class=\"tfsyncbn-tensor\"><caption>Tensor (2, 2, 3) float32</caption>");
        StringAssert.Contains(html, "<thead><tr><th></th><th>0</th><th>1</th><th>2</th></tr></thead>");
        StringAssert.Contains(html, "<tr><th>[0, 0]</th><td>1</td><td>2</td><td>3</td></tr>");
        StringAssert.Contains(html, "<tr><th>[0, 1]</th><td>4</td><td>5</td><td>6.5</td></tr>");
        StringAssert.Contains(html, "<tr><th>[1, 0]</th><td>7</td><td>-8</td><td>0.125</td></tr>");
        StringAssert.Contains(html, "<tr><th>[1, 1]</th><td>10</td><td>11</td><td>12</td></tr>");
        Assert.AreEqual(4, Count(html, "<tr><th>["));

        StringAssert.Contains(HtmlByName(Tensor.Scalar(2.5f)), "<caption>Tensor () float32</caption><thead><tr><th></th><th>0</th></tr></thead><tbody><tr><th></th><td>2.5</td></tr>");
    }

    [TestMethod]
    public void LargeTensorsAreElided()
    {
        var t = Tensor.FromFunction([20, 15], i => i);
        string html = HtmlByName(t)!;
        // 16 of the 20 rows, 12 of the 15 columns, and one "…" row and column.
        Assert.AreEqual(Html.MaxRows + 1, Count(html, "<tr><th>[") + Count(html, "<tr><th>…"));
        StringAssert.Contains(html, "<th>11</th><th>…</th></tr></thead>");
        StringAssert.Contains(html, "<tr><th>[15]</th><td>225</td>");
        StringAssert.Contains(html, "<td>236</td><td>…</td></tr>");
        Assert.IsFalse(html.Contains("<td>237</td>", StringComparison.Ordinal));
        StringAssert.Contains(html, "<tr><th>…</th><td colspan=\"13\">…</td></tr></tbody></table>");
    }

    [TestMethod]
    public void ModelSummaryIsATableWithShapesAndParameterCounts()
    {
        var model = new Sequential([new Dense(4, name: "d<1>"), new SyncBatchNormalization(name: "bn")], inputShape: [3], name: "m&n");
        string html = HtmlByName(model)!;
        StringAssert.StartsWith(html, "<table class=\"tfsyncbn-summary\"><caption>Model: \"m&amp;n\"</caption>");
        // Dense 3->4: 12 + 4; SyncBN over 4: gamma, beta (trainable), moving mean and variance (not).
        StringAssert.Contains(html, "<tr><td>d&lt;1&gt; (Dense)</td><td>(None, 4)</td><td>16</td></tr>");
        StringAssert.Contains(html, "<tr><td>bn (SyncBatchNormalization)</td><td>(None, 4)</td><td>16</td></tr>");
        StringAssert.Contains(html, "<tr><th colspan=\"2\">Total params</th><td>32</td></tr>");
        StringAssert.Contains(html, "<tr><th colspan=\"2\">Trainable params</th><td>24</td></tr>");
        StringAssert.Contains(html, "<tr><th colspan=\"2\">Non-trainable params</th><td>8</td></tr>");

        var unbuilt = new Sequential([new Dense(2, name: "d")], name: "u");
        StringAssert.Contains(HtmlByName(unbuilt), "<tr><td>d (Dense)</td><td>?</td><td>?</td></tr></tbody></table>");
    }

    [TestMethod]
    public void HistoryIsAnSvgCurvePerKeyGroupAndATable()
    {
        var history = new History();
        history.OnTrainBegin(new Dictionary<string, double>());
        history.OnEpochEnd(0, new Dictionary<string, double> { ["loss"] = 1.0, ["accuracy"] = 0.5 });
        history.OnEpochEnd(1, new Dictionary<string, double> { ["loss"] = 0.5, ["accuracy"] = 0.75 });
        history.OnEpochEnd(2, new Dictionary<string, double> { ["loss"] = 0.25, ["accuracy"] = 1.0 });
        string html = HtmlByName(history)!;
        // Two charts (losses, then the other metrics) and the table.
        Assert.AreEqual(2, Count(html, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"480\" height=\"240\""));
        // The plot area is x in [56, 370], y in [14, 204]; each series spans it: epoch i at x = 56 + 314·i/2,
        // value v at y = 14 + 190·(max − v)/(max − min).
        StringAssert.Contains(html, "data-key=\"loss\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"56,14 213,140.7 370,204\"");
        StringAssert.Contains(html, "data-key=\"accuracy\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"56,204 213,109 370,14\"");
        StringAssert.Contains(html, "<text x=\"52\" y=\"18\" text-anchor=\"end\">1</text><text x=\"52\" y=\"204\" text-anchor=\"end\">0.25</text>");
        StringAssert.Contains(html, "<text x=\"398\" y=\"26\">loss</text>");
        Assert.IsTrue(html.IndexOf("data-key=\"loss\"", StringComparison.Ordinal) < html.IndexOf("data-key=\"accuracy\"", StringComparison.Ordinal));
        StringAssert.Contains(html, "<thead><tr><th>epoch</th><th>loss</th><th>accuracy</th></tr></thead>");
        StringAssert.Contains(html, "<tr><td>2</td><td>0.5</td><td>0.75</td></tr>");
        StringAssert.Contains(html, "<tr><td>3</td><td>0.25</td><td>1</td></tr>");
    }

    [TestMethod]
    public void FlatSeriesIsCenteredAndOneEpochIsCentered()
    {
        var chart = Html.Chart(["loss"], new Dictionary<string, IReadOnlyList<double>> { ["loss"] = [2.0] }, [0]);
        // One point: x at the middle of [56, 370]; a flat range is padded to [v − 0.5, v + 0.5], so v is mid-height.
        StringAssert.Contains(chart, "points=\"213,109\"");
        StringAssert.Contains(chart, ">2.5</text>");
        StringAssert.Contains(chart, ">1.5</text>");
    }

    private static int Count(string text, string part)
    {
        int n = 0;
        for (int i = text.IndexOf(part, StringComparison.Ordinal); i >= 0; i = text.IndexOf(part, i + part.Length, StringComparison.Ordinal)) n++;
        return n;
    }
}
