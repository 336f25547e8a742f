using System.Diagnostics;
using System.Text.Json;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// The fused batch norm + ReLU's forward+backward in copies of its tensor, with the op and its copy reference timed
/// in the same rounds of one process: BenchmarkDotNet times them as separate cases, minutes apart, while this host's
/// memory bandwidth drifts (a copy of the same tensor took 0.9-1.9 ms in runs of one morning), so the ratio of two
/// separate medians carries that drift.
/// </summary>
/// <remarks>
/// Each round times <c>calls</c> calls of each of the three (the copy with ordinary stores, the copy with non-temporal
/// stores, each from one of four source tensors in turn; the op), in an order that rotates from round to round, after
/// a time-based warm-up; a round's ratio is the op's median over the faster copy's median, as in the report's tables. Reported: the median and quartiles of the
/// per-round ratios, and of each variant's per-round medians.
/// </remarks>
internal static class PairedCopies
{
    /// <summary>Measures every case, each in a process of its own (<see cref="Case"/>), and writes the rows to <paramref name="path"/>.</summary>
    /// <remarks>
    /// In one process the NCHW case measured after the NHWC one ran 1.1-1.4x slower than NHWC, and as fast when measured
    /// first (BENCHMARKS.md, "Both peers in the same rounds"), so the figures depended on the order of the cases; a
    /// process per case, as <c>probe-fixed</c> and <c>serve</c> have, removes that.
    /// </remarks>
    public static void Write(string path, int rounds, int calls)
    {
        var rows = new List<JsonElement>();
        foreach (int threads in new[] { 1, 2 })
            foreach (string layout in new[] { "NHWC", "NCHW" })
            {
                var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
                foreach (string a in new[] { typeof(PairedCopies).Assembly.Location, "bnrelu-copies-case", layout, $"{threads}", $"{rounds}", $"{calls}" })
                    start.ArgumentList.Add(a);
                using var child = Process.Start(start)!;
                string[] lines = child.StandardOutput.ReadToEnd().TrimEnd().Split('\n');
                child.WaitForExit();
                if (child.ExitCode != 0)
                    throw new InvalidOperationException($"bnrelu-copies-case {layout} {threads} exited with {child.ExitCode}: {string.Join('\n', lines)}");
                foreach (string line in lines[..^1]) Console.WriteLine(line);
                rows.Add(JsonDocument.Parse(lines[^1]).RootElement.Clone());
            }
        File.WriteAllText(path, JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>One case of <see cref="Write"/>: prints a line for people, then the row as JSON on the last line.</summary>
    public static void Case(string layout, int threads, int rounds, int calls)
    {
        var row = Measure("128x32x32x64", layout, threads, rounds, calls);
        BatchNormSetup.Cleanup();
        Console.WriteLine(JsonSerializer.Serialize(row));
    }

    private static Dictionary<string, object> Measure(string shape, string layout, int threads, int rounds, int calls)
    {
        var (bn, destination) = BatchNormSetup.Create(shape, layout, threads);
        // The copy reads a different source each call, as the op reads x, dy and its own outputs: four tensors, so
        // that a source comes back only after 100 MB of other traffic (one source copied again and again stays partly
        // in the last-level cache, which made the copy 1.3x faster than a copy from memory here).
        var sources = new[] { bn.X.Data, bn.Dy.Data, BatchNormCase.Random([bn.Elements], 7, 0f, 1f).Data, BatchNormCase.Random([bn.Elements], 8, 0f, 1f).Data };
        int next = 0;
        float[] Source() => sources[next++ % sources.Length];
        Action[] variants =
        [
            () => Copy.Run(Source(), destination, threads),
            () => Copy.Run(Source(), destination, threads, nonTemporal: true),
            () => bn.ReluForwardBackward(fused: true),
        ];
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < 2)
            foreach (var v in variants) v();
        var medians = variants.Select(_ => new List<double>()).ToArray();
        var ratios = new List<double>();
        var times = new double[calls];
        for (int r = 0; r < rounds; r++)
        {
            var round = new double[variants.Length];
            for (int i = 0; i < variants.Length; i++)
            {
                int v = (i + r) % variants.Length;
                for (int c = 0; c < calls; c++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    variants[v]();
                    times[c] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                }
                Array.Sort(times);
                round[v] = times[calls / 2];
                medians[v].Add(round[v]);
            }
            ratios.Add(round[2] / Math.Min(round[0], round[1]));
        }
        var row = new Dictionary<string, object>
        {
            ["shape"] = shape, ["layout"] = layout, ["threads"] = threads, ["rounds"] = rounds, ["callsPerRound"] = calls,
            ["copyMs"] = SyncStep.Quartiles(medians[0]), ["copyNonTemporalMs"] = SyncStep.Quartiles(medians[1]),
            ["fusedForwardBackwardMs"] = SyncStep.Quartiles(medians[2]), ["copies"] = SyncStep.Quartiles(ratios),
        };
        Console.WriteLine($"BN+ReLU fused fwd+bwd {shape} {layout}, {threads} thread(s): {SyncStep.Show(medians[2])} ms, " +
            $"copy {SyncStep.Show(medians[0])} / non-temporal {SyncStep.Show(medians[1])} ms, {SyncStep.Show(ratios)} copies");
        return row;
    }
}
