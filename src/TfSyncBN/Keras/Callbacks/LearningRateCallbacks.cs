namespace TfSyncBN.Keras;

/// <summary>
/// Sets the optimizer's learning rate at the start of every epoch (<c>keras.callbacks.LearningRateScheduler</c>):
/// <c>lr ← schedule(epoch, lr)</c> with the 0-based epoch and the current rate. The rate is also reported in the
/// epoch's logs by <see cref="Callback.OnEpochEnd"/> callbacks that read <see cref="Optimizer.LearningRate"/>.
/// </summary>
public sealed class LearningRateScheduler : Callback
{
    /// <summary>Creates the callback.</summary>
    /// <param name="schedule">The new rate from the epoch and the current rate; must return a positive finite number.</param>
    /// <exception cref="ArgumentNullException"><paramref name="schedule"/> is null.</exception>
    public LearningRateScheduler(Func<int, float, float> schedule)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        Schedule = schedule;
    }

    /// <summary>The schedule.</summary>
    public Func<int, float, float> Schedule { get; }

    /// <inheritdoc/>
    /// <exception cref="InvalidOperationException">The model has no optimizer, or its optimizer uses a learning rate schedule.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The schedule returned a rate that is not positive and finite.</exception>
    public override void OnEpochBegin(int epoch, IReadOnlyDictionary<string, double> logs)
    {
        var optimizer = Model?.Optimizer ?? throw new InvalidOperationException("LearningRateScheduler needs a compiled model with an optimizer.");
        optimizer.LearningRate = Schedule(epoch, optimizer.LearningRate);
    }
}

/// <summary>
/// Reduces the learning rate when a metric has stopped improving (<c>keras.callbacks.ReduceLROnPlateau</c>, Keras 3
/// logic). At each epoch end: in cooldown the cooldown counter counts down and the wait restarts; an improvement
/// (<c>current &lt; best − minDelta</c> in min mode, <c>current &gt; best + minDelta</c> in max mode) becomes the best
/// and restarts the wait; otherwise, out of cooldown, the wait grows, and when it reaches <see cref="Patience"/> a rate
/// above <see cref="MinLearningRate"/> becomes <c>max(lr·factor, minLr)</c>, the cooldown starts and the wait restarts.
/// A missing monitored value is skipped with a warning on <see cref="Console.Error"/> (once).
/// </summary>
public sealed class ReduceLROnPlateau : Callback
{
    private double best;
    private int wait;
    private int cooldownCounter;
    private bool warned;

    /// <summary>Creates the callback (Keras defaults).</summary>
    /// <param name="monitor">The log key to watch (default <c>val_loss</c>).</param>
    /// <param name="factor">The multiplier of the rate, in (0, 1) (default 0.1).</param>
    /// <param name="patience">Epochs without improvement before reducing, ≥ 0 (default 10).</param>
    /// <param name="mode"><c>auto</c> (max for keys containing <c>acc</c>, else min), <c>min</c> or <c>max</c>.</param>
    /// <param name="minDelta">The smallest change that counts as an improvement, ≥ 0 (default 1e-4).</param>
    /// <param name="cooldown">Epochs to wait after a reduction before counting again, ≥ 0 (default 0).</param>
    /// <param name="minLearningRate">The lower bound of the rate, ≥ 0 (default 0).</param>
    /// <exception cref="ArgumentException"><paramref name="monitor"/> is empty, or <paramref name="mode"/> is not one of the three.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A number is outside the range stated for it.</exception>
    public ReduceLROnPlateau(string monitor = "val_loss", float factor = 0.1f, int patience = 10, string mode = "auto", double minDelta = 1e-4,
        int cooldown = 0, float minLearningRate = 0f)
    {
        ArgumentException.ThrowIfNullOrEmpty(monitor);
        if (!(factor > 0 && factor < 1)) throw new ArgumentOutOfRangeException(nameof(factor), factor, "factor must be in (0, 1): ReduceLROnPlateau does not support a factor >= 1.");
        if (patience < 0) throw new ArgumentOutOfRangeException(nameof(patience), patience, "patience must be >= 0.");
        if (!(minDelta >= 0)) throw new ArgumentOutOfRangeException(nameof(minDelta), minDelta, "minDelta must be >= 0.");
        if (cooldown < 0) throw new ArgumentOutOfRangeException(nameof(cooldown), cooldown, "cooldown must be >= 0.");
        if (!(minLearningRate >= 0) || !float.IsFinite(minLearningRate)) throw new ArgumentOutOfRangeException(nameof(minLearningRate), minLearningRate, "minLearningRate must be finite and >= 0.");
        Monitor = monitor;
        Factor = factor;
        Patience = patience;
        Mode = mode switch
        {
            "min" or "max" => mode,
            "auto" => monitor.Contains("acc", StringComparison.Ordinal) ? "max" : "min",
            _ => throw new ArgumentException($"mode must be \"auto\", \"min\" or \"max\", but is \"{mode}\".", nameof(mode)),
        };
        MinDelta = minDelta;
        Cooldown = cooldown;
        MinLearningRate = minLearningRate;
    }

    /// <summary>The watched log key.</summary>
    public string Monitor { get; }

    /// <summary>The rate multiplier.</summary>
    public float Factor { get; }

    /// <summary>Epochs without improvement before a reduction.</summary>
    public int Patience { get; }

    /// <summary><c>min</c> or <c>max</c> (resolved from <c>auto</c>).</summary>
    public string Mode { get; }

    /// <summary>The smallest improvement.</summary>
    public double MinDelta { get; }

    /// <summary>Epochs of cooldown after a reduction.</summary>
    public int Cooldown { get; }

    /// <summary>The lower bound of the rate.</summary>
    public float MinLearningRate { get; }

    /// <inheritdoc/>
    public override void OnTrainBegin(IReadOnlyDictionary<string, double> logs)
    {
        best = Mode == "min" ? double.PositiveInfinity : double.NegativeInfinity;
        wait = 0;
        cooldownCounter = 0;
        warned = false;
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidOperationException">The model has no optimizer, or its optimizer uses a learning rate schedule.</exception>
    public override void OnEpochEnd(int epoch, IReadOnlyDictionary<string, double> logs)
    {
        var optimizer = Model?.Optimizer ?? throw new InvalidOperationException("ReduceLROnPlateau needs a compiled model with an optimizer.");
        if (!logs.TryGetValue(Monitor, out double current))
        {
            if (!warned) Console.Error.WriteLine($"ReduceLROnPlateau: '{Monitor}' is not in the logs (available: {string.Join(", ", logs.Keys)}); skipping.");
            warned = true;
            return;
        }
        if (cooldownCounter > 0)
        {
            cooldownCounter--;
            wait = 0;
        }
        bool improved = Mode == "min" ? current < best - MinDelta : current > best + MinDelta;
        if (improved)
        {
            best = current;
            wait = 0;
        }
        else if (cooldownCounter == 0)   // Keras re-reads in_cooldown() after the count-down
        {
            wait++;
            if (wait >= Patience && optimizer.LearningRate > MinLearningRate)
            {
                optimizer.LearningRate = Math.Max(optimizer.LearningRate * Factor, MinLearningRate);
                cooldownCounter = Cooldown;
                wait = 0;
            }
        }
    }
}
