using System.Text;
using System.Text.RegularExpressions;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.CSharp;
using Microsoft.DotNet.Interactive.Events;
using Microsoft.DotNet.Interactive.PackageManagement;

namespace TfSyncBN.NotebookRunner;

/// <summary>
/// C# cells in .NET Interactive's own C# kernel (<c>Microsoft.DotNet.Interactive.CSharp</c>), set up as the
/// dotnet-interactive tool sets it up: kernel helpers (<c>display</c>), value sharing, and the <c>#r "nuget: ..."</c> /
/// <c>#i "nuget: ..."</c> directives restoring packages with NuGet. Values are formatted by the kernel's formatter,
/// which finds TfSyncBN's HTML and SVG formatters through their <c>TypeFormatterSourceAttribute</c>.
/// </summary>
internal static partial class CSharpCells
{
    public static async Task RunAsync(IReadOnlyList<CodeCell> cells, Dictionary<int, IReadOnlyList<CellOutput>> outputs, string notebookDirectory, TimeSpan timeout)
    {
        using var kernel = new CSharpKernel()
            .UseKernelHelpers()
            .UseValueSharing()
            .UseNugetDirective((k, references) =>
            {
                k.AddAssemblyReferences(references.SelectMany(r => r.AssemblyPaths));
                return Task.CompletedTask;
            });
        var deadline = DateTime.UtcNow + timeout;
        foreach (var cell in cells)
        {
            string code = ResolveSourcePaths(cell.Source, notebookDirectory);
            KernelCommandResult result;
            try
            {
                var remaining = deadline - DateTime.UtcNow;
                result = await kernel.SendAsync(new SubmitCode(code)).WaitAsync(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero);
            }
            catch (TimeoutException)
            {
                throw new NotebookException(cell.Index, $"the notebook ran longer than {timeout}.");
            }
            var list = new List<CellOutput>();
            outputs[cell.Index] = list;
            foreach (var e in result.Events)
            {
                switch (e)
                {
                    case CommandFailed failed:
                        bool compile = CompileError().IsMatch(failed.Message);
                        throw new NotebookException(cell.Index, (compile ? "compile error:\n" : "runtime error: ") + failed.Message);
                    case StandardOutputValueProduced o:
                        AppendStream(list, Text(o, "text/plain") ?? "");
                        break;
                    case DisplayedValueProduced d when d.Value is InstallPackagesMessage:
                        break; // the restore progress of #r "nuget: ..." (versions and sources vary by machine)
                    case ReturnValueProduced r:
                        list.Add(new CellOutput("execute_result", Text(r, "text/plain") ?? "", Text(r, "text/html")));
                        break;
                    case DisplayedValueProduced d:
                        list.Add(new CellOutput("display_data", Text(d, "text/plain") ?? "", Text(d, "text/html")));
                        break;
                }
            }
        }
    }

    /// <summary>
    /// <c>#i "nuget: PATH"</c> with a relative local path, made absolute against the notebook's directory: the kernel
    /// resolves it against its working directory, which Polyglot Notebooks and Jupyter set to the notebook's directory.
    /// </summary>
    internal static string ResolveSourcePaths(string source, string notebookDirectory) =>
        SourceDirective().Replace(source, m =>
        {
            string path = m.Groups["path"].Value.Trim();
            if (path.Contains("://", StringComparison.Ordinal) || Path.IsPathRooted(path)) return m.Value;
            return $"#i \"nuget: {Path.GetFullPath(Path.Combine(notebookDirectory, path))}\"";
        });

    private static string? Text(DisplayEvent e, string mimeType) => e.FormattedValues.FirstOrDefault(f => f.MimeType == mimeType)?.Value;

    /// <summary>Console writes arrive piece by piece: consecutive pieces form one stream output, as Jupyter shows them.</summary>
    private static void AppendStream(List<CellOutput> list, string text)
    {
        if (list.Count > 0 && list[^1].Kind == "stream") list[^1] = list[^1] with { Text = list[^1].Text + text };
        else list.Add(new CellOutput("stream", text));
    }

    [GeneratedRegex(@"error CS\d{4}")]
    private static partial Regex CompileError();

    [GeneratedRegex("""^\s*#i\s+"nuget:\s*(?<path>[^"]+)"\s*$""", RegexOptions.Multiline)]
    private static partial Regex SourceDirective();
}
