using System.Diagnostics;

namespace TfSyncBN.Reliability.Tests.Util;

/// <summary>The outcome counts of a fuzz run.</summary>
public sealed record FuzzReport(int Inputs, int Accepted, int Rejected, TimeSpan Elapsed, IReadOnlyDictionary<string, int> ByException)
{
    public override string ToString() =>
        $"{Inputs} inputs in {Elapsed.TotalSeconds:F1} s: {Accepted} accepted, {Rejected} rejected ({string.Join(", ", ByException.Select(kv => $"{kv.Key} {kv.Value}"))})";
}

/// <summary>
/// A bounded fuzz loop: feeds inputs to a target until the iteration count OR the time budget runs out (at least
/// <c>minInputs</c> are always run), and fails on the first input that ends in an exception of an undocumented type,
/// or with an empty message, printing the input (hex) and the seed that regenerates it.
/// </summary>
public static class Fuzzer
{
    public static FuzzReport Run(string name, int seed, int maxInputs, TimeSpan budget, int minInputs,
        Func<System.Random, int, byte[]> makeInput, Action<byte[]> target, Func<Exception, bool> documented)
    {
        var rng = new System.Random(seed);
        var clock = Stopwatch.StartNew();
        int accepted = 0, rejected = 0, i = 0;
        var byType = new SortedDictionary<string, int>();
        for (; i < maxInputs && (i < minInputs || clock.Elapsed < budget); i++)
        {
            var input = makeInput(rng, i);
            try
            {
                target(input);
                accepted++;
            }
            catch (AssertFailedException e)
            {
                throw new AssertFailedException($"{name}: input {i} (seed {seed}) broke an invariant: {e.Message}\nInput: {Hex(input)}", e);
            }
            catch (Exception e) when (documented(e) && !string.IsNullOrWhiteSpace(e.Message))
            {
                rejected++;
                string key = e.GetType().Name;
                byType[key] = byType.GetValueOrDefault(key) + 1;
            }
            catch (Exception e)
            {
                throw new AssertFailedException(
                    $"{name}: input {i} (seed {seed}) ended in an undocumented {e.GetType().FullName}: {e.Message}\nInput ({input.Length} bytes): {Hex(input)}\n{e}", e);
            }
        }
        var report = new FuzzReport(i, accepted, rejected, clock.Elapsed, byType);
        Console.WriteLine($"{name}: {report}");
        return report;
    }

    public static string Hex(byte[] input) =>
        input.Length <= 512 ? Convert.ToHexString(input) : Convert.ToHexString(input, 0, 512) + $"... ({input.Length} bytes)";

    /// <summary>A random mutation of <paramref name="seedInput"/>: truncation, bit flips, byte overwrites with boundary values, insertions, deletions, or a mix.</summary>
    public static byte[] Mutate(System.Random rng, byte[] seedInput)
    {
        var bytes = seedInput.ToList();
        int ops = 1 + rng.Next(3);
        for (int op = 0; op < ops; op++)
        {
            switch (rng.Next(6))
            {
                case 0 when bytes.Count > 0: // truncate
                    int keep = rng.Next(bytes.Count);
                    bytes.RemoveRange(keep, bytes.Count - keep);
                    break;
                case 1 when bytes.Count > 0: // flip 1-8 bits
                    for (int k = 1 + rng.Next(8); k > 0; k--)
                    {
                        int at = rng.Next(bytes.Count);
                        bytes[at] ^= (byte)(1 << rng.Next(8));
                    }
                    break;
                case 2 when bytes.Count > 0: // overwrite with boundary bytes
                    for (int k = 1 + rng.Next(4); k > 0; k--)
                        bytes[rng.Next(bytes.Count)] = Boundary[rng.Next(Boundary.Length)];
                    break;
                case 3: // insert random bytes
                    bytes.InsertRange(rng.Next(bytes.Count + 1), Enumerable.Range(0, 1 + rng.Next(8)).Select(_ => (byte)rng.Next(256)));
                    break;
                case 4 when bytes.Count > 0: // delete a range
                    int start = rng.Next(bytes.Count);
                    bytes.RemoveRange(start, Math.Min(bytes.Count - start, 1 + rng.Next(8)));
                    break;
                default: // a 4-byte boundary integer (little- or big-endian by chance) at a random aligned offset
                    if (bytes.Count < 4) break;
                    int pos = rng.Next(bytes.Count / 4) * 4;
                    var value = BitConverter.GetBytes(BoundaryInts[rng.Next(BoundaryInts.Length)]);
                    if (rng.Next(2) == 0) Array.Reverse(value);
                    for (int k = 0; k < 4; k++) bytes[pos + k] = value[k];
                    break;
            }
        }
        return bytes.ToArray();
    }

    private static readonly byte[] Boundary = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF];
    private static readonly int[] BoundaryInts = [0, 1, -1, 2, int.MaxValue, int.MinValue, 0x10000, 0x40000000, 0x7FFFFFC7, 1 << 20];
}
