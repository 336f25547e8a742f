using System.Globalization;
using System.Text.RegularExpressions;

namespace TfSyncBN.NotebookRunner;

/// <summary>
/// Compares stored notebook outputs with freshly produced ones: the text must be the same once timings are masked, and
/// every number must agree within what float32 rounding and display rounding allow.
/// </summary>
/// <remarks>
/// <para>What is masked: wall-clock times and throughputs (<c>12ms/step</c>, <c>3s</c>, <c>1.5 s/epoch</c>,
/// <c>444 images/s</c>, <c>00:00:03.75</c>), the only values of a seeded run that change from run to run, and the
/// repository's path. Everything else is compared, accuracies, losses and differences included.</para>
/// <para>Why numbers get a tolerance rather than exact text: a seeded run repeats bit for bit on one machine (Vector512
/// and Vector256 kernels give the same bits too), but with 128-bit vectors only (an x64 without AVX2, or ARM64) the
/// reduction order of <c>TensorPrimitives</c> changes and so do the last digits: a logit of -4.015769 becomes
/// -4.015771 after six epochs. So two numbers match when they differ by at most one unit in the last printed digit
/// (values near a rounding boundary print either way) plus 1e-5 of their magnitude (20 times the largest drift seen) plus 1e-6 (rounding-level values
/// such as a 6.0E-007 difference between SyncBN and one-device BN). Two integers (counts, sizes) must be equal. A stale
/// output still fails: a one-image change in a 500-image accuracy moves it by 0.2%, far beyond these bounds.</para>
/// </remarks>
public static partial class OutputComparison
{
    /// <summary>Relative tolerance of a number (float32 reduction order on other vector widths, amplified by training).</summary>
    public const double RelativeTolerance = 1e-5;

    /// <summary>Absolute tolerance of a number (rounding-level values of order 1e-7).</summary>
    public const double AbsoluteTolerance = 1e-6;

    /// <summary>
    /// The first difference between the stored outputs of a cell and the produced ones, or null when they match (same
    /// kinds in the same order, and text and HTML equal under <see cref="TextDifference"/>).
    /// </summary>
    public static string? CellDifference(IReadOnlyList<CellOutput> stored, IReadOnlyList<CellOutput> produced, string? repositoryRoot = null)
    {
        ArgumentNullException.ThrowIfNull(stored);
        ArgumentNullException.ThrowIfNull(produced);
        if (stored.Count != produced.Count)
            return $"{stored.Count} stored outputs ({string.Join(", ", stored.Select(o => o.Kind))}), {produced.Count} produced ({string.Join(", ", produced.Select(o => o.Kind))})";
        for (int i = 0; i < stored.Count; i++)
        {
            if (stored[i].Kind != produced[i].Kind) return $"output {i}: stored {stored[i].Kind}, produced {produced[i].Kind}";
            if (TextDifference(stored[i].Text, produced[i].Text, repositoryRoot) is { } text) return $"output {i} ({stored[i].Kind}) text: {text}";
            if ((stored[i].Html is null) != (produced[i].Html is null))
                return $"output {i} ({stored[i].Kind}): HTML {(stored[i].Html is null ? "produced but not stored" : "stored but not produced")}";
            if (stored[i].Html is { } html && TextDifference(html, produced[i].Html!, repositoryRoot) is { } h) return $"output {i} ({stored[i].Kind}) HTML: {h}";
        }
        return null;
    }

    /// <summary>
    /// The first difference between two output texts after <see cref="Normalize"/>, or null when they match: the text
    /// between numbers must be identical, and the numbers pairwise within the tolerances described on the class.
    /// </summary>
    public static string? TextDifference(string stored, string produced, string? repositoryRoot = null)
    {
        ArgumentNullException.ThrowIfNull(stored);
        ArgumentNullException.ThrowIfNull(produced);
        var a = Tokens(Normalize(stored, repositoryRoot));
        var b = Tokens(Normalize(produced, repositoryRoot));
        for (int i = 0; i < Math.Max(a.Count, b.Count); i++)
        {
            if (i >= a.Count || i >= b.Count)
                return $"stored text ends at token {Math.Min(a.Count, b.Count)} of {Math.Max(a.Count, b.Count)} {(i >= a.Count ? "produced" : "stored")}: ...{Context(i >= a.Count ? b : a, i)}";
            var (x, y) = (a[i], b[i]);
            if (x.IsNumber != y.IsNumber || !x.IsNumber && x.Text != y.Text)
                return $"stored \"{Context(a, i)}\", produced \"{Context(b, i)}\"";
            if (x.IsNumber && !NumbersMatch(x.Text, y.Text))
                return $"number {x.Text} stored, {y.Text} produced, in \"{Context(b, i)}\"";
        }
        return null;
    }

