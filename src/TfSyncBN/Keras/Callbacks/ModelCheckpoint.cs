using System.Globalization;
using System.Text.RegularExpressions;

namespace TfSyncBN.Keras;

/// <summary>
/// Saves the model's weights at the end of epochs (<c>keras.callbacks.ModelCheckpoint</c> with
/// <c>save_weights_only=True</c>), in the format of <see cref="WeightsFile"/>, atomically.
/// </summary>
/// <remarks>
/// <para>At the end of each epoch: without <see cref="SaveBestOnly"/> the weights are always saved; with it, only when
/// <c>current = logs[monitor]</c> improves on <see cref="Best"/>: <c>current &lt; best</c> in mode "min",
/// <c>current &gt; best</c> in mode "max" (Keras 2 rule, no minimum delta; <see cref="Best"/> starts at +∞ or −∞ and
/// NaN never improves). Mode "auto" is "max" when the monitor's name contains <c>acc</c> or starts with
/// <c>fmeasure</c>, else "min", as in Keras. A missing monitor key skips the save with a warning on standard error, as
/// Keras does.</para>
/// <para>The file path may hold Python-style placeholders, filled at each save: <c>{epoch}</c> (numbered from 1, as
/// Keras prints epochs) and any log key such as <c>{val_loss}</c>, each with an optional format: <c>{epoch:02d}</c>
/// pads with zeros, <c>{val_accuracy:.4f}</c> gives 4 decimals. Missing parent directories are created.</para>
/// </remarks>
public sealed class ModelCheckpoint : Callback
{
    private static readonly Regex Placeholder = new(@"\{(\w+)(?::([^{}]*))?\}", RegexOptions.CultureInvariant);

    /// <summary>Creates the callback.</summary>
    /// <param name="filepath">The weights file to write, possibly with placeholders (see the remarks).</param>
    /// <param name="monitor">The log key compared when <paramref name="saveBestOnly"/> is set, e.g. <c>val_loss</c> (default) or <c>val_accuracy</c>.</param>
    /// <param name="saveBestOnly">Save only when the monitored value improves.</param>
    /// <param name="mode">"auto", "min" or "max".</param>
    /// <param name="verbose">1 prints a line to standard output at each save or non-improvement; 0 is silent.</param>
    /// <exception cref="ArgumentException"><paramref name="filepath"/> or <paramref name="monitor"/> is empty, <paramref name="mode"/> is not an accepted value, or <paramref name="filepath"/> has a malformed placeholder format.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="filepath"/> or <paramref name="monitor"/> is null.</exception>
    public ModelCheckpoint(string filepath, string monitor = "val_loss", bool saveBestOnly = false, string mode = "auto", int verbose = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(filepath);
        ArgumentException.ThrowIfNullOrEmpty(monitor);
        Filepath = filepath;
        Monitor = monitor;
        SaveBestOnly = saveBestOnly;
        Verbose = verbose;
        Mode = mode switch
        {
            "min" or "max" => mode,
            "auto" => monitor.Contains("acc", StringComparison.Ordinal) || monitor.StartsWith("fmeasure", StringComparison.Ordinal) ? "max" : "min",
            _ => throw new ArgumentException($"mode must be \"auto\", \"min\" or \"max\", but is \"{mode}\".", nameof(mode)),
        };
        foreach (Match m in Placeholder.Matches(filepath))
        {
            if (m.Groups[2].Success) FormatNumber(1, m.Groups[2].Value, nameof(filepath));
        }
        Best = Mode == "min" ? double.PositiveInfinity : double.NegativeInfinity;
    }

    /// <summary>The file path, possibly with placeholders.</summary>
    public string Filepath { get; }

    /// <summary>The monitored log key.</summary>
    public string Monitor { get; }

    /// <summary>Whether only improvements are saved.</summary>
    public bool SaveBestOnly { get; }

    /// <summary>"min" or "max" ("auto" resolved).</summary>
    public string Mode { get; }

