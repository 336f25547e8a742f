using TfSyncBN.NotebookRunner;

// dotnet run --project tools/TfSyncBN.NotebookRunner -c Release -- [--write] [notebook.ipynb ...]
// Without paths it runs every notebook under notebooks/. Exit code 0 when every cell ran, 1 otherwise, 2 on bad arguments.
bool write = args.Contains("--write");
var paths = args.Where(a => a != "--write").ToList();
if (paths.Any(p => p.StartsWith('-')))
{
    Console.Error.WriteLine("usage: TfSyncBN.NotebookRunner [--write] [notebook.ipynb ...]");
    return 2;
}
if (paths.Count == 0) paths.AddRange(Runner.DefaultNotebooks());
int failed = 0;
foreach (var path in paths)
{
    var result = await Runner.RunAsync(path, write);
    Console.WriteLine($"{(result.Succeeded ? "ok  " : "FAIL")} {path}: {result.CellsRun} code cells in {result.Elapsed.TotalSeconds:F1} s{(write && result.Succeeded ? ", outputs written" : "")}");
    if (!result.Succeeded)
    {
        Console.WriteLine(result.Error);
        failed++;
    }
}
return failed == 0 ? 0 : 1;
