namespace TfSyncBN.Keras;

/// <summary>How a batch-normalization layer's momentum weighs the moving statistics against each batch's.</summary>
public enum MomentumConvention
{
    /// <summary>Keras, Paddle, MindSpore <c>nn</c>: <c>moving = momentum·moving + (1 − momentum)·batch</c> (default 0.99 in Keras).</summary>
    Keras,

    /// <summary>PyTorch, MindSpore <c>mint</c>: <c>moving = (1 − momentum)·moving + momentum·batch</c> (default 0.1 there).</summary>
    PyTorch,

    /// <summary>
    /// PyTorch's <c>momentum=None</c>: the cumulative average, <c>moving = (1 − 1/t)·moving + (1/t)·batch</c> where t is
    /// <c>num_batches_tracked</c> after this batch is counted; the momentum value is ignored.
    /// </summary>
    CumulativeAverage,
}
