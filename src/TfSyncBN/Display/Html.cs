using System.Globalization;
using System.Net;
using System.Text;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Display;

/// <summary>
/// HTML for notebooks: tensors and model summaries as tables, training histories as an SVG line chart per group of
/// keys (losses, then the other metrics) followed by the per-epoch table. Plain HTML and inline SVG, no script, so the
/// output renders the same in Jupyter, VS Code and on GitHub.
/// </summary>
internal static class Html
{
    /// <summary>Rows and columns shown of a tensor; the rest is elided with "…".</summary>
    internal const int MaxRows = 16, MaxColumns = 12;

    private static readonly string[] Palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

    private static string E(string s) => WebUtility.HtmlEncode(s);

    private static string N(double v) => v.ToString("G6", CultureInfo.InvariantCulture);

    private static string Shape(IReadOnlyList<int> shape) =>
        "(" + string.Join(", ", shape.Select(d => d < 0 ? "None" : d.ToString(CultureInfo.InvariantCulture))) + (shape.Count == 1 ? ",)" : ")");

    /// <summary>A tensor as a table: the last axis across, all leading axes flattened down (row labels are their indices).</summary>
    public static string Tensor(object instance)
    {
        var t = (Tensor)instance;
        var shape = t.ShapeArray;
        var data = t.ToArray();
        int cols = shape.Length == 0 ? 1 : shape[^1];
        int rows = cols == 0 ? 0 : t.Size / cols;
        var sb = new StringBuilder();
        sb.Append("<table class=\"tfsyncbn-tensor\"><caption>Tensor ").Append(E(Shape(shape))).Append(" float32</caption>");
        sb.Append("<thead><tr><th></th>");
        for (int c = 0; c < Math.Min(cols, MaxColumns); c++) sb.Append("<th>").Append(c).Append("</th>");
        if (cols > MaxColumns) sb.Append("<th>…</th>");
        sb.Append("</tr></thead><tbody>");
        for (int r = 0; r < Math.Min(rows, MaxRows); r++)
        {
            sb.Append("<tr><th>").Append(E(RowLabel(shape, r))).Append("</th>");
            for (int c = 0; c < Math.Min(cols, MaxColumns); c++) sb.Append("<td>").Append(N(data[r * cols + c])).Append("</td>");
            if (cols > MaxColumns) sb.Append("<td>…</td>");
            sb.Append("</tr>");
        }
        if (rows > MaxRows) sb.Append("<tr><th>…</th><td colspan=\"").Append(Math.Min(cols, MaxColumns) + (cols > MaxColumns ? 1 : 0)).Append("\">…</td></tr>");
        return sb.Append("</tbody></table>").ToString();
    }

    /// <summary>The leading indices of flattened row <paramref name="r"/>: "[0, 2]" for shape (2, 3, 4) row 2.</summary>
    private static string RowLabel(int[] shape, int r)
    {
        if (shape.Length <= 1) return "";
        var idx = new int[shape.Length - 1];
        for (int a = idx.Length - 1; a >= 0; a--)
        {
            idx[a] = r % shape[a];
            r /= shape[a];
        }
        return "[" + string.Join(", ", idx) + "]";
    }

    /// <summary>The Keras summary as a table: layer (type), output shape, parameter count, then the totals.</summary>
    public static string Model(object instance)
    {
        var m = (Model)instance;
        var layers = m.Layers;
        var shapes = m is Sequential { Built: true } s ? s.OutputShapes : null;
        var sb = new StringBuilder();
        sb.Append("<table class=\"tfsyncbn-summary\"><caption>Model: \"").Append(E(m.Name)).Append("\"</caption>");
        sb.Append("<thead><tr><th>Layer (type)</th><th>Output Shape</th><th>Param #</th></tr></thead><tbody>");
        for (int i = 0; i < layers.Count; i++)
        {
            var l = layers[i];
            sb.Append("<tr><td>").Append(E($"{l.Name} ({l.ClassName})")).Append("</td><td>")
              .Append(E(shapes is null ? "?" : Shape(shapes[i]))).Append("</td><td>")
              .Append(l.Built ? l.CountParams().ToString("N0", CultureInfo.InvariantCulture) : "?").Append("</td></tr>");
        }
        sb.Append("</tbody>");
        if (m.Built)
        {
            long trainable = m.TrainableWeights.Sum(w => (long)w.Shape.Aggregate(1, (a, b) => a * b));
            long other = m.NonTrainableWeights.Sum(w => (long)w.Shape.Aggregate(1, (a, b) => a * b));
            sb.Append("<tfoot>");
            foreach (var (label, count) in new[] { ("Total params", trainable + other), ("Trainable params", trainable), ("Non-trainable params", other) })
                sb.Append("<tr><th colspan=\"2\">").Append(label).Append("</th><td>").Append(count.ToString("N0", CultureInfo.InvariantCulture)).Append("</td></tr>");
            sb.Append("</tfoot>");
        }
        return sb.Append("</table>").ToString();
    }

