// Multi-process (and multi-machine) training with SyncBatchNormalization over Open MPI.
//
// Every process runs this same program: one worker per MPI rank, each with 2 replicas (threads), so
// NumReplicasInSync = 2 x workers. Model.Fit splits every global batch over all replicas of all workers by global
// replica id; SyncBatchNormalization normalizes with the statistics of the whole global batch and the gradients are
// summed over every replica, so the workers end with the same weights, bit for bit.
//
//   dotnet build examples/MultiWorker -c Release
//   mpirun -np 2 dotnet examples/MultiWorker/bin/Release/net10.0/MultiWorker.dll
//
// Started without mpirun it runs as a single worker. Exit code 0 when the loss went down and every worker holds the
// same weights.
using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Mpi;
using TfSyncBN.Tensors;

using var communicator = MpiCommunicator.Initialize();
using var strategy = new MultiWorkerMirroredStrategy(communicator, localReplicas: 2);
Console.WriteLine($"worker {strategy.WorkerIndex} of {strategy.NumWorkers}: replicas {strategy.FirstReplicaId}.." +
    $"{strategy.FirstReplicaId + strategy.LocalReplicas - 1} of {strategy.NumReplicasInSync}" +
    (communicator.IsMpi ? "" : " (not started by mpirun: a single worker)"));

// The same data on every worker (seeded): 2,048 samples of 32 features in 4 classes, from a fixed linear rule.
const int Samples = 2048, Features = 32, Classes = 4;
var rng = new Random(7);
var x = Tensor.FromFunction([Samples, Features], _ => (float)(rng.NextDouble() * 2 - 1));
var rule = Tensor.FromFunction([Features, Classes], _ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
var xs = x.ToArray();
var y = Tensor.FromFunction([Samples], s =>
{
    int best = 0;
    double bestScore = double.NegativeInfinity;
    for (int c = 0; c < Classes; c++)
    {
        double score = 0;
        for (int f = 0; f < Features; f++) score += xs[s * Features + f] * rule[f * Classes + c];
        if (score > bestScore) (best, bestScore) = (c, score);
    }
    return best;
});

// Weights created in the scope are mirrored over this worker's replicas and start from worker 0's initial values.
Sequential model;
using (strategy.Scope())
{
    model = new Sequential(
    [
        new Dense(64, activation: "relu"),
        new SyncBatchNormalization(momentum: 0.9f),
        new Dense(Classes, activation: "softmax"),
    ]);
    model.Compile(new SGD(learningRate: 0.1f, momentum: 0.9f), "sparse_categorical_crossentropy", ["accuracy"]);
}

// Only the chief (worker 0) prints progress; the shuffle seed must be the same on every worker.
var history = model.Fit(x, y, batchSize: 128, epochs: 5, verbose: strategy.IsChief ? 2 : 0, seed: 0);
var losses = history["loss"];

// Every worker must hold worker 0's weights: all-reduce worker 0's copy (the others contribute zeros) and compare.
bool same = true;
foreach (var weight in model.GetWeights())
{
    var mine = weight.ToArray();
    var chief = strategy.IsChief ? (float[])mine.Clone() : new float[mine.Length];
    communicator.AllReduceSum(chief, chief.Length);
    same &= mine.AsSpan().SequenceEqual(chief);
}
bool learned = losses[^1] < losses[0];
Console.WriteLine($"worker {strategy.WorkerIndex}: loss {losses[0]:F4} -> {losses[^1]:F4}, " +
    $"weights {(same ? "identical to worker 0's" : "DIFFERENT from worker 0's")}");
return same && learned ? 0 : 1;