    /// <summary>The verbosity.</summary>
    public int Verbose { get; }

    /// <summary>The best monitored value so far (±∞ before the first save with <see cref="SaveBestOnly"/>).</summary>
    public double Best { get; private set; }

    /// <summary>The path of the last file written, or null.</summary>
    public string? LastSavedPath { get; private set; }

    /// <inheritdoc/>
    /// <exception cref="InvalidOperationException">No model is set, or the file path names a log key that the logs do not have.</exception>
    public override void OnEpochEnd(int epoch, IReadOnlyDictionary<string, double> logs)
    {
        var model = Model ?? throw new InvalidOperationException("ModelCheckpoint has no model: Fit sets it; set Model before calling OnEpochEnd directly.");
        var path = ResolvePath(epoch, logs);
        if (SaveBestOnly)
        {
            if (!logs.TryGetValue(Monitor, out double current))
            {
                Console.Error.WriteLine($"ModelCheckpoint: can save the best model only with '{Monitor}' available (logs have: {string.Join(", ", logs.Keys)}); skipping epoch {epoch + 1}.");
                return;
            }
            bool improved = Mode == "min" ? current < Best : current > Best;
            if (!improved)
            {
                if (Verbose > 0) Console.WriteLine($"Epoch {epoch + 1}: {Monitor} did not improve from {Best.ToString("G5", CultureInfo.InvariantCulture)}");
                return;
            }
            if (Verbose > 0) Console.WriteLine($"Epoch {epoch + 1}: {Monitor} improved from {Best.ToString("G5", CultureInfo.InvariantCulture)} to {current.ToString("G5", CultureInfo.InvariantCulture)}, saving model to {path}");
            Best = current;
        }
        else if (Verbose > 0)
        {
            Console.WriteLine($"Epoch {epoch + 1}: saving model to {path}");
        }
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        model.SaveWeights(path);
        LastSavedPath = path;
    }

    private string ResolvePath(int epoch, IReadOnlyDictionary<string, double> logs) => Placeholder.Replace(Filepath, m =>
    {
        var key = m.Groups[1].Value;
        double value = key == "epoch" ? epoch + 1
            : logs.TryGetValue(key, out var v) ? v
            : throw new InvalidOperationException($"ModelCheckpoint's file path '{Filepath}' names '{key}', which is not in the logs (they have: epoch, {string.Join(", ", logs.Keys)}).");
        return m.Groups[2].Success ? FormatNumber(value, m.Groups[2].Value, "filepath") : key == "epoch" ? ((int)value).ToString(CultureInfo.InvariantCulture) : value.ToString("R", CultureInfo.InvariantCulture);
    });

    /// <summary>Python format specs: <c>d</c>, <c>0Nd</c>, <c>Nd</c>, <c>.Nf</c>, <c>.Ne</c>, <c>.Ng</c>.</summary>
    private static string FormatNumber(double value, string spec, string paramName)
    {
        var m = Regex.Match(spec, @"^(0?)(\d*)(?:\.(\d+))?([dfeg])$", RegexOptions.CultureInvariant);
        if (!m.Success) throw new ArgumentException($"Unsupported placeholder format ':{spec}' in the file path; use d, 02d, .4f, .3e or .4g.", paramName);
        int width = m.Groups[2].Length > 0 ? int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture) : 0;
        int precision = m.Groups[3].Success ? int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture) : 6;
        string text = m.Groups[4].Value switch
        {
            "d" => ((long)Math.Round(value)).ToString(CultureInfo.InvariantCulture),
            "f" => value.ToString("F" + precision, CultureInfo.InvariantCulture),
            "e" => value.ToString((precision == 0 ? "0" : "0." + new string('0', precision)) + "e+00", CultureInfo.InvariantCulture),
            _ => value.ToString("G" + Math.Max(precision, 1), CultureInfo.InvariantCulture),
        };
        return m.Groups[1].Length > 0 ? text.PadLeft(width, '0') : text.PadLeft(width);
    }
}
