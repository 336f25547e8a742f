using System.Diagnostics;
using System.Text;

namespace TfSyncBN.Mpi.Tests;

/// <summary>The outcome of one test-host run.</summary>
internal sealed record JobResult(int ExitCode, string Output, TimeSpan Elapsed, bool TimedOut)
{
    /// <summary>
    /// <see cref="Output"/> without Open MPI's notices (blocks framed by lines of dashes, e.g. the MPI_ABORT note), which
    /// mpirun writes into the same stream while it forwards a rank's output, so that a notice can land inside a rank's line.
    /// </summary>
    public string Messages => System.Text.RegularExpressions.Regex.Replace(Output, @"-{20,}\r?\n.*?-{20,}\r?\n", "",
        System.Text.RegularExpressions.RegexOptions.Singleline);
}

/// <summary>Starts the test host (TfSyncBN.Mpi.TestHost.dll, next to the tests) under mpirun or alone, with a bounded wait.</summary>
internal static class MpiJob
{
    /// <summary>Loopback transport, as root, more ranks than cores: works in containers and CI.</summary>
    private static readonly string[] MpirunOptions =
    [
        "--allow-run-as-root", "--oversubscribe",
        "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo",
        "-x", "TERM=dumb",
    ];

    public static string HostDll => Path.Combine(AppContext.BaseDirectory, "TfSyncBN.Mpi.TestHost.dll");

    /// <summary>The full path of mpirun; fails the test (CI installs Open MPI, so a missing mpirun is an error, not a skip).</summary>
    public static string Mpirun()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "mpirun");
            if (File.Exists(candidate)) return candidate;
        }
        Assert.Fail("mpirun was not found on PATH, so the multi-process tests cannot run. Install Open MPI: " +
            "`sudo apt-get install -y openmpi-bin libopenmpi-dev` (.ci/run does this).");
        return null!;
    }

    /// <summary>Runs <c>mpirun -np <paramref name="ranks"/> dotnet TestHost.dll args</c>, killed after <paramref name="limit"/>.</summary>
    public static JobResult RunMpi(int ranks, TimeSpan limit, params string[] hostArgs) => RunMpiProgram(ranks, limit, HostDll, hostArgs);

    /// <summary>Runs <c>mpirun -np <paramref name="ranks"/> dotnet <paramref name="dll"/> args</c> (any program), killed after <paramref name="limit"/>.</summary>
    public static JobResult RunMpiProgram(int ranks, TimeSpan limit, string dll, params string[] programArgs) =>
        Run(Mpirun(), [.. MpirunOptions, "-np", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture), Dotnet(), dll, .. programArgs], limit);

    /// <summary>Runs <c>dotnet TestHost.dll args</c> without mpirun (a single worker).</summary>
    public static JobResult RunAlone(TimeSpan limit, params string[] hostArgs) => Run(Dotnet(), [HostDll, .. hostArgs], limit);

    /// <summary>A fresh directory for one job's output files.</summary>
    public static string NewOutputDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), "tfsyncbn-mpi-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string Dotnet() => Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";

    private static JobResult Run(string file, IReadOnlyList<string> arguments, TimeSpan limit)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        info.Environment["TERM"] = "dumb";
        // The job must not think it is a rank of some enclosing MPI job.
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("OMPI_COMM_WORLD", StringComparison.Ordinal) || k.StartsWith("PMIX_", StringComparison.Ordinal)).ToList())
            info.Environment.Remove(key);
        var output = new StringBuilder();
        using var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        var clock = Stopwatch.StartNew();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        bool exited = process.WaitForExit(limit);
        if (!exited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        else
        {
            process.WaitForExit(); // drains the redirected streams
        }
        lock (output) return new JobResult(exited ? process.ExitCode : -1, output.ToString(), clock.Elapsed, !exited);
    }
}
