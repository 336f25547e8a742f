namespace TfSyncBN.GpuCheck;

/// <summary>
/// A sum all-reduce of float64 buffers among R replica threads: each replica deposits its buffer, waits for the others,
/// and every replica adds the buffers in replica order 0..R−1, so all get the same bits.
/// </summary>
public sealed class HostAllReduce(int replicas) : IDisposable
{
    private readonly Barrier barrier = new(replicas);
    private readonly double[][] slots = new double[replicas][];

    /// <summary>The all-reduce function of replica <paramref name="replica"/>.</summary>
    public Func<IReadOnlyList<double>, IReadOnlyList<double>> For(int replica) => buffer =>
    {
        slots[replica] = [.. buffer];
        if (!barrier.SignalAndWait(TimeSpan.FromMinutes(2))) throw new TimeoutException("A replica did not reach the all-reduce within 2 minutes.");
        var sum = new double[buffer.Count];
        for (int r = 0; r < slots.Length; r++)
            for (int i = 0; i < sum.Length; i++) sum[i] += slots[r][i];
        if (!barrier.SignalAndWait(TimeSpan.FromMinutes(2))) throw new TimeoutException("A replica did not leave the all-reduce within 2 minutes.");
        return sum;
    };

    /// <inheritdoc/>
    public void Dispose() => barrier.Dispose();
}
