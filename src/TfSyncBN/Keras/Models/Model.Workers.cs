using TfSyncBN.Distribute;
using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

public abstract partial class Model
{
    /// <summary>
    /// One <see cref="Predict(IReadOnlyList{Tensor}, int)"/> batch's output <paramref name="output"/> under a strategy whose
    /// replicas span several worker processes: every worker computed the outputs of its own replicas' rows, and all
    /// receive the whole batch's outputs, in row order (<paramref name="slices"/>: each replica's slice of the first input).
    /// </summary>
    /// <remarks>
    /// Each worker writes its rows (as float64, exactly) at their offsets in a zero buffer for the batch, and one sum
    /// over the workers fills in the rest: x + 0 is x, so the rows arrive unchanged (only a -0 output becomes +0). The
    /// trailing output shape comes from this worker's first replica, which ran the model on its slice even when that slice
    /// has no rows (in its replica context, on its device), so a worker whose replicas got no rows knows it too.
    /// </remarks>
    private Tensor GatherPredictionsAcrossWorkers(IReadOnlyList<Tensor?> parts, IReadOnlyList<Tensor> slices, IReadOnlyList<Tensor> batch, int output)
    {
        int[] rowShape = [.. parts[0]!.Shape.Skip(1)];
        int rows = batch[0].Shape[0];
        int rowSize = Tensor.ShapeSize(rowShape);
        var all = new double[rows * rowSize];
        int first = strategy.FirstLocalReplicaId, offset = 0;
        for (int r = 0; r < slices.Count; r++)
        {
            int local = r - first;
            if (local >= 0 && local < parts.Count && parts[local] is { } part)
            {
                var values = part.ToArray();
                for (int i = 0; i < values.Length; i++) all[offset + i] = values[i];
            }
            offset += slices[r].Shape[0] * rowSize;
        }
        strategy.SumAcrossWorkers(all);
        var floats = new float[all.Length];
        for (int i = 0; i < all.Length; i++) floats[i] = (float)all[i];
        return Tensor.FromArray(floats, [rows, .. rowShape]);
    }

    /// <summary>
    /// Under a multi-worker strategy, makes every worker compare its plan for <c>Fit</c> (steps per epoch, global
    /// batch, samples, epochs) with every other worker's, in one collective, before any step: workers whose plans differ
    /// would pair steps of different batches (wrong gradients) and then hang. A mismatch throws on every worker, naming
    /// each worker's values.
    /// </summary>
    private void AgreeOnPlanAcrossWorkers(int steps, int batchSize, int samples, int epochs)
    {
        if (!strategy.SpansWorkers) return;
        int local = strategy.LocalReplicaCount;
        int workers = strategy.NumReplicasInSync / local, rank = strategy.FirstLocalReplicaId / local;
        const int Fields = 4;
        var all = new double[workers * Fields];
        all[rank * Fields] = steps;
        all[rank * Fields + 1] = batchSize;
        all[rank * Fields + 2] = samples;
        all[rank * Fields + 3] = epochs;
        strategy.SumAcrossWorkers(all);
        bool same = true;
        for (int w = 1; w < workers; w++)
            for (int f = 0; f < Fields; f++)
                same &= all[w * Fields + f] == all[f];
        if (same) return;
        var plans = Enumerable.Range(0, workers).Select(w =>
            $"worker {w}: {all[w * Fields]} steps per epoch of global batch {all[w * Fields + 1]} ({all[w * Fields + 2]} samples, {all[w * Fields + 3]} epochs)");
        throw new InvalidOperationException(
            $"Model '{Name}': the workers disagree on the plan of Fit, so their steps would pair different batches: {string.Join("; ", plans)}. " +
            "Every worker must call Fit with the same data size, batchSize and epochs.");
    }
}
