using System.Diagnostics;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Reliability.Tests.Checkpoints;

/// <summary>
/// Killing the process in the middle of <see cref="Model.SaveWeights"/> leaves the previous checkpoint loadable: a child
/// process (TfSyncBN.Reliability.SaveChild) saves a model's 4 MB of weights (Dense 1000 × 1000) to one path back to
/// back, and is killed (SIGKILL) at a random moment, several times over the same file.
/// </summary>
[TestClass]
public sealed class KillDuringSaveTests
{
    public const int Kills = 8;
    private const int Units = 1000; // the child's Dense layer: kernel [Units, Units], bias [Units]

    private static string DotnetHost()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)) return host;
        var self = Environment.ProcessPath;
        return self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
    }

    [TestMethod]
    [Timeout(120_000, CooperativeCancellation = true)]
    public void KilledMidSave_PreviousCheckpointAlwaysLoads()
    {
        string child = Path.Combine(AppContext.BaseDirectory, "TfSyncBN.Reliability.SaveChild.dll");
        Assert.IsTrue(File.Exists(child), $"the child program is built next to the tests: {child}");
        var dir = Directory.CreateTempSubdirectory("tfsyncbn-kill-");
        var rng = new System.Random(4242);
        string path = Path.Combine(dir.FullName, "checkpoint.weights");
        var variables = new[] { new Variable(Tensor.Zeros([Units, Units])), new Variable(Tensor.Zeros([Units])) };
        int midWrite = 0;
        long lastLoaded = 0;
        string[] previousLeftovers = [];
        try
        {
            for (int kill = 0; kill < Kills; kill++)
            {
                var psi = new ProcessStartInfo(DotnetHost())
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                };
                psi.ArgumentList.Add(child);
                psi.ArgumentList.Add(path);
                psi.ArgumentList.Add(Units.ToString(System.Globalization.CultureInfo.InvariantCulture));
                long acknowledged = 0;
                var firstSave = new ManualResetEventSlim();
                using var process = new Process { StartInfo = psi };
                process.OutputDataReceived += (_, e) =>
                {
                    if (e.Data is { } line && line.StartsWith("saved ", StringComparison.Ordinal))
                    {
                        Interlocked.Exchange(ref acknowledged, long.Parse(line[6..], System.Globalization.CultureInfo.InvariantCulture));
                        firstSave.Set();
                    }
                };
                var stderr = new System.Text.StringBuilder();
                process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
                process.Start();
                process.BeginOutputReadLine();
                process.BeginErrorReadLine();
                try
                {
                    Assert.IsTrue(firstSave.Wait(TimeSpan.FromSeconds(30)) || process.HasExited && firstSave.IsSet,
                        $"kill {kill}: the child saved nothing within 30 s (exited: {process.HasExited}); stderr: {stderr}");
                    Thread.Sleep(rng.Next(5, 120)); // a random moment: the child spends nearly all its time inside Save
                    Assert.IsFalse(process.HasExited, $"kill {kill}: the child ended on its own; stderr: {stderr}");
                    process.Kill(entireProcessTree: true);
                }
                finally
                {
                    if (!process.HasExited) process.Kill(entireProcessTree: true);
                    Assert.IsTrue(process.WaitForExit(30_000), "the killed child exits");
                    process.WaitForExit(); // and drain its redirected output: every "saved k" it wrote is counted
                }
                long ack = Interlocked.Read(ref acknowledged);
                // The child's first save removed what earlier kills left (issue #16, item 9): at most this kill's file remains.
                var leftovers = Directory.GetFiles(dir.FullName, "*.tmp");
                foreach (var f in previousLeftovers)
                    Assert.IsFalse(File.Exists(f), $"kill {kill}: the temporary file of an earlier killed save, {Path.GetFileName(f)}, was removed by the next save");
                Assert.IsTrue(leftovers.Length <= 1, $"kill {kill}: {leftovers.Length} temporary files beside the target");
                // A temporary file the child could not finish (or delete) means the kill landed inside a save.
                if (leftovers.Length > 0) midWrite++;
                previousLeftovers = leftovers;

                WeightsFile.Load(path, variables); // must not throw: the previous checkpoint is intact
                float k = variables[0].Value.AsSpan()[0];
                foreach (var v in variables)
                    Assert.IsTrue(v.Value.AsSpan().IndexOfAnyExcept(k) < 0, $"kill {kill}: every value is from one save (k = {k})");
                Assert.IsTrue(k >= ack, $"kill {kill}: the file holds save {k}, but save {ack} had returned before the kill");
                Assert.IsTrue(k <= ack + 1, $"kill {kill}: save {k} cannot be newer than the one in progress");
                lastLoaded = (long)k;
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
        Console.WriteLine($"{Kills} kills: {midWrite} landed inside a save (temporary file left behind); the checkpoint loaded every time (last: save {lastLoaded})");
        Assert.IsTrue(midWrite >= 1, $"at least one of {Kills} kills lands inside a save (got {midWrite}): the test must exercise the interrupted write");
    }
}
