using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace TfSyncBN.Keras;

/// <summary>
/// Keras-style progress output of <c>Model.Fit</c> (<c>keras.callbacks.ProgbarLogger</c>):
/// <c>Epoch 1/5</c>, then a bar with the step count, elapsed time, loss, metrics and throughput in images (samples) per
/// second, redrawn in place after each batch.
/// </summary>
/// <remarks>
/// When the output is not an interactive console (an explicit writer, <see cref="Console.IsOutputRedirected"/>, the
/// environment variable <c>CI</c> set to a non-empty value, or <c>TERM=dumb</c>) it writes no carriage returns: one plain
/// line per epoch, at its end. Fit adds one automatically when <c>verbose</c> is 1 (automatic choice) or 2 (one line per
/// epoch).
/// </remarks>
public sealed class ProgressBar : Callback
{
    private const int Width = 30;
    private readonly TextWriter output;
    private readonly bool interactive;
    private readonly Stopwatch clock = new();
    private int epoch;
    private long lastDraw;

    /// <summary>Creates the callback.</summary>
    /// <param name="output">Where to write; <see cref="Console.Out"/> when null.</param>
    /// <param name="interactive">Whether to redraw a bar in place; when null, true only when writing to a console whose
    /// output is not redirected, <c>CI</c> is unset or empty, and <c>TERM</c> is not <c>dumb</c>.</param>
    public ProgressBar(TextWriter? output = null, bool? interactive = null)
    {
        this.output = output ?? Console.Out;
        this.interactive = interactive ?? AutoInteractive(output is null, Console.IsOutputRedirected,
            Environment.GetEnvironmentVariable("CI"), Environment.GetEnvironmentVariable("TERM"));
    }

    /// <summary>
    /// The automatic choice between a bar redrawn in place and plain lines: a bar only on a real console (no explicit
    /// writer, output not redirected to a file or pipe), outside CI (CI systems set <c>CI</c>, usually to <c>true</c>,
    /// and their logs show every redraw as a line), and on a terminal that handles carriage returns (<c>TERM=dumb</c>,
    /// as Emacs shells and some tool runners set, does not).
    /// </summary>
    /// <param name="toConsole">Whether the callback writes to <see cref="Console.Out"/> (no writer was given).</param>
    /// <param name="outputRedirected"><see cref="Console.IsOutputRedirected"/>.</param>
    /// <param name="ci">The value of the <c>CI</c> environment variable, or null when unset; any non-empty value means CI.</param>
    /// <param name="term">The value of the <c>TERM</c> environment variable, or null when unset.</param>
    internal static bool AutoInteractive(bool toConsole, bool outputRedirected, string? ci, string? term) =>
        toConsole && !outputRedirected && string.IsNullOrEmpty(ci) && !string.Equals(term, "dumb", StringComparison.Ordinal);

    /// <summary>Whether the bar is redrawn in place (false: plain lines).</summary>
    public bool Interactive => interactive;

    /// <inheritdoc/>
    public override void OnEpochBegin(int epoch, IReadOnlyDictionary<string, double> logs)
    {
        this.epoch = epoch;
        output.WriteLine($"Epoch {epoch + 1}/{Parameters?.Epochs ?? epoch + 1}");
        clock.Restart();
        lastDraw = 0;
    }

    /// <inheritdoc/>
    public override void OnTrainBatchEnd(int batch, IReadOnlyDictionary<string, double> logs)
    {
        if (!interactive) return;
        int steps = Parameters?.Steps ?? batch + 1;
        long now = clock.ElapsedMilliseconds;
        // Redraw at most every 50 ms (and always at the last batch): console writes are slow.
        if (batch + 1 < steps && now - lastDraw < 50) return;
        lastDraw = now;
        output.Write("\r" + Line(batch + 1, steps, logs, samplesDone: null));
        output.Flush();
    }

    /// <inheritdoc/>
    public override void OnEpochEnd(int epoch, IReadOnlyDictionary<string, double> logs)
    {
        int steps = Parameters?.Steps ?? 0;
        var line = Line(steps, steps, logs, Parameters?.Samples);
        output.WriteLine(interactive ? "\r" + line : line);
        output.Flush();
    }

    /// <summary><c>n/N [=====&gt;....] - 1s 12ms/step - loss: 0.1234 - accuracy: 0.9000 - 1234 images/s</c>.</summary>
    private string Line(int done, int steps, IReadOnlyDictionary<string, double> logs, int? samplesDone)
    {
        var sb = new StringBuilder();
        string count = steps.ToString(CultureInfo.InvariantCulture);
        sb.Append(done.ToString(CultureInfo.InvariantCulture).PadLeft(count.Length)).Append('/').Append(count).Append(' ');
        if (interactive)
        {
            int filled = steps == 0 ? Width : (int)((long)Width * done / steps);
            sb.Append('[').Append('=', Math.Max(0, filled - 1)).Append(done < steps ? '>' : '=').Append('.', Width - Math.Max(1, filled)).Append("] ");
        }
        double seconds = clock.Elapsed.TotalSeconds;
        sb.Append("- ").Append(seconds.ToString("F0", CultureInfo.InvariantCulture)).Append("s ");
        if (done > 0) sb.Append((seconds * 1000 / done).ToString("F0", CultureInfo.InvariantCulture)).Append("ms/step");
        foreach (var (key, value) in logs) sb.Append(" - ").Append(key).Append(": ").Append(value.ToString("F4", CultureInfo.InvariantCulture));
        int samples = samplesDone ?? (Parameters is { } p && p.Steps > 0 ? (int)((long)p.Samples * done / p.Steps) : 0);
        if (seconds > 0 && samples > 0) sb.Append(" - ").Append((samples / seconds).ToString("F0", CultureInfo.InvariantCulture)).Append(" images/s");
        return sb.ToString();
    }
}
