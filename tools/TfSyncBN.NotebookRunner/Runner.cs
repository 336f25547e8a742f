using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace TfSyncBN.NotebookRunner;

/// <summary>The result of running one notebook: success, the outputs of each code cell (by cell index) and the first error.</summary>
public sealed record NotebookResult(bool Succeeded, int CellsRun, TimeSpan Elapsed, string? Error, IReadOnlyDictionary<int, IReadOnlyList<CellOutput>> Outputs);

/// <summary>Runs the code cells of a notebook: C# in .NET Interactive's C# kernel, F# through <c>dotnet fsi</c> (no F# kernel package is available).</summary>
public static partial class Runner
{
    /// <summary>The longest a notebook may run before it counts as failed.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(3);

    /// <summary>
    /// A version for a locally packed TfSyncBN that sorts above every earlier one, <c>0.1.0-local.&lt;Unix seconds&gt;</c>,
    /// so a notebook's <c>#r "nuget: TfSyncBN, *-*"</c> restores the newest pack rather than a stale cached copy.
    /// </summary>
    public static string LocalPackageVersion() => $"0.1.0-local.{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}";

    /// <summary>
    /// Packs src/TfSyncBN (Release) into the local feed <c>artifacts/packages</c> under <see cref="LocalPackageVersion"/>,
    /// with the command the README gives; returns the output of <c>dotnet pack</c>.
    /// </summary>
    /// <exception cref="InvalidOperationException">dotnet pack failed.</exception>
    public static string PackLocalFeed()
    {
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = RepositoryRoot(), RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "pack", "src/TfSyncBN", "-c", "Release", "-o", "artifacts/packages", $"-p:PackageVersion={LocalPackageVersion()}" }) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd() + stderr.Result;
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException("dotnet pack failed:\n" + output);
        return output;
    }

    /// <summary>Every <c>.ipynb</c> under the repository's notebooks/ folder, sorted.</summary>
    public static IReadOnlyList<string> DefaultNotebooks() =>
        Directory.GetFiles(Path.Combine(RepositoryRoot(), "notebooks"), "*.ipynb").Order(StringComparer.Ordinal).ToArray();

    /// <summary>The directory holding TfSyncBN.sln, above the current directory or this program.</summary>
    public static string RepositoryRoot()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "TfSyncBN.sln"))) return dir.FullName;
        throw new InvalidOperationException("Run the notebook runner inside the TfSyncBN repository.");
    }

    /// <summary>
    /// Runs every code cell of <paramref name="path"/> in order and, when <paramref name="write"/> is true and all
    /// cells succeed, stores their outputs in the notebook file (or in <paramref name="outputPath"/> when given).
    /// </summary>
    public static async Task<NotebookResult> RunAsync(string path, bool write = false, TimeSpan? timeout = null, string? outputPath = null)
    {
        var clock = Stopwatch.StartNew();
        var notebook = Notebook.Load(path);
        var cells = notebook.CodeCells();
        var outputs = new Dictionary<int, IReadOnlyList<CellOutput>>();
        string? error = null;
        var limit = timeout ?? DefaultTimeout;
        string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        try
        {
            var csharp = cells.Where(c => c.Language == "csharp").ToList();
            var fsharp = cells.Where(c => c.Language == "fsharp").ToList();
            var other = cells.FirstOrDefault(c => c.Language is not ("csharp" or "fsharp"));
            if (other is not null) throw new NotebookException(other.Index, $"language '{other.Language}' is not supported (csharp, fsharp).");
            if (csharp.Count > 0) await CSharpCells.RunAsync(csharp, outputs, directory, limit);
            if (fsharp.Count > 0) FSharpCells.Run(fsharp, outputs, directory, limit);
        }
        catch (NotebookException e)
        {
            error = $"{Path.GetFileName(path)}, cell {e.CellIndex}: {e.Message}";
        }
        if (error is null && write)
        {
            notebook.SetOutputs(outputs);
            notebook.Save(outputPath ?? path);
        }
        return new NotebookResult(error is null, cells.Count, clock.Elapsed, error, outputs);
    }

    /// <summary>
    /// An F# cell's source for <c>dotnet fsi</c>: <c>#!</c> magic lines and <c>#i "nuget: ..."</c> source lines dropped, and
    /// <c>#r "nuget: TfSyncBN[.X][, version]"</c> mapped to the locally built assembly (<paramref name="mapReference"/>
    /// gives the replacement line).
    /// </summary>
    /// <exception cref="NotebookException">A <c>nuget:</c> reference to another package (not available offline).</exception>
    internal static string Preprocess(CodeCell cell, Func<string, string> mapReference)
    {
        var sb = new StringBuilder();
        foreach (var line in cell.Source.ReplaceLineEndings("\n").Split('\n'))
        {
            if (line.TrimStart().StartsWith("#!", StringComparison.Ordinal) || line.TrimStart().StartsWith("#i \"nuget:", StringComparison.Ordinal)) { sb.Append('\n'); continue; }
            var m = NugetReference().Match(line);
            if (m.Success)
            {
                string package = m.Groups["id"].Value;
                if (!package.Equals("TfSyncBN", StringComparison.OrdinalIgnoreCase) && !package.StartsWith("TfSyncBN.", StringComparison.OrdinalIgnoreCase))
                    throw new NotebookException(cell.Index, $"#r \"nuget: {package}\": only TfSyncBN packages are available to notebooks here.");
                sb.Append(mapReference(LocalAssembly(cell.Index, package))).Append('\n');
                continue;
            }
            sb.Append(line).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>
    /// The built assembly of a TfSyncBN package for F# cells, named like the package: next to the running program when
    /// it is there, else the newest <c>src/&lt;package&gt;/bin/&lt;configuration&gt;/net10.0/&lt;package&gt;.dll</c>.
    /// Found by file name, never loaded into this process.
    /// </summary>
    internal static string LocalAssembly(int cellIndex, string package)
    {
        var beside = Directory.GetFiles(AppContext.BaseDirectory, "*.dll")
            .FirstOrDefault(f => Path.GetFileNameWithoutExtension(f).Equals(package, StringComparison.OrdinalIgnoreCase));
        if (beside is not null) return beside;
        var project = Directory.GetDirectories(Path.Combine(RepositoryRoot(), "src")).FirstOrDefault(d => Path.GetFileName(d).Equals(package, StringComparison.OrdinalIgnoreCase));
        var built = project is null || !Directory.Exists(Path.Combine(project, "bin")) ? null
            : Directory.GetFiles(Path.Combine(project, "bin"), Path.GetFileName(project) + ".dll", SearchOption.AllDirectories)
                .Where(f => Path.GetFileName(Path.GetDirectoryName(f)) == "net10.0").OrderByDescending(File.GetLastWriteTimeUtc).FirstOrDefault();
        return built ?? throw new NotebookException(cellIndex, $"#r \"nuget: {package}\": no built {package}.dll under src/{package}/bin (build it first).");
    }

    [GeneratedRegex("""^\s*#r\s+"nuget:\s*(?<id>[A-Za-z0-9_.\-]+)\s*(,[^"]*)?"\s*$""")]
    private static partial Regex NugetReference();
}

/// <summary>A cell failed to compile or threw; <see cref="CellIndex"/> is its index among all cells.</summary>
public sealed class NotebookException(int cellIndex, string message) : Exception(message)
{
    public int CellIndex { get; } = cellIndex;
}
