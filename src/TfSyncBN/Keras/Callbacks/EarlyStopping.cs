using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Stops training when a monitored value has stopped improving (<c>keras.callbacks.EarlyStopping</c>, Keras 3 logic).
/// </summary>
/// <remarks>
/// <para>At each epoch end, with <c>current = logs[monitor]</c>: it is an improvement when
/// <c>current + minDelta &lt; best</c> (mode "min") or <c>current − minDelta &gt; best</c> (mode "max"), i.e. it
/// beats the best by more than minDelta; then
/// <c>best = current</c> and the wait counter returns to 0. Otherwise the counter grows, and once it reaches
/// <see cref="Patience"/> (from the second epoch on) training stops, after restoring the best epoch's weights when
/// <see cref="RestoreBestWeights"/> is set. Mode "auto" is "max" for a monitor whose name contains <c>acc</c> or
/// <c>auc</c>, else "min". A missing monitor key leaves the state unchanged and writes a warning to standard error (once per run), as Keras does.</para>
/// </remarks>
public sealed class EarlyStopping : Callback
{
    private double best;
    private int wait;
    private IReadOnlyList<Tensor>? bestWeights;
    private bool warned;

    /// <summary>Creates the callback.</summary>
    /// <param name="monitor">The log key to watch, e.g. <c>val_loss</c> (default) or <c>val_accuracy</c>.</param>
    /// <param name="minDelta">The smallest change that counts as an improvement (its absolute value is used).</param>
    /// <param name="patience">The number of epochs without improvement after which training stops, ≥ 0.</param>
    /// <param name="mode">"auto", "min" or "max".</param>
    /// <param name="restoreBestWeights">Whether to restore the weights of the best epoch when stopping.</param>
    /// <exception cref="ArgumentException"><paramref name="mode"/> is not one of the accepted values, or <paramref name="monitor"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="patience"/> is negative or <paramref name="minDelta"/> is NaN.</exception>
    public EarlyStopping(string monitor = "val_loss", double minDelta = 0, int patience = 0, string mode = "auto", bool restoreBestWeights = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(monitor);
        if (patience < 0) throw new ArgumentOutOfRangeException(nameof(patience), patience, "patience must be >= 0.");
        if (double.IsNaN(minDelta)) throw new ArgumentOutOfRangeException(nameof(minDelta), minDelta, "minDelta must be a number.");
        Monitor = monitor;
        MinDelta = Math.Abs(minDelta);
        Patience = patience;
        Mode = mode switch
        {
            "min" or "max" => mode,
            "auto" => monitor.Contains("acc", StringComparison.Ordinal) || monitor.Contains("auc", StringComparison.Ordinal) ? "max" : "min",
            _ => throw new ArgumentException($"mode must be \"auto\", \"min\" or \"max\", but is \"{mode}\".", nameof(mode)),
        };
        RestoreBestWeights = restoreBestWeights;
    }

    /// <summary>The monitored log key.</summary>
    public string Monitor { get; }

    /// <summary>The smallest improvement that counts (non-negative).</summary>
    public double MinDelta { get; }

    /// <summary>The number of epochs without improvement tolerated.</summary>
    public int Patience { get; }

    /// <summary>"min" or "max" ("auto" resolved).</summary>
    public string Mode { get; }

    /// <summary>Whether the best weights are restored when training stops.</summary>
    public bool RestoreBestWeights { get; }

    /// <summary>The epoch at which training was stopped (0 when it was not).</summary>
    public int StoppedEpoch { get; private set; }

    /// <summary>The epoch with the best monitored value so far.</summary>
    public int BestEpoch { get; private set; }

    /// <summary>The best monitored value so far (±∞ before the first epoch).</summary>
    public double Best => best;

    /// <inheritdoc/>
    public override void OnTrainBegin(IReadOnlyDictionary<string, double> logs)
    {
        wait = 0;
        StoppedEpoch = 0;
        BestEpoch = 0;
        bestWeights = null;
        warned = false;
        best = Mode == "min" ? double.PositiveInfinity : double.NegativeInfinity;
    }

    /// <inheritdoc/>
    public override void OnEpochEnd(int epoch, IReadOnlyDictionary<string, double> logs)
    {
        if (!logs.TryGetValue(Monitor, out double current))
        {
            // As Keras: warn and carry on (a typo or missing validation data should be visible, not silently ignored).
            if (!warned)
            {
                warned = true;
                Console.Error.WriteLine($"EarlyStopping is conditioned on '{Monitor}', which is not in the logs. Available: {string.Join(", ", logs.Keys)}.");
            }
            return;
        }
        var model = Model ?? throw new InvalidOperationException("EarlyStopping needs its Model (Fit sets it).");
        if (RestoreBestWeights && bestWeights is null) bestWeights = model.GetWeights();
        wait++;
        bool improved = Mode == "min" ? current + MinDelta < best : current - MinDelta > best;
        if (improved)
        {
            best = current;
            BestEpoch = epoch;
            if (RestoreBestWeights) bestWeights = model.GetWeights();
            wait = 0;
            return;
        }
        if (wait >= Patience && epoch > 0)
        {
            StoppedEpoch = epoch;
            model.StopTraining = true;
            if (RestoreBestWeights && bestWeights is not null) model.SetWeights(bestWeights);
        }
    }
}
