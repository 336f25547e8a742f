using System.Globalization;

namespace TfSyncBN.Keras;

/// <summary>
/// Streams each epoch's logs to a CSV file (<c>keras.callbacks.CSVLogger</c>): a header <c>epoch,key1,key2,...</c> (the
/// keys of the first epoch's logs, sorted ordinally, as Keras sorts them), then one row per epoch: the 0-based epoch and
/// each value in invariant round-trip format (an empty field when a later epoch lacks a key). Without
/// <see cref="Append"/> the file is overwritten when training begins; with it, rows are added and the header is written
/// only when the file is new or empty. The file is flushed after every row and closed when training ends.
/// </summary>
public sealed class CSVLogger : Callback
{
    private StreamWriter? writer;
    private string[]? keys;

    /// <summary>Creates the callback.</summary>
    /// <param name="filename">The CSV file's path.</param>
    /// <param name="separator">The field separator (Keras default <c>,</c>).</param>
    /// <param name="append">Whether to append to an existing file (default false: overwrite).</param>
    /// <exception cref="ArgumentException"><paramref name="filename"/> or <paramref name="separator"/> is null or empty.</exception>
    public CSVLogger(string filename, string separator = ",", bool append = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(filename);
        ArgumentException.ThrowIfNullOrEmpty(separator);
        Filename = filename;
        Separator = separator;
        Append = append;
    }

    /// <summary>The CSV file's path.</summary>
    public string Filename { get; }

    /// <summary>The field separator.</summary>
    public string Separator { get; }

    /// <summary>Whether rows are appended to an existing file.</summary>
    public bool Append { get; }

    /// <inheritdoc/>
    public override void OnTrainBegin(IReadOnlyDictionary<string, double> logs)
    {
        bool hasContent = Append && File.Exists(Filename) && new FileInfo(Filename).Length > 0;
        writer?.Dispose();
        writer = new StreamWriter(Filename, Append);
        keys = null;
        if (hasContent) keys = [];   // rows only: the existing file has its header
    }

    /// <inheritdoc/>
    public override void OnEpochEnd(int epoch, IReadOnlyDictionary<string, double> logs)
    {
        if (writer is null) return;
        if (keys is null || keys.Length == 0)
        {
            bool writeHeader = keys is null;
            keys = logs.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();
            if (writeHeader) writer.WriteLine(string.Join(Separator, ["epoch", .. keys]));
        }
        var fields = keys.Select(k => logs.TryGetValue(k, out double v) ? v.ToString("R", CultureInfo.InvariantCulture) : "");
        writer.WriteLine(string.Join(Separator, [epoch.ToString(CultureInfo.InvariantCulture), .. fields]));
        writer.Flush();
    }

    /// <inheritdoc/>
    public override void OnTrainEnd(IReadOnlyDictionary<string, double> logs)
    {
        writer?.Dispose();
        writer = null;
    }
}
