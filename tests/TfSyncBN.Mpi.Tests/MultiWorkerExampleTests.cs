using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;

namespace TfSyncBN.Mpi.Tests;

/// <summary>
/// examples/MultiWorker run as the README documents for one machine (<c>mpirun -np 2 ... dotnet
/// examples/MultiWorker/bin/&lt;configuration&gt;/net10.0/MultiWorker.dll</c>), with the mpirun options every test here
/// uses (as root, loopback transport), and its printed results checked.
/// </summary>
[TestClass]
public sealed partial class MultiWorkerExampleTests
{
    [TestMethod]
    [Timeout(90_000, CooperativeCancellation = true)]
    public void ExampleOnTwoWorkers_TrainsAndEndsWithTheSameWeightsAndLossesOnBothWorkers()
    {
        var job = MpiJob.RunMpiProgram(2, TimeSpan.FromSeconds(60), ExampleDll());
        Assert.IsFalse(job.TimedOut, $"the example hung:\n{job.Output}");
        // The example exits 1 when the loss did not go down or a worker's weights differ from worker 0's.
        Assert.AreEqual(0, job.ExitCode, $"the example failed:\n{job.Output}");

        // Each worker announces its global replica ids: worker w of W runs replicas w*L .. w*L + L - 1 of W*L (L = 2).
        var layout = LayoutLine().Matches(job.Output).ToDictionary(m => Int(m, "w"), m => m);
        CollectionAssert.AreEquivalent(new[] { 0, 1 }, layout.Keys.ToArray(), $"one layout line per worker:\n{job.Output}");
        foreach (var (w, m) in layout)
        {
            Assert.AreEqual(2, Int(m, "size"), "NumWorkers");
            Assert.AreEqual(w * 2, Int(m, "first"), $"worker {w}'s first replica id");
            Assert.AreEqual(w * 2 + 1, Int(m, "last"), $"worker {w}'s last replica id");
            Assert.AreEqual(4, Int(m, "total"), "NumReplicasInSync = 2 workers x 2 replicas");
        }

        // Each worker's summary: first and last epoch loss, and whether its weights equal worker 0's bit for bit.
        var summaries = SummaryLine().Matches(job.Output).ToDictionary(m => Int(m, "w"), m => m);
        CollectionAssert.AreEquivalent(new[] { 0, 1 }, summaries.Keys.ToArray(), $"one summary line per worker:\n{job.Output}");
        foreach (var (w, m) in summaries)
            Assert.AreEqual("identical to", m.Groups["same"].Value, $"worker {w}'s weights compared with worker 0's");
        double first = Number(summaries[0], "first"), last = Number(summaries[0], "last");
        Assert.AreEqual(summaries[0].Groups["first"].Value, summaries[1].Groups["first"].Value, "first-epoch loss on both workers");
        Assert.AreEqual(summaries[0].Groups["last"].Value, summaries[1].Groups["last"].Value, "last-epoch loss on both workers");
        Assert.IsLessThan(first, last, "training reduced the loss");

        // Only the chief prints Fit's progress: one line per epoch, whose losses are the ones both summaries report.
        var epochs = EpochLine().Matches(job.Output).ToArray();
        Assert.HasCount(5, epochs, $"the chief's progress lines (5 epochs, printed once, not by worker 1):\n{job.Output}");
        Assert.AreEqual(first, Number(epochs[0], "loss"), 1e-12, "the chief's epoch-1 loss is the summary's first loss");
        Assert.AreEqual(last, Number(epochs[^1], "loss"), 1e-12, "the chief's epoch-5 loss is the summary's last loss");
        // The labels follow a fixed linear rule over 4 classes; a trained model is far above chance (0.25).
        Assert.IsGreaterThan(0.5, Number(epochs[^1], "accuracy"), "final training accuracy");
    }

    /// <summary>The README's path, relative to the repository root, in the configuration the tests were built in.</summary>
    private static string ExampleDll()
    {
        var configuration = typeof(MultiWorkerExampleTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var project = Path.Combine(dir.FullName, "examples", "MultiWorker");
            if (!File.Exists(Path.Combine(project, "MultiWorker.csproj"))) continue;
            var dll = Path.Combine(project, "bin", configuration, "net10.0", "MultiWorker.dll");
            Assert.IsTrue(File.Exists(dll), $"{dll} was not built (the test project references examples/MultiWorker so that it is).");
            return dll;
        }
        Assert.Fail($"No examples/MultiWorker above {AppContext.BaseDirectory}.");
        return null!;
    }

    private static int Int(Match m, string group) => int.Parse(m.Groups[group].Value, CultureInfo.InvariantCulture);

    private static double Number(Match m, string group) => double.Parse(m.Groups[group].Value, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^worker (?<w>\d+) of (?<size>\d+): replicas (?<first>\d+)\.\.(?<last>\d+) of (?<total>\d+)\r?$", RegexOptions.Multiline)]
    private static partial Regex LayoutLine();

    [GeneratedRegex(@"^worker (?<w>\d+): loss (?<first>[0-9.]+) -> (?<last>[0-9.]+), weights (?<same>identical to|DIFFERENT from) worker 0's\r?$", RegexOptions.Multiline)]
    private static partial Regex SummaryLine();

    [GeneratedRegex(@"^\d+/\d+ - .* - loss: (?<loss>[0-9.]+) - accuracy: (?<accuracy>[0-9.]+)", RegexOptions.Multiline)]
    private static partial Regex EpochLine();
}
