using TfSyncBN.Distribute;
using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

public abstract partial class Model
{
    /// <summary>
    /// One <see cref="Predict"/> batch under a strategy whose replicas span several worker processes: every worker
    /// computed the outputs of its own replicas' rows, and all receive the whole batch's outputs, in row order.
    /// </summary>
    /// <remarks>
    /// Each worker writes its rows (as float64, exactly) at their offsets in a zero buffer for the batch, and one sum
    /// over the workers fills in the rest: x + 0 is x, so the rows arrive unchanged (only a -0 output becomes +0). The
    /// trailing output shape comes from the model on no rows, so a worker whose replicas got no rows knows it too.
    /// </remarks>
    private Tensor GatherPredictionsAcrossWorkers(IReadOnlyList<Tensor?> parts, IReadOnlyList<Tensor> slices, Tensor batch)
    {
        int[] rowShape;
        using (GradientTape.Pause()) rowShape = [.. Call(batch.Slice(0, 0, 0), training: false).Shape.Skip(1)];
        int rowSize = Tensor.ShapeSize(rowShape);
        var all = new double[batch.Shape[0] * rowSize];
        int first = strategy.FirstLocalReplicaId, offset = 0;
        for (int r = 0; r < slices.Count; r++)
        {
            int local = r - first;
            if (local >= 0 && local < parts.Count && parts[local] is { } output)
            {
                var values = output.ToArray();
                for (int i = 0; i < values.Length; i++) all[offset + i] = values[i];
            }
            offset += slices[r].Shape[0] * rowSize;
        }
        strategy.SumAcrossWorkers(all);
        var floats = new float[all.Length];
        for (int i = 0; i < all.Length; i++) floats[i] = (float)all[i];
        return Tensor.FromArray(floats, [batch.Shape[0], .. rowShape]);
    }
}
