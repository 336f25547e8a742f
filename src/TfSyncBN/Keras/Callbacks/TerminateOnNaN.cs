namespace TfSyncBN.Keras;

/// <summary>
/// Stops training when a batch's <c>loss</c> is NaN or infinite (<c>keras.callbacks.TerminateOnNaN</c>): it sets
/// <see cref="Model.StopTraining"/> after that batch, so <c>Fit</c> runs no further batch, and writes
/// <c>Batch N: Invalid loss, terminating training</c> to <see cref="Console.Out"/>.
/// </summary>
public sealed class TerminateOnNaN : Callback
{
    /// <summary>The index of the batch (within its epoch) whose loss was invalid, or null while none was.</summary>
    public int? TerminatedBatch { get; private set; }

    /// <inheritdoc/>
    public override void OnTrainBegin(IReadOnlyDictionary<string, double> logs) => TerminatedBatch = null;

    /// <inheritdoc/>
    public override void OnTrainBatchEnd(int batch, IReadOnlyDictionary<string, double> logs)
    {
        if (!logs.TryGetValue("loss", out double loss) || double.IsFinite(loss)) return;
        TerminatedBatch = batch;
        Console.WriteLine($"Batch {batch}: Invalid loss, terminating training");
        if (Model is not null) Model.StopTraining = true;
    }
}
