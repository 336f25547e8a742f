using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace TfSyncBN.NotebookRunner;

/// <summary>
/// F# cells through <c>dotnet fsi</c>: the cells, in order, form one script after a prelude that defines
/// <c>display</c>; marker lines on stdout cut the output back into cells.
/// </summary>
internal static partial class FSharpCells
{
    private const string Marker = "\u001eNOTEBOOK-RUNNER";

    /// <summary>
    /// <c>display</c> as the F# kernel offers it: HTML through the value type's formatter source, found by name
    /// exactly as <see cref="Formatting.Html"/> does, written as a marker line.
    /// </summary>
    private const string Prelude = """
        [<AutoOpen>]
        module NotebookRunnerShim =
            open System
            open System.IO
            open System.Reflection
            let private encode (s: string) = Convert.ToBase64String(Text.Encoding.UTF8.GetBytes s)
            let private html (value: obj) =
                value.GetType().GetCustomAttributes(true)
                |> Seq.filter (fun a -> a.GetType().Name = "TypeFormatterSourceAttribute")
                |> Seq.tryPick (fun a ->
                    let sourceType = a.GetType().GetProperty("FormatterSourceType").GetValue(a) :?> Type
                    let source = Activator.CreateInstance(sourceType, true)
                    let create = sourceType.GetMethod("CreateTypeFormatters", BindingFlags.Public ||| BindingFlags.NonPublic ||| BindingFlags.Instance)
                    create.Invoke(source, [||]) :?> Collections.IEnumerable
                    |> Seq.cast<obj>
                    |> Seq.tryPick (fun f ->
                        let t = f.GetType()
                        if t.GetProperty("MimeType").GetValue(f) :?> string <> "text/html" then None
                        else
                            use writer = new StringWriter()
                            if t.GetMethod("Format", [| typeof<obj>; typeof<TextWriter> |]).Invoke(f, [| value; writer |]) :?> bool
                            then Some(writer.ToString())
                            else None))
            /// Shows a value as a display_data output (HTML when its type has a formatter).
            let display (value: 'T) =
                let boxed = box value
                let plain = match boxed with | null -> "null" | v -> v.ToString()
                let h = match boxed with | null -> None | v -> html v
                Console.Out.Flush()
                Console.Out.WriteLine("MARKER display " + encode plain + " " + (match h with | Some x -> encode x | None -> "-"))
        """;

    public static void Run(IReadOnlyList<CodeCell> cells, Dictionary<int, IReadOnlyList<CellOutput>> outputs, string workingDirectory, TimeSpan timeout)
    {
        string dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "tfsyncbn-nb-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            var script = new StringBuilder(Prelude.Replace("MARKER", Marker, StringComparison.Ordinal)).Append('\n');
            var starts = new List<(int Line, int Cell)>();
            foreach (var cell in cells)
            {
                script.Append($"System.Console.Out.WriteLine(\"{Marker} cell {cell.Index}\")\n");
                starts.Add((script.ToString().Count(c => c == '\n') + 1, cell.Index));
                script.Append(Runner.Preprocess(cell, dll => $"#r @\"{dll}\"")).Append('\n');
                outputs[cell.Index] = new List<CellOutput>();
            }
            string file = Path.Combine(dir, "notebook.fsx");
            File.WriteAllText(file, script.ToString());
            var (exitCode, stdout, stderr) = Fsi(file, workingDirectory, timeout, cells[0].Index);
            int current = -1;
            var pending = new StringBuilder();
            void Flush()
            {
                if (pending.Length > 0 && current >= 0) ((List<CellOutput>)outputs[current]).Add(new CellOutput("stream", pending.ToString()));
                pending.Clear();
            }
            foreach (var line in stdout.ReplaceLineEndings("\n").Split('\n'))
            {
                if (line.StartsWith(Marker + " cell ", StringComparison.Ordinal))
                {
                    Flush();
                    current = int.Parse(line[(Marker.Length + 6)..], System.Globalization.CultureInfo.InvariantCulture);
                }
                else if (line.StartsWith(Marker + " display ", StringComparison.Ordinal) && current >= 0)
                {
                    Flush();
                    var parts = line[(Marker.Length + 9)..].Split(' ');
                    string Decode(string s) => Encoding.UTF8.GetString(Convert.FromBase64String(s));
                    ((List<CellOutput>)outputs[current]).Add(new CellOutput("display_data", Decode(parts[0]), parts[1] == "-" ? null : Decode(parts[1])));
                }
                else if (current >= 0) pending.Append(line).Append('\n');
            }
            if (pending.Length > 0 && pending[^1] == '\n' && stdout.EndsWith('\n')) pending.Length--;
            Flush();
            if (exitCode != 0)
            {
                // A compile error names a line of the script: report the cell that holds it; otherwise the cell that was running.
                var m = ErrorLine().Match(stderr);
                int cell = m.Success ? starts.LastOrDefault(s => s.Line <= int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), starts[0]).Cell
                    : current >= 0 ? current : cells[0].Index;
                throw new NotebookException(cell, $"dotnet fsi exited with {exitCode}:\n{stderr.Trim()}");
            }
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); }
            catch (IOException) { }
        }
    }

    private static (int ExitCode, string Stdout, string Stderr) Fsi(string script, string workingDirectory, TimeSpan timeout, int firstCell)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "fsi", "--quiet", "--nologo", script }) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(psi) ?? throw new NotebookException(firstCell, "could not start dotnet fsi.");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new NotebookException(firstCell, $"dotnet fsi ran longer than {timeout}.");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    [GeneratedRegex(@"notebook\.fsx\((\d+),\d+\)")]
    private static partial Regex ErrorLine();
}
