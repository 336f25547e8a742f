namespace TfSyncBN.Mpi.Tests;

/// <summary>
/// Issue #16, item 4: workers that call <c>Fit</c> with different batch sizes (128 and 96 on the same 384 samples: 3
/// and 4 steps per epoch) used to pair steps of different batches, one finishing with wrong gradients and the job then
/// hanging. The workers now compare their plans before the first step, and every worker fails naming both.
/// </summary>
/// <remarks>The time limit only tells "ended" from "hung" (it is generous for a loaded 2-core machine).</remarks>
[TestClass]
public sealed class MismatchedWorkersTests
{
    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public void WorkersWithDifferentBatchSizes_FailBeforeTheFirstStep_NamingBothPlans()
    {
        var job = MpiJob.RunMpi(2, TimeSpan.FromSeconds(240), "plan", "128,96");
        Assert.IsFalse(job.TimedOut, $"the job hung:\n{job.Output}");
        Assert.AreNotEqual(0, job.ExitCode, $"the job must fail:\n{job.Output}");
        StringAssert.Contains(job.Messages, "the workers disagree on the plan of Fit", job.Output);
        StringAssert.Contains(job.Messages, "worker 0: 3 steps per epoch of global batch 128", job.Output);
        StringAssert.Contains(job.Messages, "worker 1: 4 steps per epoch of global batch 96", job.Output);
        Assert.IsFalse(job.Output.Contains("fit finished", StringComparison.Ordinal), $"no worker finished Fit:\n{job.Output}");
    }

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public void Control_WorkersWithTheSameBatchSize_FinishFit()
    {
        var job = MpiJob.RunMpi(2, TimeSpan.FromSeconds(240), "plan", "128,128");
        Assert.IsFalse(job.TimedOut, $"the job hung:\n{job.Output}");
        Assert.AreEqual(0, job.ExitCode, job.Output);
        StringAssert.Contains(job.Output, "worker 0 fit finished");
        StringAssert.Contains(job.Output, "worker 1 fit finished");
    }
}
