using System.Diagnostics;

namespace TfSyncBN.Tooling.Tests;

/// <summary>Paths of the repository under test and a bounded way to run the dotnet CLI.</summary>
internal static class Repo
{
    /// <summary>The directory holding TfSyncBN.sln, found upwards from the test assembly.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The configuration this test assembly was built with; the libraries were built the same way.</summary>
    public static string Configuration { get; } =
#if DEBUG
        "Debug";
#else
        "Release";
#endif

    /// <summary>The machine's NuGet package cache: NUGET_PACKAGES when set, else ~/.nuget/packages.</summary>
    public static string GlobalPackagesFolder { get; } = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
        ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    /// <summary>Every library project under src/ (one directory per project), sorted by name.</summary>
    public static IReadOnlyList<string> SourceProjects() =>
        Directory.GetDirectories(Path.Combine(Root, "src"))
            .SelectMany(d => Directory.GetFiles(d, "*.csproj"))
            .OrderBy(p => p, StringComparer.Ordinal)
            .ToArray();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "TfSyncBN.sln"))) return dir.FullName;
        throw new InvalidOperationException($"No TfSyncBN.sln above {AppContext.BaseDirectory}.");
    }

    /// <summary>Runs <c>dotnet args</c> in <paramref name="workingDirectory"/>; the exit code and the combined output.</summary>
    /// <exception cref="TimeoutException">It ran longer than <paramref name="timeout"/> (the process tree is killed).</exception>
    public static (int ExitCode, string Output) Dotnet(string workingDirectory, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment = null, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        if (environment is not null) foreach (var (k, v) in environment) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var output = new System.Text.StringBuilder();
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', args)} ran longer than {timeout}:\n{output}");
        }
        p.WaitForExit();
        lock (output) return (p.ExitCode, output.ToString());
    }

    /// <summary>A fresh temporary directory, deleted by <see cref="IDisposable.Dispose"/>.</summary>
    public sealed class TempDirectory : IDisposable
    {
        public string Path { get; } = Directory.CreateDirectory(System.IO.Path.Combine(System.IO.Path.GetTempPath(), "tfsyncbn-" + Guid.NewGuid().ToString("N"))).FullName;

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }
}
