namespace TfSyncBN.Benchmarks;

/// <summary>
/// <see cref="LayerBenchmarks"/> for SyncBatchNormalization called outside any Run (one replica, no communication):
/// the synchronized layer's own overhead over <see cref="BatchNormBenchmarks"/>, same cases. Its cost inside a
/// multi-replica Run is measured by <see cref="SyncStep"/>.
/// </summary>
public class SyncBatchNormBenchmarks : LayerBenchmarks
{
    protected override bool Synchronized => true;
}
