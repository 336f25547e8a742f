using TfSyncBN.Gpu;

namespace TfSyncBN.GpuCheck;

/// <summary>Timings on the device, printed as <c>BENCH name: ms</c> lines with the same shapes as tools/gpu/torch_bench.py.</summary>
public static class Benchmarks
{
    /// <summary>BN and SyncBN (2 replicas) forward+backward at NHWC [32, 32, 32, 64], and the CNN step at batch 64.</summary>
    public static void Run(IlgpuDevice d, string deviceName)
    {
        int[] shape = [32, 32, 32, 64];
        int size = shape.Aggregate(1, (a, b) => a * b);
        using (var outer = new DeviceScope())
        {
            var x = d.Upload(Conformance.Random(size, 61), shape);
            var dy = d.Upload(Conformance.Random(size, 62), shape);
            var gamma = d.Upload([.. Enumerable.Repeat(1f, 64)], [64]);
            var beta = d.Upload(new float[64], [64]);
            double ms = Checks.Time(d, () =>
            {
                using var s = new DeviceScope();
                var f = d.BatchNormTraining(x, -1, gamma, beta);
                d.BatchNormBackward(x, dy, f, gamma);
            });
            Console.WriteLine($"BENCH bn-fwd-bwd NHWC 32x32x32x64: {ms:F3} ms");
            double msSync = Checks.Time(d, () =>
            {
                using var s = new DeviceScope();
                Func<IReadOnlyList<double>, IReadOnlyList<double>> identity = b => b;
                var f = d.BatchNormTraining(x, -1, gamma, beta, allReduce: identity);
                d.BatchNormBackward(x, dy, f, gamma, allReduce: identity);
            });
            Console.WriteLine($"BENCH syncbn-fwd-bwd NHWC 32x32x32x64 (1 replica, host all-reduce path): {msSync:F3} ms");
        }
        var (_, cnn) = Checks.TrainCnn(d, 64, 30, 28, 16);
        Console.WriteLine($"BENCH cnn-step batch 64 28x28 (conv 3x3x16 + BN + ReLU + pool + dense): {cnn:F3} ms");
    }
}
