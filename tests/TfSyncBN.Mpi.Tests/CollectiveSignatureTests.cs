namespace TfSyncBN.Mpi.Tests;

/// <summary>
/// Issue #16, item 4: workers whose collectives differ in size (a Dense of 32 units on one, 48 on the other) used to
/// fail with Open MPI's opaque <c>MPI_ERR_TRUNCATE</c>. Each new collective signature is now checked across the
/// workers first, and the job fails naming every worker's call.
/// </summary>
/// <remarks>The time limit only tells "ended" from "hung" (it is generous for a loaded 2-core machine).</remarks>
[TestClass]
public sealed class CollectiveSignatureTests
{
    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public void DenseOf32And48Units_FailsTheJob_NamingBothWorkersShapes() => AssertFails(["dense", "32,48"], "fit finished",
        "worker 0: initial value of a variable created in Scope(float32[96], [3, 32])",
        "worker 1: initial value of a variable created in Scope(float32[144], [3, 48])");

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public void Control_DenseOf32UnitsOnBoth_FinishesFit() => AssertFinishes(["dense", "32,32"],
        "worker 0 fit finished", "worker 1 fit finished");

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public void AllReduceOf32And48Values_InRun_FailsTheJob_NamingBothWorkersShapes() => AssertFails(["allreduce", "32,48"], "all-reduce finished",
        "worker 0: AllReduce(float32[32], [32])", "worker 1: AllReduce(float32[48], [48])");

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public void Control_AllReduceOf32ValuesOnBoth_SumsThem() => AssertFinishes(["allreduce", "32,32"],
        "worker 0 all-reduce finished: 0,2,4", "worker 1 all-reduce finished: 0,2,4");

    private static void AssertFails(string[] hostArgs, string notReached, params string[] expected)
    {
        var job = MpiJob.RunMpi(2, TimeSpan.FromSeconds(240), hostArgs);
        Assert.IsFalse(job.TimedOut, $"the job hung:\n{job.Output}");
        Assert.AreNotEqual(0, job.ExitCode, $"the job must fail:\n{job.Output}");
        StringAssert.Contains(job.Messages, "CollectiveMismatchException", job.Output);
        foreach (var text in expected) StringAssert.Contains(job.Messages, text, job.Output);
        Assert.IsFalse(job.Output.Contains("MPI_ERR_TRUNCATE", StringComparison.Ordinal), job.Output);
        Assert.IsFalse(job.Output.Contains(notReached, StringComparison.Ordinal), $"no worker got past the mismatch:\n{job.Output}");
    }

    private static void AssertFinishes(string[] hostArgs, params string[] expected)
    {
        var job = MpiJob.RunMpi(2, TimeSpan.FromSeconds(240), hostArgs);
        Assert.IsFalse(job.TimedOut, $"the job hung:\n{job.Output}");
        Assert.AreEqual(0, job.ExitCode, job.Output);
        foreach (var text in expected) StringAssert.Contains(job.Messages, text, job.Output);
    }
}
