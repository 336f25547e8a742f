namespace TfSyncBN.Distribute;

/// <summary>How values are combined across replicas (<c>tf.distribute.ReduceOp</c>).</summary>
public enum ReduceOp
{
    /// <summary>The element-wise sum over replicas.</summary>
    Sum,

    /// <summary>The element-wise sum over replicas divided by the number of replicas.</summary>
    Mean,
}
