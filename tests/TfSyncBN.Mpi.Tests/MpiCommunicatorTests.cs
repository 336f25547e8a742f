using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Mpi.TestHost;
using TfSyncBN.Tensors;

namespace TfSyncBN.Mpi.Tests;

/// <summary>The communicator in a process that mpirun did not start, and the error when Open MPI is missing.</summary>
[TestClass]
public sealed class MpiCommunicatorTests
{
    [TestMethod]
    public void MissingLibrary_ThrowsDllNotFoundException_ThatSaysHowToInstallOpenMpi()
    {
        var e = Assert.ThrowsExactly<DllNotFoundException>(() => MpiLibrary.Load("libmpi-not-installed.so.40"));
        StringAssert.Contains(e.Message, "libmpi-not-installed.so.40");
        StringAssert.Contains(e.Message, "apt-get install -y openmpi-bin libopenmpi-dev");
        StringAssert.Contains(e.Message, "mpirun");
    }

    [TestMethod]
    public void WithoutMpirun_InitializeGivesOneWorker_AndTheStrategyEqualsMirroredStrategyBitForBit()
    {
        Assert.IsFalse(MpiCommunicator.IsLaunchedByMpirun, "the test process must not run under mpirun");
        using var communicator = MpiCommunicator.Initialize();
        Assert.IsFalse(communicator.IsMpi);
        Assert.AreEqual(0, communicator.Rank);
        Assert.AreEqual(1, communicator.Size);
        Assert.ThrowsExactly<InvalidOperationException>(() => MpiCommunicator.Initialize(), "one communicator per process");

        var x = MpiTestData.Input(9, 4);
        int[] sizes = [6, 3], starts = [0, 6];
        float[][] Outputs(Strategy strategy)
        {
            SyncBatchNormalization bn;
            using (strategy.Scope()) bn = new SyncBatchNormalization(momentum: 0.9f);
            var ys = strategy.Run(ctx => bn.Call(x.Slice(0, starts[ctx.ReplicaId], sizes[ctx.ReplicaId]), training: true).ToArray());
            return [.. ys, bn.MovingMean!.Value.ToArray(), bn.MovingVariance!.Value.ToArray()];
        }
        using var multi = new MultiWorkerMirroredStrategy(communicator, localReplicas: 2);
        using var mirrored = new MirroredStrategy(2);
        Assert.AreEqual(2, multi.NumReplicasInSync);
        Assert.AreEqual(0, multi.WorkerIndex);
        Assert.IsTrue(multi.IsChief);
        var a = Outputs(multi);
        var b = Outputs(mirrored);
        for (int i = 0; i < a.Length; i++) CollectionAssert.AreEqual(b[i], a[i], $"part {i}");
    }

    [TestMethod]
    public void InvalidArguments_NameTheArgument()
    {
        Assert.AreEqual("collectiveTimeout",
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => MpiCommunicator.Initialize(TimeSpan.Zero)).ParamName);
        var one = new OneWorker();
        Assert.AreEqual("localReplicas",
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new MultiWorkerMirroredStrategy(one, localReplicas: 0)).ParamName);
        Assert.AreEqual("communicator",
            Assert.ThrowsExactly<ArgumentNullException>(() => new MultiWorkerMirroredStrategy(null!)).ParamName);
    }

    private sealed class OneWorker : ICrossWorkerCommunicator
    {
        public int Rank => 0;
        public int Size => 1;
        public void AllReduceSum(float[] buffer, int length) { }
        public void AllReduceSum(double[] buffer, int length) { }
        public void Abort(int exitCode, string message) => throw new InvalidOperationException(message);
    }
}
