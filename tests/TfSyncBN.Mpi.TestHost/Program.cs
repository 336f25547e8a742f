using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Mpi;
using TfSyncBN.Mpi.TestHost;
using TfSyncBN.Tensors;

// The MPI tests start this program under mpirun, one process per rank:
//   syncbn <output prefix> <local replicas> <per-replica batch sizes, comma separated, in global replica order> [devices]
//       SyncBatchNormalization forward and backward plus ReplicaContext.AllReduce and Strategy.Reduce; each rank
//       writes <output prefix>.<rank>.json.
//   fit <output prefix> <local replicas> [functional|sequential] [devices]
//       FitCase's model (Sequential, or its functional variant) trained with Fit under the strategy; each rank writes its weights, loss history and an
//       unseeded variable created in the scope (which every worker must get from worker 0).
//   [devices]: where each rank's local replicas run: `host` (or absent) for host threads, else one device per local
//       replica, comma separated (`ilgpu-cpu:0,ilgpu-cpu:1`, the same names on every rank, each rank opening its own), or
//       one such list per rank separated by `/` (`ilgpu-cpu:0,ilgpu-cpu:1/ilgpu-cpu:2,ilgpu-cpu:3`).
//   fault <throw|exit|kill|leave> <timeout seconds>
//       worker 1 fails at step 3 (throws inside Run, exits with code 3, is killed, or returns from Main); the others keep
//       calling collectives and must be ended by the job abort, not hang.
return args.Length > 0 && args[0] == "syncbn" ? SyncBn(args[1], int.Parse(args[2], CultureInfo.InvariantCulture), args[3], args.ElementAtOrDefault(4))
    : args.Length > 0 && args[0] == "fit" ? Fit(args[1], int.Parse(args[2], CultureInfo.InvariantCulture), args.Length > 3 && args[3] == "functional", args.ElementAtOrDefault(4))
    : args.Length > 0 && args[0] == "fault" ? Fault(args[1], double.Parse(args[2], CultureInfo.InvariantCulture))
    : args.Length > 0 && args[0] == "plan" ? FitPerWorker(args[1], null)
    : args.Length > 0 && args[0] == "dense" ? FitPerWorker("128,128", args[1])
    : args.Length > 0 && args[0] == "allreduce" ? AllReduceLengths(args[1])
    : Usage();

// plan <batch sizes by rank, comma separated>: every worker calls Fit on the same 384 samples with its own batch size.
// dense <units by rank, comma separated>: every worker builds a Dense of its own width in the scope, then Dense(2), and
//     calls Fit on those samples with batch 128.
static int FitPerWorker(string batchSizes, string? unitsByRank)
{
    using var communicator = MpiCommunicator.Initialize(collectiveTimeout: TimeSpan.FromSeconds(60));
    using var strategy = new MultiWorkerMirroredStrategy(communicator);
    int batch = ForWorker(batchSizes, strategy.WorkerIndex);
    Sequential model;
    using (strategy.Scope())
    {
        Layer[] layers = unitsByRank is null
            ? [new Dense(2, kernelInitializer: Initializers.Constant(0.1f))]
            : [new Dense(ForWorker(unitsByRank, strategy.WorkerIndex), kernelInitializer: Initializers.Constant(0.1f)), new Dense(2)];
        model = new Sequential(layers, [3]);
        model.Compile(new SGD(0.01f), new MeanSquaredError());
    }
    var x = Tensor.FromFunction([384, 3], i => i % 7 * 0.1f);
    var y = Tensor.FromFunction([384, 2], i => i % 5 * 0.1f);
    model.Fit(x, y, batchSize: batch, epochs: 1, verbose: 0, shuffle: false);
    Console.WriteLine($"worker {strategy.WorkerIndex} fit finished");
    return 0;
}

// allreduce <lengths by rank, comma separated>: every worker all-reduces a vector of its own length inside Run.
static int AllReduceLengths(string lengthsByRank)
{
    using var communicator = MpiCommunicator.Initialize(collectiveTimeout: TimeSpan.FromSeconds(60));
    using var strategy = new MultiWorkerMirroredStrategy(communicator);
    int length = ForWorker(lengthsByRank, strategy.WorkerIndex);
    var sum = strategy.Run(ctx => ctx.AllReduce(ReduceOp.Sum, Tensor.FromFunction([length], i => i))).Values[0].ToArray();
    Console.WriteLine($"worker {strategy.WorkerIndex} all-reduce finished: {string.Join(",", sum.Take(3).Select(v => v.ToString(CultureInfo.InvariantCulture)))}");
    return 0;
}

// This worker's entry of a comma-separated list of integers by rank.
static int ForWorker(string byRank, int worker) => int.Parse(byRank.Split(',')[worker], CultureInfo.InvariantCulture);

static int Usage()
{
    Console.Error.WriteLine("usage: syncbn <prefix> <localReplicas> <sizes> [devices] | fit <prefix> <localReplicas> [functional|sequential] [devices] | fault <throw|exit|kill|leave> <timeoutSeconds>");
    return 2;
}

