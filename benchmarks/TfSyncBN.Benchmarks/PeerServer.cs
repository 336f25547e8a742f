using System.Diagnostics;
using System.Globalization;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// The .NET side of <c>benchmarks/pytorch/paired.py</c>, which times one of our figures and PyTorch's peer of it
/// alternately in the same rounds, so that both meet the same phases of the host's memory bandwidth. Sets up a
/// <see cref="FixedProbe"/> figure, warms it up for <c>warmupSeconds</c> (tiered JIT), prints <c>ready</c>, then
/// answers commands on standard input, one per line, until <c>quit</c> or the end of input:
/// <c>run K</c> makes K calls and prints their times in milliseconds on one line (invariant culture); <c>cores</c>
/// prints each core's in-cache product rate in GFLOP/s (<see cref="CoreCheck.PerCore"/>); <c>checksum</c>
/// prints the figure's checksum line (see <see cref="FixedProbe.Figure"/>). Between commands the process waits in
/// <see cref="Console.ReadLine"/>, and its kernel helpers block after their polling interval, so it takes no CPU
/// while the peer runs.
/// </summary>
internal static class PeerServer
{
    public static void Run(string figure, string shape, string layout, int threads, double warmupSeconds)
    {
        var f = FixedProbe.Build(figure, shape, layout, threads);
        float sink = 0;
        int calls = 0;
        for (var clock = Stopwatch.StartNew(); clock.Elapsed.TotalSeconds < warmupSeconds; calls++) sink += f.Call();
        CoreCheck.WarmUp();
        Console.WriteLine("ready");
        while (Console.ReadLine() is { } line)
        {
            string[] words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words is ["run", var k] && int.TryParse(k, CultureInfo.InvariantCulture, out int count) && count > 0)
            {
                var times = new string[count];
                for (int i = 0; i < count; i++, calls++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    sink += f.Call();
                    times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds.ToString("R", CultureInfo.InvariantCulture);
                }
                Console.WriteLine(string.Join(' ', times));
            }
            else if (words is ["cores"])
                Console.WriteLine(string.Join(' ', CoreCheck.PerCore().Select(rate => rate.ToString("F1", CultureInfo.InvariantCulture))));
            else if (words is ["checksum"]) f.Finish(calls);
            else if (words is ["quit"]) break;
            else Console.WriteLine($"error: unknown command '{line}' (accepted: 'run K' with K > 0, 'cores', 'checksum', 'quit')");
        }
        GC.KeepAlive(sink);
    }
}
