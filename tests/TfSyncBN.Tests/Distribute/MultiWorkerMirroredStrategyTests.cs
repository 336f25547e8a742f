using TfSyncBN.Distribute;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Distribute;

/// <summary>
/// <see cref="MultiWorkerMirroredStrategy"/> with W simulated workers in one process (one thread each, joined by an
/// in-memory communicator that sums in rank order), so its logic is tested without Open MPI; the mpirun tests are in
/// TfSyncBN.Mpi.Tests.
/// </summary>
[TestClass]
public sealed class MultiWorkerMirroredStrategyTests
{
    private static float Value(int replica, int i) => (replica + 1) * 0.3f + i * 0.7f - (i % 5) * replica * 1.1f + 1e-3f * i * i;

    [TestMethod]
    [DataRow(1, 3)]
    [DataRow(2, 2)]
    [DataRow(3, 1)]
    [DataRow(3, 2)]
    public void AllReduce_IsTheHierarchicalOrderedSum_OnEveryReplicaOfEveryWorker(int workers, int localReplicas) => Bounded.Run(() =>
    {
        const int Small = 7, Large = 20_000; // Large goes through the chunked in-process path when L > 1
        var results = InMemoryWorkers.Run(workers, comm =>
        {
            using var strategy = new MultiWorkerMirroredStrategy(comm, localReplicas, TimeSpan.FromSeconds(20));
            Assert.AreEqual(workers * localReplicas, strategy.NumReplicasInSync);
            Assert.AreEqual(comm.Rank * localReplicas, strategy.FirstReplicaId);
            return strategy.Run(ctx =>
            {
                Assert.AreEqual(workers * localReplicas, ctx.NumReplicasInSync);
                var small = Tensor.FromFunction([Small], i => Value(ctx.ReplicaId, i));
                var large = Tensor.FromFunction([Large], i => Value(ctx.ReplicaId, i));
                return (Id: ctx.ReplicaId, SmallSum: ctx.AllReduce(ReduceOp.Sum, small).ToArray(), SmallMean: ctx.AllReduce(ReduceOp.Mean, small).ToArray(),
                    LargeSum: ctx.AllReduce(ReduceOp.Sum, large).ToArray(), LargeMean: ctx.AllReduce(ReduceOp.Mean, large).ToArray());
            }).Values.ToArray();
        });
        var all = results.SelectMany(r => r).ToArray();
        CollectionAssert.AreEqual(Enumerable.Range(0, workers * localReplicas).ToArray(), all.Select(r => r.Id).ToArray(), "global replica ids, worker by worker");
        var (smallSum, smallMean) = Expected(workers, localReplicas, Small);
        var (largeSum, largeMean) = Expected(workers, localReplicas, Large);
        foreach (var r in all)
        {
            CollectionAssert.AreEqual(smallSum, r.SmallSum, $"replica {r.Id} small sum");
            CollectionAssert.AreEqual(smallMean, r.SmallMean, $"replica {r.Id} small mean");
            CollectionAssert.AreEqual(largeSum, r.LargeSum, $"replica {r.Id} large sum");
            CollectionAssert.AreEqual(largeMean, r.LargeMean, $"replica {r.Id} large mean");
        }
    });

    /// <summary>Σ_w (Σ_l v) in order in float32, then one division by W·L.</summary>
    private static (float[] Sum, float[] Mean) Expected(int workers, int localReplicas, int length)
    {
        var total = new float[length];
        var mean = new float[length];
        for (int i = 0; i < length; i++)
        {
            float t = 0;
            for (int w = 0; w < workers; w++)
            {
                float local = Value(w * localReplicas, i);
                for (int l = 1; l < localReplicas; l++) local += Value(w * localReplicas + l, i);
                t = w == 0 ? local : t + local;
            }
            total[i] = t;
            mean[i] = t / (workers * localReplicas);
        }
        return (total, mean);
    }

    [TestMethod]
    public void Reduce_CombinesTheLocalValuesOfEveryWorker_WithTheGlobalCountForAnAxisMean() => Bounded.Run(() =>
    {
        // Worker w's replica r holds rows of value (global id + 1); 2 workers x 2 replicas with 1, 2, 0, 3 rows.
        int[] rows = [1, 2, 0, 3];
        var results = InMemoryWorkers.Run(2, comm =>
        {
            using var strategy = new MultiWorkerMirroredStrategy(comm, 2);
            var values = strategy.Run(ctx => Tensor.FromFunction([rows[ctx.ReplicaId], 2], _ => ctx.ReplicaId + 1f));
            var sums = strategy.Run(ctx => Tensor.FromFunction([2], _ => ctx.ReplicaId + 1f));
            return (AxisMean: strategy.Reduce(ReduceOp.Mean, values, axis: 0).ToArray(),
                Sum: strategy.Reduce(ReduceOp.Sum, sums).ToArray(), Mean: strategy.Reduce(ReduceOp.Mean, sums).ToArray());
        });
        float axisMean = (1 * 1 + 2 * 2 + 0 * 3 + 3 * 4) / 6f;
        foreach (var r in results)
        {
            CollectionAssert.AreEqual(new[] { axisMean, axisMean }, r.AxisMean);
            CollectionAssert.AreEqual(new[] { 10f, 10f }, r.Sum);
            CollectionAssert.AreEqual(new[] { 2.5f, 2.5f }, r.Mean);
        }
    });

