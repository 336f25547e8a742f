using TfSyncBN.NotebookRunner;

// dotnet run --project tools/TfSyncBN.NotebookRunner -c Release -- [--pack] [--write | --out FILE] [notebook.ipynb ...]
// --pack first packs src/TfSyncBN into the local feed artifacts/packages (what the C# notebooks restore from).
// --write stores the outputs in each notebook; --out FILE stores the one notebook given, with its outputs, in FILE.
// Without paths it runs every notebook under notebooks/. Exit code 0 when every cell ran, 1 otherwise, 2 on bad arguments.
bool write = args.Contains("--write");
bool pack = args.Contains("--pack");
int outIndex = Array.IndexOf(args, "--out");
string? outPath = outIndex >= 0 && outIndex + 1 < args.Length ? args[outIndex + 1] : null;
var paths = args.Where((a, i) => a is not ("--write" or "--pack" or "--out") && (outIndex < 0 || i != outIndex + 1)).ToList();
if (paths.Any(p => p.StartsWith('-')) || (outIndex >= 0 && (outPath is null || paths.Count != 1)))
{
    Console.Error.WriteLine("usage: TfSyncBN.NotebookRunner [--pack] [--write | --out FILE] [notebook.ipynb ...] (--out with exactly one notebook)");
    return 2;
}
write |= outPath is not null;
if (pack) Console.Write(Runner.PackLocalFeed());
if (paths.Count == 0) paths.AddRange(Runner.DefaultNotebooks());
int failed = 0;
foreach (var path in paths)
{
    var result = await Runner.RunAsync(path, write, outputPath: outPath);
    Console.WriteLine($"{(result.Succeeded ? "ok  " : "FAIL")} {path}: {result.CellsRun} code cells in {result.Elapsed.TotalSeconds:F1} s{(write && result.Succeeded ? ", outputs written" : "")}");
    if (!result.Succeeded)
    {
        Console.WriteLine(result.Error);
        failed++;
    }
}
return failed == 0 ? 0 : 1;
