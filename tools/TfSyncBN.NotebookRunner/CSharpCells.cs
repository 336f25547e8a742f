using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Scripting;

namespace TfSyncBN.NotebookRunner;

/// <summary>
/// The globals of the C# cells: <c>display(...)</c> as the C# kernel offers it (<c>Kernel.display</c>). Public, and in a
/// file-loaded assembly, as Roslyn scripting requires of a globals type.
/// </summary>
public sealed class NotebookGlobals
{
    internal List<CellOutput> Outputs { get; set; } = [];
    internal CapturingWriter Console { get; } = new();

    /// <summary>Shows <paramref name="value"/> as a display_data output (HTML when its type has a formatter) and returns it.</summary>
#pragma warning disable IDE1006 // the kernel's name
    public object? display(object? value, params string[] mimeTypes)
#pragma warning restore IDE1006
    {
        Console.FlushTo(Outputs);
        Outputs.Add(new CellOutput("display_data", Formatting.Plain(value), Formatting.Html(value)));
        return value;
    }
}

/// <summary>Console output of the running cell, cut into stream outputs around display calls.</summary>
internal sealed class CapturingWriter : TextWriter
{
    private readonly StringBuilder pending = new();

    public override Encoding Encoding => Encoding.UTF8;

    public override void Write(char value)
    {
        lock (pending) pending.Append(value);
    }

    public override void Write(string? value)
    {
        lock (pending) pending.Append(value);
    }

    public void FlushTo(List<CellOutput> outputs)
    {
        lock (pending)
        {
            if (pending.Length > 0) outputs.Add(new CellOutput("stream", pending.ToString()));
            pending.Clear();
        }
    }
}

/// <summary>C# cells as the .NET Interactive C# kernel runs them: one Roslyn script state continued cell by cell.</summary>
internal static class CSharpCells
{
    public static async Task RunAsync(IReadOnlyList<CodeCell> cells, Dictionary<int, IReadOnlyList<CellOutput>> outputs, TimeSpan timeout)
    {
        // The kernel's defaults (CSharpKernel): latest language version and these imports.
        var options = ScriptOptions.Default
            .WithLanguageVersion(LanguageVersion.Latest)
            .WithImports("System", "System.Text", "System.Collections", "System.Collections.Generic", "System.Threading.Tasks", "System.Linq")
            .WithReferences(typeof(object).Assembly, typeof(Enumerable).Assembly)
            .WithMetadataResolver(ScriptMetadataResolver.Default.WithBaseDirectory(Environment.CurrentDirectory))
            .WithEmitDebugInformation(false);
        var globals = new NotebookGlobals();
        ScriptState<object>? state = null;
        var deadline = DateTime.UtcNow + timeout;
        var originalOut = Console.Out;
        try
        {
            Console.SetOut(globals.Console);
            foreach (var cell in cells)
            {
                var list = new List<CellOutput>();
                globals.Outputs = list;
                outputs[cell.Index] = list;
                string code = Runner.Preprocess(cell, dll => $"#r \"{dll}\"");
                try
                {
                    var run = state is null
                        ? CSharpScript.RunAsync(code, options, globals, typeof(NotebookGlobals))
                        : state.ContinueWithAsync(code, options);
                    var remaining = deadline - DateTime.UtcNow;
                    state = await run.WaitAsync(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero);
                }
                catch (CompilationErrorException e)
                {
                    throw new NotebookException(cell.Index, "compile error:\n" + string.Join("\n", e.Diagnostics.Select(d => d.ToString())));
                }
                catch (TimeoutException)
                {
                    throw new NotebookException(cell.Index, $"the notebook ran longer than {timeout}.");
                }
                catch (Exception e) when (e is not NotebookException)
                {
                    throw new NotebookException(cell.Index, "runtime error: " + e);
                }
                globals.Console.FlushTo(list);
                if (state.ReturnValue is { } value && HasTrailingExpression(code))
                    list.Add(new CellOutput("execute_result", Formatting.Plain(value), Formatting.Html(value)));
            }
        }
        finally
        {
            Console.SetOut(originalOut);
        }
    }

    /// <summary>True when the cell ends with an expression without a semicolon (its value is the cell's result).</summary>
    private static bool HasTrailingExpression(string code)
    {
        var tree = CSharpSyntaxTree.ParseText(code, CSharpParseOptions.Default.WithKind(SourceCodeKind.Script).WithLanguageVersion(LanguageVersion.Latest));
        var last = tree.GetCompilationUnitRoot().Members.LastOrDefault();
        return last is Microsoft.CodeAnalysis.CSharp.Syntax.GlobalStatementSyntax { Statement: Microsoft.CodeAnalysis.CSharp.Syntax.ExpressionStatementSyntax { SemicolonToken.IsMissing: true } };
    }
}