    [TestMethod]
    public void VariablesCreatedInTheScope_StartFromWorkerZerosValue_AndHoldOneCopyPerLocalReplica() => Bounded.Run(() =>
    {
        var results = InMemoryWorkers.Run(3, comm =>
        {
            using var strategy = new MultiWorkerMirroredStrategy(comm, 2);
            Variable v;
            using (strategy.Scope()) v = new Variable(Tensor.FromArray([comm.Rank + 1f, -(comm.Rank + 1f)]));
            var inRun = strategy.Run(ctx => v.Value.ToArray());
            return (Copies: v.Replicas.Count, Value: v.Value.ToArray(), InRun: inRun.Values.ToArray());
        });
        foreach (var r in results)
        {
            Assert.AreEqual(2, r.Copies, "one copy per local replica, not per global replica");
            CollectionAssert.AreEqual(new[] { 1f, -1f }, r.Value, "worker 0's initial value");
            foreach (var seen in r.InRun) CollectionAssert.AreEqual(new[] { 1f, -1f }, seen);
        }
    });

    [TestMethod]
    public void DifferentLocalReplicaCounts_ThrowOnEveryWorker() => Bounded.Run(() =>
    {
        var errors = InMemoryWorkers.Run(2, comm => Bounded.Catch(() => new MultiWorkerMirroredStrategy(comm, comm.Rank + 1).Dispose()));
        foreach (var e in errors)
        {
            Assert.IsInstanceOfType<ArgumentException>(e);
            Assert.AreEqual("localReplicas", ((ArgumentException)e!).ParamName);
            StringAssert.Contains(e.Message, "same localReplicas");
        }
    });

    [TestMethod]
    public void AFailingRun_AbortsTheJob_WithTheOriginalError() => Bounded.Run(() =>
    {
        var results = InMemoryWorkers.Run(2, comm =>
        {
            using var strategy = new MultiWorkerMirroredStrategy(comm, 2);
            var error = Bounded.Catch(() => strategy.Run<int>(ctx =>
            {
                if (comm.Rank == 1 && ctx.ReplicaId == 3) throw new InvalidOperationException("boom");
                return 0;
            }));
            return (error, comm.Aborts.ToArray());
        });
        Assert.IsNull(results[0].error, "worker 0 did not fail (no collective was pending)");
        Assert.AreEqual(0, results[0].Item2.Length);
        Assert.IsInstanceOfType<InvalidOperationException>(results[1].error);
        Assert.AreEqual(1, results[1].Item2.Length, "worker 1 aborted the job");
        StringAssert.Contains(results[1].Item2[0], "worker 1 of 2 failed in Strategy.Run");
        StringAssert.Contains(results[1].Item2[0], "boom");
    });

    [TestMethod]
    public void OneWorker_BehavesLikeMirroredStrategy_BitForBit() => Bounded.Run(() =>
    {
        var results = InMemoryWorkers.Run(1, comm =>
        {
            using var multi = new MultiWorkerMirroredStrategy(comm, 3);
            using var mirrored = new MirroredStrategy(3);
            float[][] Sums(Strategy s) => s.Run(ctx => ctx.AllReduce(ReduceOp.Mean, Tensor.FromFunction([20_000], i => Value(ctx.ReplicaId, i))).ToArray()).Values.ToArray();
            return (Sums(multi), Sums(mirrored));
        });
        for (int r = 0; r < 3; r++) CollectionAssert.AreEqual(results[0].Item2[r], results[0].Item1[r]);
    });

    [TestMethod]
    public void DenseLayersOfDifferentSizes_ThrowAMismatchOnEveryWorker_NamingBothShapes() => Bounded.Run(() =>
    {
        int[] units = [32, 48];
        var errors = InMemoryWorkers.Run(2, comm => Bounded.Catch(() =>
        {
            using var strategy = new MultiWorkerMirroredStrategy(comm);
            using (strategy.Scope()) _ = new global::TfSyncBN.Keras.Sequential([new global::TfSyncBN.Keras.Dense(units[comm.Rank])], [3]);
        }));
        foreach (var e in errors)
        {
            Assert.IsInstanceOfType<CollectiveMismatchException>(e);
            StringAssert.Contains(e!.Message, "worker 0: initial value of a variable created in Scope(float32[96], [3, 32])");
            StringAssert.Contains(e.Message, "worker 1: initial value of a variable created in Scope(float32[144], [3, 48])");
        }
    });

