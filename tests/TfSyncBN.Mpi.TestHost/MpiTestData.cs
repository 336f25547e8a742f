using TfSyncBN.Tensors;

namespace TfSyncBN.Mpi.TestHost;

/// <summary>Deterministic test data that every rank, and the test process, can generate on its own.</summary>
public static class MpiTestData
{
    /// <summary>A value in [-1, 1) from (stream, index), by SplitMix64.</summary>
    public static float Value(int stream, long index)
    {
        ulong z = unchecked((ulong)index * 0x9E3779B97F4A7C15UL + (ulong)stream * 0xD1B54A32D192ED03UL + 0x632BE59BD9B4E019UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        z ^= z >> 31;
        return (float)((z >> 40) / (double)(1UL << 24) * 2 - 1);
    }

    /// <summary>The global batch of the SyncBN test: NHWC [n, 2, 3, channels], with a per-channel offset and scale.</summary>
    public static Tensor Input(int n, int channels) =>
        Tensor.FromFunction([n, 2, 3, channels], i => 3 * Value(1, i) * (1 + i % channels) + (i % channels) - 1.5f);

    /// <summary>The upstream gradient of the SyncBN test.</summary>
    public static Tensor UpstreamGradient(int n, int channels) => Tensor.FromFunction([n, 2, 3, channels], i => Value(2, i));

    /// <summary>Replica <paramref name="replicaId"/>'s buffer in the all-reduce test.</summary>
    public static float[] ReplicaBuffer(int replicaId, int length)
    {
        var v = new float[length];
        for (int i = 0; i < length; i++) v[i] = Value(100 + replicaId, i) * (1 + (i % 7) * 1e3f);
        return v;
    }

    /// <summary>
    /// Worker <paramref name="worker"/>'s local replica devices from the host's [devices] argument: null (host replicas)
    /// for null or <c>host</c>; else a comma-separated list for every worker, or one such list per worker separated by <c>/</c>.
    /// </summary>
    public static string[]? WorkerDevices(string? devices, int worker)
    {
        if (devices is null || devices == "host") return null;
        var perWorker = devices.Split('/');
        return perWorker.Length == 1 ? devices.Split(',') : perWorker[worker].Split(',');
    }

    /// <summary>Where each global replica's slice of a batch starts.</summary>
    public static int[] Starts(IReadOnlyList<int> sizes)
    {
        var starts = new int[sizes.Count];
        for (int r = 1; r < starts.Length; r++) starts[r] = starts[r - 1] + sizes[r - 1];
        return starts;
    }
}
