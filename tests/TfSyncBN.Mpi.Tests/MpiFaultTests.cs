namespace TfSyncBN.Mpi.Tests;

/// <summary>
/// A failing worker ends the whole job promptly with a non-zero exit code and a message that says what happened;
/// the other workers, blocked in collectives, never hang.
/// </summary>
[TestClass]
public sealed class MpiFaultTests
{
    /// <summary>The hard limit of one job; a hang would hit it and fail the test.</summary>
    /// <remarks>The bounds are generous (a job ends in 2-10 s on idle cores): three .NET ranks starting under mpirun on a
    /// loaded 2-core CI machine can take far longer, and the tests tell "ended" from "hung", not fast from slow.</remarks>
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(240);

    /// <summary>What "promptly" means here: well below <see cref="Limit"/>, which a hang would reach.</summary>
    private const double Prompt = 180;

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public void AWorkerThatThrowsInsideRun_EndsEveryWorkerWithItsError()
    {
        var job = MpiJob.RunMpi(3, Limit, "fault", "throw", "20");
        AssertEndedPromptly(job, expectedSeconds: Prompt);
        StringAssert.Contains(job.Messages, "TfSyncBN: worker 1 of 3 failed in Strategy.Run", job.Output);
        StringAssert.Contains(job.Messages, "injected failure on worker 1 at step 3", job.Output);
    }

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public void AWorkerThatExitsWithAnErrorCode_EndsEveryWorker()
    {
        var job = MpiJob.RunMpi(3, Limit, "fault", "exit", "20");
        AssertEndedPromptly(job, expectedSeconds: Prompt);
        StringAssert.Contains(job.Messages, "worker 1 of 3 exited with code 3", job.Output);
    }

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public void AWorkerThatIsKilled_EndsEveryWorker()
    {
        // SIGKILL: none of the worker's own handlers run; mpirun notices the lost process and ends the job.
        var job = MpiJob.RunMpi(3, Limit, "fault", "kill", "20");
        AssertEndedPromptly(job, expectedSeconds: Prompt);
    }

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public void AWorkerThatStopsCallingCollectives_EndsTheJobAfterTheCollectiveTimeout()
    {
        // Worker 1 returns from Main at step 3 (exit code 0); the others wait in their next collective until the
        // 3-second collective timeout ends the job.
        var job = MpiJob.RunMpi(3, Limit, "fault", "leave", "3");
        AssertEndedPromptly(job, expectedSeconds: Prompt);
        Assert.IsTrue(job.Elapsed >= TimeSpan.FromSeconds(3), $"the job ended after {job.Elapsed}, before the 3 s timeout could expire");
        StringAssert.Contains(job.Messages, "waited more than 00:00:03 in MPI_Gather/MPI_Bcast", job.Output);
    }

    private static void AssertEndedPromptly(JobResult job, double expectedSeconds)
    {
        Assert.IsFalse(job.TimedOut, $"the job hung: still running after {Limit}:\n{job.Output}");
        Assert.AreNotEqual(0, job.ExitCode, $"the job must fail:\n{job.Output}");
        Assert.IsTrue(job.Elapsed < TimeSpan.FromSeconds(expectedSeconds), $"the job took {job.Elapsed}, more than {expectedSeconds} s:\n{job.Output}");
        StringAssert.DoesNotMatch(job.Output, new System.Text.RegularExpressions.Regex("finished every step"), "a worker did not notice the fault");
    }
}