    /// <summary>One SVG chart for the loss keys, one for the other metrics, then the per-epoch values as a table.</summary>
    public static string History(object instance)
    {
        var h = (History)instance;
        var values = h.Values;
        var epochs = h.Epochs;
        var keys = values.Keys.ToList();
        var sb = new StringBuilder("<div class=\"tfsyncbn-history\">");
        var losses = keys.Where(k => k.Contains("loss", StringComparison.Ordinal)).ToList();
        var others = keys.Except(losses).ToList();
        foreach (var group in new[] { losses, others })
            if (group.Count > 0) sb.Append(Chart(group, values, epochs));
        sb.Append("<table class=\"tfsyncbn-history-table\"><thead><tr><th>epoch</th>");
        foreach (var k in keys) sb.Append("<th>").Append(E(k)).Append("</th>");
        sb.Append("</tr></thead><tbody>");
        for (int i = 0; i < epochs.Count; i++)
        {
            sb.Append("<tr><td>").Append(epochs[i] + 1).Append("</td>");
            foreach (var k in keys) sb.Append("<td>").Append(i < values[k].Count ? N(values[k][i]) : "").Append("</td>");
            sb.Append("</tr>");
        }
        return sb.Append("</tbody></table></div>").ToString();
    }

    /// <summary>
    /// A line chart of <paramref name="keys"/> against the epoch (numbered from 1): 480×240 pixels, the y range is the
    /// values' range (padded when flat), one polyline with a marker per point per key, and a legend.
    /// </summary>
    internal static string Chart(IReadOnlyList<string> keys, IReadOnlyDictionary<string, IReadOnlyList<double>> values, IReadOnlyList<int> epochs)
    {
        const double W = 480, H = 240, Left = 56, Right = 110, Top = 14, Bottom = 36;
        double plotW = W - Left - Right, plotH = H - Top - Bottom;
        var all = keys.SelectMany(k => values[k]).Where(double.IsFinite).ToArray();
        double lo = all.Length > 0 ? all.Min() : 0, hi = all.Length > 0 ? all.Max() : 1;
        if (hi - lo < 1e-12) { lo -= 0.5; hi += 0.5; }
        int n = Math.Max(1, epochs.Count);
        double X(int i) => Left + (n == 1 ? plotW / 2 : plotW * i / (n - 1));
        double Y(double v) => Top + plotH * (hi - v) / (hi - lo);
        string F(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);
        var sb = new StringBuilder();
        sb.Append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"").Append(W).Append("\" height=\"").Append(H)
          .Append("\" viewBox=\"0 0 ").Append(W).Append(' ').Append(H).Append("\" font-family=\"sans-serif\" font-size=\"11\">");
        sb.Append("<rect x=\"").Append(Left).Append("\" y=\"").Append(Top).Append("\" width=\"").Append(plotW).Append("\" height=\"").Append(plotH)
          .Append("\" fill=\"none\" stroke=\"#999\"/>");
        foreach (var (v, anchor) in new[] { (hi, "hi"), (lo, "lo") })
            sb.Append("<text x=\"").Append(Left - 4).Append("\" y=\"").Append(F(Y(v) + (anchor == "hi" ? 4 : 0))).Append("\" text-anchor=\"end\">").Append(N(v)).Append("</text>");
        for (int i = 0; i < epochs.Count; i++)
            if (epochs.Count <= 10 || i == 0 || i == epochs.Count - 1)
                sb.Append("<text x=\"").Append(F(X(i))).Append("\" y=\"").Append(H - Bottom + 14).Append("\" text-anchor=\"middle\">").Append(epochs[i] + 1).Append("</text>");
        sb.Append("<text x=\"").Append(F(Left + plotW / 2)).Append("\" y=\"").Append(H - 6).Append("\" text-anchor=\"middle\">epoch</text>");
        for (int s = 0; s < keys.Count; s++)
        {
            string color = Palette[s % Palette.Length];
            var series = values[keys[s]];
            var points = string.Join(" ", Enumerable.Range(0, Math.Min(series.Count, epochs.Count)).Where(i => double.IsFinite(series[i]))
                .Select(i => F(X(i)) + "," + F(Y(series[i]))));
            sb.Append("<polyline class=\"series\" data-key=\"").Append(E(keys[s])).Append("\" fill=\"none\" stroke=\"").Append(color)
              .Append("\" stroke-width=\"2\" points=\"").Append(points).Append("\"/>");
            foreach (var p in points.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var xy = p.Split(',');
                sb.Append("<circle cx=\"").Append(xy[0]).Append("\" cy=\"").Append(xy[1]).Append("\" r=\"2.5\" fill=\"").Append(color).Append("\"/>");
            }
            double ly = Top + 12 + 16 * s;
            sb.Append("<line x1=\"").Append(W - Right + 8).Append("\" y1=\"").Append(F(ly - 4)).Append("\" x2=\"").Append(W - Right + 24)
              .Append("\" y2=\"").Append(F(ly - 4)).Append("\" stroke=\"").Append(color).Append("\" stroke-width=\"2\"/>");
            sb.Append("<text x=\"").Append(W - Right + 28).Append("\" y=\"").Append(F(ly)).Append("\">").Append(E(keys[s])).Append("</text>");
        }
        return sb.Append("</svg>").ToString();
    }
}
