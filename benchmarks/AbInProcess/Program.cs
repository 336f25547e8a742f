using System.Globalization;
using System.Reflection;
using System.Runtime.Loader;
using System.Text.RegularExpressions;

// In-process A/B of `probe-fixed` (FixedProbe.Run) between two builds of the benchmarks: both builds are loaded into
// one process, each into its own AssemblyLoadContext with its own dependencies, and every round runs one batch of
// calls of each (A then B in even rounds, B then A in odd ones). Process-to-process variation (memory placement, the
// machine's state) then affects both sides alike. Prints the medians and minimums of each side and the paired ratios.
// Which side is loaded second has its own small bias (A/A control: about 1.5%): run both arrangements (A B and B A) and
// combine them as sqrt(r_AB / r_BA) (benchmarks/probe-ab-inproc.sh does).
// usage: dotnet run --project benchmarks/AbInProcess -c Release -- DIR_A DIR_B ROUNDS FIGURE SHAPE LAYOUT THREADS WARMUP CALLS
var dirs = new[] { args[0], args[1] };
int rounds = int.Parse(args[2]);
string figure = args[3], shape = args[4], layout = args[5];
int threads = int.Parse(args[6]), warmup = int.Parse(args[7]), calls = int.Parse(args[8]);
var runs = dirs.Select(d =>
{
    var ctx = new Side(Path.Combine(d, "TfSyncBN.Benchmarks.dll"));
    var asm = ctx.LoadFromAssemblyPath(Path.GetFullPath(Path.Combine(d, "TfSyncBN.Benchmarks.dll")));
    var m = asm.GetType("TfSyncBN.Benchmarks.FixedProbe")!.GetMethod("Run", BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Static)!;
    return (Func<string>)(() =>
    {
        var sw = new StringWriter();
        var old = Console.Out;
        Console.SetOut(sw);
        try { m.Invoke(null, [figure, shape, layout, threads, warmup, calls]); }
        finally { Console.SetOut(old); }
        return sw.ToString();
    });
}).ToArray();
var rx = new Regex(@"min ([0-9.]+) median ([0-9.]+) mean ([0-9.]+) ms");
var min = new List<double>[] { [], [] };
var med = new List<double>[] { [], [] };
for (int r = 0; r < rounds; r++)
{
    int[] order = r % 2 == 0 ? [0, 1] : [1, 0];
    foreach (int s in order)
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        var text = runs[s]();
        var match = rx.Match(text);
        if (!match.Success) throw new Exception("unparsed: " + text);
        min[s].Add(double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture));
        med[s].Add(double.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture));
    }
}
static double Median(IEnumerable<double> v) { var a = v.OrderBy(x => x).ToArray(); return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2; }
var ratioMed = med[1].Zip(med[0], (b, a) => b / a).OrderBy(x => x).ToArray();
var ratioMin = min[1].Zip(min[0], (b, a) => b / a).OrderBy(x => x).ToArray();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"{figure} {shape} {layout} t={threads} rounds={rounds}: A min {min[0].Min():F3} med {Median(med[0]):F3} | B min {min[1].Min():F3} med {Median(med[1]):F3} | " +
    $"B/A of paired medians: median {Median(ratioMed):F3} [q1 {ratioMed[rounds / 4]:F3}, q3 {ratioMed[3 * rounds / 4]:F3}] | B/A of paired minimums: median {Median(ratioMin):F3} [q1 {ratioMin[rounds / 4]:F3}, q3 {ratioMin[3 * rounds / 4]:F3}] | B/A of best min {min[1].Min() / min[0].Min():F3}"));

sealed class Side(string mainAssembly) : AssemblyLoadContext(Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(mainAssembly)))!)
{
    private readonly AssemblyDependencyResolver resolver = new(Path.GetFullPath(mainAssembly));
    protected override Assembly? Load(AssemblyName name) => resolver.ResolveAssemblyToPath(name) is { } p ? LoadFromAssemblyPath(p) : null;
    protected override IntPtr LoadUnmanagedDll(string name) => resolver.ResolveUnmanagedDllToPath(name) is { } p ? LoadUnmanagedDllFromPath(p) : IntPtr.Zero;
}