    /// <summary>
    /// The text with line endings unified, timings and throughputs replaced by <c>&lt;time&gt;</c> and
    /// <c>&lt;rate&gt;</c>, and <paramref name="repositoryRoot"/> by <c>&lt;repo&gt;</c>.
    /// </summary>
    public static string Normalize(string text, string? repositoryRoot = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = text.ReplaceLineEndings("\n");
        if (!string.IsNullOrEmpty(repositoryRoot)) text = text.Replace(repositoryRoot.TrimEnd('/', '\\'), "<repo>", StringComparison.Ordinal);
        text = Rate().Replace(text, "<rate>");
        text = Clock().Replace(text, "<time>");
        return Duration().Replace(text, "<time>");
    }

    /// <summary>Whether two printed numbers agree within the tolerances described on the class.</summary>
    public static bool NumbersMatch(string stored, string produced)
    {
        if (stored == produced) return true;
        double a = double.Parse(stored, NumberStyles.Float, CultureInfo.InvariantCulture);
        double b = double.Parse(produced, NumberStyles.Float, CultureInfo.InvariantCulture);
        if (IsInteger(stored) && IsInteger(produced)) return a == b;
        double slack = Math.Max(LastDigit(stored), LastDigit(produced)) + RelativeTolerance * Math.Max(Math.Abs(a), Math.Abs(b)) + AbsoluteTolerance;
        // The slack itself is a sum of decimals: allow for its own rounding.
        return Math.Abs(a - b) <= slack * (1 + 1e-9);
    }

    private static bool IsInteger(string number) => !number.Contains('.') && !number.Contains('e') && !number.Contains('E');

    /// <summary>One unit in the last printed digit: 0.1 for "29.3", 1e-8 for "6.0E-007", 0 for an integer.</summary>
    private static double LastDigit(string number)
    {
        if (IsInteger(number)) return 0;
        int e = number.IndexOfAny(['e', 'E']);
        string mantissa = e < 0 ? number : number[..e];
        int exponent = e < 0 ? 0 : int.Parse(number[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        int dot = mantissa.IndexOf('.');
        int decimals = dot < 0 ? 0 : mantissa.Length - dot - 1;
        return Math.Pow(10, exponent - decimals);
    }

    private readonly record struct Token(string Text, bool IsNumber);

    private static List<Token> Tokens(string text)
    {
        var tokens = new List<Token>();
        int at = 0;
        foreach (Match m in Number().Matches(text))
        {
            if (m.Index > at) tokens.Add(new Token(text[at..m.Index], false));
            tokens.Add(new Token(m.Value, true));
            at = m.Index + m.Length;
        }
        if (at < text.Length) tokens.Add(new Token(text[at..], false));
        return tokens;
    }

    private static string Context(List<Token> tokens, int i)
    {
        string text = string.Concat(tokens.Skip(Math.Max(0, i - 3)).Take(7).Select(t => t.Text));
        return text.Length > 160 ? text[..160] + "..." : text;
    }

    /// <summary>A decimal number: optional sign, digits with an optional fraction, an optional exponent.</summary>
    [GeneratedRegex(@"[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")]
    private static partial Regex Number();

    /// <summary>A throughput: a number and a unit per second (<c>444 images/s</c>, <c>12.5 it/s</c>, <c>3 MB/s</c>).</summary>
    [GeneratedRegex(@"(?<![\w.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\s?[A-Za-z]+/s(?:ec)?\b")]
    private static partial Regex Rate();

    /// <summary>A clock reading such as a <c>TimeSpan</c>: <c>00:00:03.75</c>, <c>1:02:03</c>.</summary>
    [GeneratedRegex(@"(?<![\w.:])\d{1,2}:\d{2}:\d{2}(?:\.\d+)?(?![\w:])")]
    private static partial Regex Clock();

    /// <summary>A duration: a number and a time unit, optionally per step or epoch (<c>3s</c>, <c>286ms/step</c>, <c>1.5 s/epoch</c>).</summary>
    [GeneratedRegex(@"(?<![\w.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\s?(?:ns|us|µs|ms|s|sec|secs|seconds|min|minutes|h)(?:/(?:step|epoch|batch|it|iter|image|sample))?(?![\w/])")]
    private static partial Regex Duration();
}