static int SyncBn(string prefix, int localReplicas, string sizeList, string? devices)
{
    const int Channels = 4, SmallLength = 37, LargeLength = 40_000;
    using var communicator = MpiCommunicator.Initialize(collectiveTimeout: TimeSpan.FromSeconds(60));
    using var strategy = new MultiWorkerMirroredStrategy(communicator, localReplicas, devices: MpiTestData.WorkerDevices(devices, communicator.Rank));
    int[] sizes = [.. sizeList.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture))];
    if (sizes.Length != strategy.NumReplicasInSync)
        throw new ArgumentException($"{sizes.Length} sizes for {strategy.NumReplicasInSync} replicas.");
    int[] starts = MpiTestData.Starts(sizes);
    var x = MpiTestData.Input(sizes.Sum(), Channels);
    var dy = MpiTestData.UpstreamGradient(sizes.Sum(), Channels);

    SyncBatchNormalization bn;
    using (strategy.Scope()) bn = new SyncBatchNormalization(momentum: 0.9f);
    var perReplica = strategy.Run(ctx =>
    {
        int r = ctx.ReplicaId;
        var xs = x.Slice(0, starts[r], sizes[r]).To(ctx.Device);
        var dys = dy.Slice(0, starts[r], sizes[r]).To(ctx.Device);
        using var tape = new GradientTape();
        tape.Watch(xs);
        var y = bn.Call(xs, training: true);
        var grads = tape.Gradient(y, [xs, bn.Gamma!, bn.Beta!], dys);

        var small = Tensor.FromArray(MpiTestData.ReplicaBuffer(r, SmallLength)).To(ctx.Device);
        var large = Tensor.FromArray(MpiTestData.ReplicaBuffer(r, LargeLength)).To(ctx.Device);
        Tensor smallSum = ctx.AllReduce(ReduceOp.Sum, small), smallMean = ctx.AllReduce(ReduceOp.Mean, small);
        Tensor largeSum = ctx.AllReduce(ReduceOp.Sum, large), largeMean = ctx.AllReduce(ReduceOp.Mean, large);
        return new ReplicaResult(r, y.ToArray(), grads[0]!.ToArray(), grads[1]!.ToArray(), grads[2]!.ToArray(),
            smallSum.ToArray(), smallMean.ToArray(), Sha256(largeSum.ToArray()), Sha256(largeMean.ToArray()),
            ctx.Device.ToString(),
            [.. new[] { y, grads[0]!, grads[1]!, grads[2]!, smallSum, smallMean, largeSum, largeMean }.Select(t => t.Device.ToString())]);
    });
    var slices = strategy.Run(ctx => x.Slice(0, starts[ctx.ReplicaId], sizes[ctx.ReplicaId]).To(ctx.Device));
    var batchMean = strategy.Reduce(ReduceOp.Mean, slices, axis: 0);

    var result = new HostResult(strategy.WorkerIndex, strategy.NumWorkers, strategy.NumReplicasInSync, communicator.IsMpi,
        perReplica.Values, bn.MovingMean!.Value.ToArray(), bn.MovingVariance!.Value.ToArray(), batchMean.ToArray(),
        [.. bn.MovingMean!.Replicas.Select(c => c.ToArray())], [.. bn.MovingVariance!.Replicas.Select(c => c.ToArray())],
        [.. bn.MovingMean!.Replicas.Concat(bn.MovingVariance!.Replicas).Select(c => c.Device.ToString())]);
    File.WriteAllText($"{prefix}.{strategy.WorkerIndex}.json", JsonSerializer.Serialize(result));
    return 0;
}

static int Fit(string prefix, int localReplicas, bool functional, string? devices)
{
    using var communicator = MpiCommunicator.Initialize(collectiveTimeout: TimeSpan.FromSeconds(60));
    using var strategy = new MultiWorkerMirroredStrategy(communicator, localReplicas, devices: MpiTestData.WorkerDevices(devices, communicator.Rank));
    Model model;
    Variable unseeded;
    using (strategy.Scope())
    {
        model = FitCase.Model(functional);
        unseeded = new Variable(Tensor.FromFunction([5], _ => Random.Shared.NextSingle()), "unseeded");
    }
    var (losses, validationLosses) = FitCase.Train(model);
    // 40 rows in batches of 19, 19 and 2 over 4 replicas (worker 1 has no rows of the last): every worker predicts
    // its rows of each batch and receives all of them.
    var predictions = model.Predict(FitCase.Inputs(), batchSize: 19).ToArray();
    var emptyPrediction = model.Predict(FitCase.Inputs().Slice(0, 0, 0));
    var result = new FitResult(strategy.WorkerIndex, losses, validationLosses, predictions, [.. model.GetWeights().Select(w => w.ToArray())], unseeded.Value.ToArray(),
        [.. model.Weights.Select(w => w.Replicas.Select(c => c.ToArray()).ToArray())],
        [.. model.Weights.Select(w => w.Replicas.Select(c => c.Device.ToString()).ToArray())],
        [.. emptyPrediction.Shape], emptyPrediction.Device.ToString());
    File.WriteAllText($"{prefix}.{strategy.WorkerIndex}.json", JsonSerializer.Serialize(result));
    return 0;
}

static string Sha256(float[] values) => Convert.ToHexString(SHA256.HashData(MemoryMarshal.AsBytes(values.AsSpan())));

static int Fault(string mode, double timeoutSeconds)
{
    using var communicator = MpiCommunicator.Initialize(collectiveTimeout: TimeSpan.FromSeconds(timeoutSeconds));
    using var strategy = new MultiWorkerMirroredStrategy(communicator);
    var value = Tensor.FromArray([1f, 2f, 3f]);
    for (int step = 0; step < 100_000; step++)
    {
        if (strategy.WorkerIndex == 1 && step == 3)
        {
            if (mode == "exit") Environment.Exit(3);
            if (mode == "kill") System.Diagnostics.Process.GetCurrentProcess().Kill(); // SIGKILL: no handler runs
            if (mode == "leave") return 0;
        }
        int s = step;
        strategy.Run(ctx =>
        {
            if (mode == "throw" && strategy.WorkerIndex == 1 && s == 3)
                throw new InvalidOperationException("injected failure on worker 1 at step 3");
            return ctx.AllReduce(ReduceOp.Sum, value);
        });
    }
    Console.Error.WriteLine($"worker {strategy.WorkerIndex} finished every step: the fault was not noticed");
    return 0;
}
