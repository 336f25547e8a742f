namespace TfSyncBN.Keras;

/// <summary>
/// The base of training callbacks (<c>keras.callbacks.Callback</c>): <c>Model.Fit</c> calls these hooks, in the
/// order of its <c>callbacks</c> list, on the thread that called Fit. Override the ones you need; the defaults do nothing.
/// </summary>
/// <remarks>
/// Logs map metric names to values: per batch, the running means of the epoch so far (<c>loss</c> and each metric);
/// per epoch, the epoch's means plus <c>val_</c>-prefixed validation values when there is validation data. To stop
/// training, set <see cref="Keras.Model.StopTraining"/> on <see cref="Model"/>: Fit ends after the current epoch.
/// </remarks>
public abstract class Callback
{
    /// <summary>The model being trained; set by <c>Keras.Model.Fit</c> before <see cref="OnTrainBegin"/> (<c>set_model</c>).</summary>
    public Model? Model { get; set; }

    /// <summary>The arguments of the training run (set by Fit before <see cref="OnTrainBegin"/>).</summary>
    public TrainingParameters? Parameters { get; set; }

    /// <summary>Called once before the first epoch.</summary>
    public virtual void OnTrainBegin(IReadOnlyDictionary<string, double> logs) { }

    /// <summary>Called once after the last epoch, with the last epoch's logs.</summary>
    public virtual void OnTrainEnd(IReadOnlyDictionary<string, double> logs) { }

    /// <summary>Called at the start of each epoch (numbered from 0).</summary>
    public virtual void OnEpochBegin(int epoch, IReadOnlyDictionary<string, double> logs) { }

    /// <summary>Called at the end of each epoch with its logs (training means and <c>val_</c> values).</summary>
    public virtual void OnEpochEnd(int epoch, IReadOnlyDictionary<string, double> logs) { }

    /// <summary>Called after each training batch (numbered from 0 within the epoch) with the epoch's running means.</summary>
    public virtual void OnTrainBatchEnd(int batch, IReadOnlyDictionary<string, double> logs) { }
}

/// <summary>The arguments of a <c>Model.Fit</c> run, for callbacks (Keras <c>callback.params</c>).</summary>
/// <param name="Epochs">The number of epochs requested.</param>
/// <param name="Steps">The number of batches per epoch.</param>
/// <param name="Samples">The number of training samples per epoch.</param>
/// <param name="Verbose">The verbosity Fit was given.</param>
public sealed record TrainingParameters(int Epochs, int Steps, int Samples, int Verbose);

/// <summary>Calls a list of callbacks in order.</summary>
internal sealed class CallbackList(IReadOnlyList<Callback> callbacks)
{
    public void Configure(Model model, TrainingParameters parameters)
    {
        foreach (var c in callbacks)
        {
            c.Model = model;
            c.Parameters = parameters;
        }
    }

    public void TrainBegin(IReadOnlyDictionary<string, double> logs) { foreach (var c in callbacks) c.OnTrainBegin(logs); }
    public void TrainEnd(IReadOnlyDictionary<string, double> logs) { foreach (var c in callbacks) c.OnTrainEnd(logs); }
    public void EpochBegin(int epoch, IReadOnlyDictionary<string, double> logs) { foreach (var c in callbacks) c.OnEpochBegin(epoch, logs); }
    public void EpochEnd(int epoch, IReadOnlyDictionary<string, double> logs) { foreach (var c in callbacks) c.OnEpochEnd(epoch, logs); }
    public void BatchEnd(int batch, IReadOnlyDictionary<string, double> logs) { foreach (var c in callbacks) c.OnTrainBatchEnd(batch, logs); }
}
