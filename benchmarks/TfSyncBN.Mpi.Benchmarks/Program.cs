using System.Diagnostics;
using System.Globalization;
using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Mpi;
using TfSyncBN.Mpi.Benchmarks;
using TfSyncBN.Tensors;

// Multi-process benchmarks; start under mpirun (BENCHMARKS.md has the commands). Rank 0 prints the results.
//   allreduce <channels> <iterations> <rounds>
//       One SyncBatchNormalization moments all-reduce (2C+1 float64, through ReplicaContext as the layer makes it)
//       against a bare MPI_Allreduce of the same bytes, MpiCommunicator alone, and the bare MPI calls behind the
//       rank-order sum of 3+ ranks (MPI_Gather+MPI_Bcast; MPI_Allgather, which it used before), interleaved
//       round by round in the same job; medians over rounds of the mean time per call.
//   gradients <floats> <iterations> <rounds>
//       The same for a float32 gradient buffer of the given length (the deterministic scatter/sum/gather path).
//   step <global batch> <steps>
//       Median time of Model.TrainStep for Dense(256, relu) -> SyncBatchNormalization -> Dense(10, softmax) on 784
//       features with a fixed global batch split over all ranks (strong scaling).
// A last argument local=<L> gives each rank L replicas (threads); 1 by default.
var inv = CultureInfo.InvariantCulture;
using var communicator = MpiCommunicator.Initialize(collectiveTimeout: TimeSpan.FromMinutes(5));
// An optional last argument "local=<L>" runs L replicas per rank (default 1).
int localReplicas = args.LastOrDefault(a => a.StartsWith("local=", StringComparison.Ordinal)) is { } l ? int.Parse(l[6..], inv) : 1;
using var strategy = new MultiWorkerMirroredStrategy(communicator, localReplicas);
return args[0] switch
{
    "allreduce" => Collectives(int.Parse(args[1], inv) * 2 + 1, isDouble: true, int.Parse(args[2], inv), int.Parse(args[3], inv)),
    "gradients" => Collectives(int.Parse(args[1], inv), isDouble: false, int.Parse(args[2], inv), int.Parse(args[3], inv)),
    "step" => Step(int.Parse(args[1], inv), int.Parse(args[2], inv)),
    _ => throw new ArgumentException($"unknown mode {args[0]}"),
};

int Collectives(int length, bool isDouble, int iterations, int rounds)
{
    var bare = new BareMpi();
    var doubles = new double[length];
    var floats = new float[length];
    var all = new double[length * communicator.Size];
    // Five ways to move the same bytes over the ranks, timed in short alternating batches (the order reversed every
    // other round) so that a loaded machine slows them alike; each sample is the mean time of one batch.
    string[] names = ["TfSyncBN (ReplicaContext)", "bare MPI_Allreduce", "MpiCommunicator alone", "bare MPI_Allgather", "bare MPI_Gather+MPI_Bcast"];
    var samples = names.Select(_ => new List<double>()).ToArray();
    for (int round = -3; round < rounds; round++) // three warm-up rounds (JIT tiers, connection setup)
    {
        for (int k = 0; k < names.Length; k++)
        {
            int way = round % 2 == 0 ? k : names.Length - 1 - k;
            if (way >= 3 && !isDouble) continue;
            communicator.Barrier();
            double us = way switch
            {
                0 => strategy.Run(ctx =>
                {
                    var clock = Stopwatch.StartNew();
                    for (int i = 0; i < iterations; i++)
                    {
                        if (isDouble) ctx.AllReduceInPlace(ReduceOp.Sum, doubles, "SyncBatchNormalization moments");
                        else ctx.AllReduceInPlace(ReduceOp.Sum, floats, "TrainStep gradients");
                    }
                    return clock.Elapsed.TotalMicroseconds;
                })[0],
                1 => Time(() => { if (isDouble) bare.AllreduceInPlace(doubles, length); else bare.AllreduceInPlace(floats, length); }),
                2 => Time(() => { if (isDouble) communicator.AllReduceSum(doubles, length); else communicator.AllReduceSum(floats, length); }),
                3 => Time(() => bare.Allgather(doubles, length, all)),
                _ => Time(() => bare.GatherBcast(doubles, length, all)),
            } / iterations;
            if (round >= 0) samples[way].Add(us);
        }
    }
    if (communicator.Rank == 0)
    {
        Console.WriteLine($"ranks={communicator.Size} x {localReplicas} local replica(s) {(isDouble ? "float64" : "float32")}[{length}] ({length * (isDouble ? 8 : 4)} bytes), " +
            $"{rounds} rounds x {iterations} calls; microseconds per call, median (min):");
        double reference = Median(samples[1]), referenceMin = samples[1].Min();
        for (int w = 0; w < names.Length; w++)
        {
            if (samples[w].Count == 0) continue;
            Console.WriteLine($"  {names[w],-26} {Median(samples[w]),9:F2} ({samples[w].Min():F2})   vs bare MPI_Allreduce: " +
                $"{Median(samples[w]) / reference:F2}x ({samples[w].Min() / referenceMin:F2}x)");
        }
    }
    return 0;

    double Time(Action call)
    {
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < iterations; i++) call();
        return clock.Elapsed.TotalMicroseconds;
    }
}

int Step(int globalBatch, int steps)
{
    const int Features = 784, Classes = 10;
    var rng = new Random(1);
    var x = Tensor.FromFunction([globalBatch, Features], _ => (float)rng.NextDouble());
    var y = Tensor.FromFunction([globalBatch], i => i % Classes);
    Sequential model;
    using (strategy.Scope())
    {
        model = new Sequential(
        [
            new Dense(256, activation: "relu", kernelInitializer: new GlorotUniform(seed: 1)),
            new SyncBatchNormalization(momentum: 0.9f),
            new Dense(Classes, activation: "softmax", kernelInitializer: new GlorotUniform(seed: 2)),
        ]);
        model.Compile(new SGD(learningRate: 0.01f), "sparse_categorical_crossentropy");
    }
    var times = new List<double>();
    for (int s = -5; s < steps; s++)
    {
        communicator.Barrier();
        var clock = Stopwatch.StartNew();
        model.TrainStep(x, y);
        if (s >= 0) times.Add(clock.Elapsed.TotalMilliseconds);
    }
    if (communicator.Rank == 0)
        Console.WriteLine($"ranks={communicator.Size} x {localReplicas} local replica(s), global batch {globalBatch}: TrainStep median {Median(times):F2} ms " +
            $"(min {times.Min():F2}, {steps} steps), {globalBatch / Median(times) * 1000:F0} samples/s");
    return 0;
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}