    [TestMethod]
    [DataRow(1)]
    [DataRow(2)]
    public void CollectivesOfDifferentSizesInRun_ThrowAMismatchOnEveryWorker_NamingBothShapes(int localReplicas) => Bounded.Run(() =>
    {
        var results = InMemoryWorkers.Run(2, comm =>
        {
            using var strategy = new MultiWorkerMirroredStrategy(comm, localReplicas);
            int length = comm.Rank == 0 ? 32 : 48;
            var error = Bounded.Catch(() => strategy.Run(ctx => ctx.AllReduce(ReduceOp.Sum, Tensor.FromFunction([length], i => i))));
            return (error, comm.Aborts.ToArray());
        });
        foreach (var (error, aborts) in results)
        {
            Assert.IsNotNull(error);
            Assert.AreEqual(1, aborts.Length, "the worker ends the job");
            foreach (var text in new[] { error.ToString(), aborts[0] })
            {
                StringAssert.Contains(text, "CollectiveMismatchException");
                StringAssert.Contains(text, "worker 0: AllReduce(float32[32], [32])");
                StringAssert.Contains(text, "worker 1: AllReduce(float32[48], [48])");
            }
        }
    });

    [TestMethod]
    public void Signatures_AreExchangedOnlyTheFirstTimeEachIsMet_AndTheSumsStayExact() => Bounded.Run(() =>
    {
        var results = InMemoryWorkers.Run(2, comm =>
        {
            using var strategy = new MultiWorkerMirroredStrategy(comm, 2);
            var exchanges = new List<int>();
            var sums = new List<float[]>();
            foreach (int length in new[] { 5, 5, 5, 5, 7, 5, 7 })
            {
                sums.Add(strategy.Run(ctx => ctx.AllReduce(ReduceOp.Sum, Tensor.FromFunction([length], i => ctx.ReplicaId + 10f * i)).ToArray()).Values[0]);
                exchanges.Add(strategy.SignatureExchanges);
            }
            return (exchanges, sums);
        });
        foreach (var (exchanges, sums) in results)
        {
            CollectionAssert.AreEqual(new[] { 1, 1, 1, 1, 2, 2, 2 }, exchanges, "one exchange per new signature, none on repeats");
            foreach (var sum in sums)
            {
                // replicas 0..3: sum_r (r + 10 i) = 6 + 40 i
                CollectionAssert.AreEqual(Enumerable.Range(0, sum.Length).Select(i => 6f + 40f * i).ToArray(), sum);
            }
        }
    });

    /// <summary>W workers on W threads, joined by an in-memory communicator.</summary>
    internal sealed class InMemoryWorkers : ICrossWorkerCommunicator
    {
        private readonly Shared shared;

        private InMemoryWorkers(Shared shared, int rank)
        {
            this.shared = shared;
            Rank = rank;
        }

        public int Rank { get; }

        public int Size => shared.Size;

        public List<string> Aborts { get; } = [];

        public static T[] Run<T>(int workers, Func<InMemoryWorkers, T> body)
        {
            var shared = new Shared(workers);
            var tasks = Enumerable.Range(0, workers)
                .Select(w => Task.Factory.StartNew(() => body(new InMemoryWorkers(shared, w)), TaskCreationOptions.LongRunning)).ToArray();
            Task.WaitAll(tasks);
            return tasks.Select(t => t.Result).ToArray();
        }

        public void AllReduceSum(float[] buffer, int length) => Sum(buffer, length);

        public void AllReduceSum(double[] buffer, int length) => Sum(buffer, length);

        public void Abort(int exitCode, string message) => Aborts.Add(message); // a test records it; MPI would end the job

        private void Sum<T>(T[] buffer, int length) where T : struct, System.Numerics.INumber<T>
        {
            shared.Posted[Rank] = buffer[..length];
            Assert.IsTrue(shared.Barrier.SignalAndWait(TimeSpan.FromSeconds(10)), "in-memory all-reduce timed out");
            for (int i = 0; i < length; i++)
            {
                T total = ((T[])shared.Posted[0]!)[i];
                for (int w = 1; w < Size; w++) total += ((T[])shared.Posted[w]!)[i];
                buffer[i] = total;
            }
            Assert.IsTrue(shared.Barrier.SignalAndWait(TimeSpan.FromSeconds(10)), "in-memory all-reduce timed out");
        }

        private sealed class Shared(int size)
        {
            public int Size => size;
            public Array?[] Posted { get; } = new Array?[size];
            public Barrier Barrier { get; } = new(size);
        }
    }
}
