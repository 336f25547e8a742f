namespace TfSyncBN.Keras;

/// <summary>
/// The record of a <c>Model.Fit</c> run (<c>keras.callbacks.History</c>): for every log key (<c>loss</c>, each
/// metric, <c>val_loss</c>, ...), its value at the end of each epoch.
/// </summary>
public sealed partial class History : Callback
{
    private readonly List<int> epochs = [];
    private readonly Dictionary<string, List<double>> values = [];

    /// <summary>The epochs recorded, numbered from 0 (<c>history.epoch</c>).</summary>
    public IReadOnlyList<int> Epochs => epochs.ToArray();

    /// <summary>Each log key's per-epoch values (<c>history.history</c>).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<double>> Values =>
        values.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<double>)kv.Value.ToArray());

    /// <summary>The per-epoch values of <paramref name="key"/>, e.g. <c>history["val_loss"]</c>.</summary>
    /// <exception cref="KeyNotFoundException">No epoch logged <paramref name="key"/>; the message lists the keys.</exception>
    public IReadOnlyList<double> this[string key] => values.TryGetValue(key, out var list)
        ? list.ToArray()
        : throw new KeyNotFoundException($"The history has no '{key}'; it has: {string.Join(", ", values.Keys)}.");

    /// <inheritdoc/>
    public override void OnTrainBegin(IReadOnlyDictionary<string, double> logs)
    {
        epochs.Clear();
        values.Clear();
    }

    /// <inheritdoc/>
    public override void OnEpochEnd(int epoch, IReadOnlyDictionary<string, double> logs)
    {
        epochs.Add(epoch);
        foreach (var (key, value) in logs)
        {
            if (!values.TryGetValue(key, out var list)) values[key] = list = [];
            list.Add(value);
        }
    }
}
