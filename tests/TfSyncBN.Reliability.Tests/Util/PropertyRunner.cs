using FsCheck;
using FsCheck.Fluent;

namespace TfSyncBN.Reliability.Tests.Util;

/// <summary>
/// Runs a property over cases drawn from an FsCheck generator, one seed per case, so any failing case can be replayed
/// alone: the failure message prints the case, its seed and the environment variables that rerun just it.
/// </summary>
/// <remarks>
/// Seeds are deterministic by default (base <see cref="DefaultSeed"/>, case i uses base + i), so CI runs the same cases
/// every time; set <c>TFSYNCBN_PROPERTY_SEED</c> to explore other cases and <c>TFSYNCBN_PROPERTY_CASES</c> to change the count.
/// </remarks>
public static class PropertyRunner
{
    public const ulong DefaultSeed = 20261124;

    public static ulong BaseSeed =>
        ulong.TryParse(Environment.GetEnvironmentVariable("TFSYNCBN_PROPERTY_SEED"), out var s) ? s : DefaultSeed;

    public static int Cases(int defaultCount) =>
        int.TryParse(Environment.GetEnvironmentVariable("TFSYNCBN_PROPERTY_CASES"), out var n) && n > 0 ? n : defaultCount;

    /// <summary>Draws one case from <paramref name="gen"/> with <paramref name="seed"/>.</summary>
    public static T Draw<T>(Gen<T> gen, ulong seed, int size = 10) => gen.Sample(size, new Rnd(seed), 1)[0];

    /// <summary>Checks <paramref name="property"/> on <paramref name="count"/> cases; returns the number run.</summary>
    public static int Check<T>(string name, Gen<T> gen, int count, Action<T, ulong> property)
    {
        count = Cases(count);
        ulong baseSeed = BaseSeed;
        Console.WriteLine($"{name}: {count} cases, seeds {baseSeed}..{baseSeed + (ulong)count - 1}");
        for (int i = 0; i < count; i++)
        {
            ulong seed = baseSeed + (ulong)i;
            var c = Draw(gen, seed);
            try
            {
                property(c, seed);
            }
            catch (Exception e)
            {
                var message = $"{name}: case {i} of {count} failed, seed {seed} " +
                              $"(rerun it alone: TFSYNCBN_PROPERTY_SEED={seed} TFSYNCBN_PROPERTY_CASES=1).\nCase: {c}\n{e.GetType().Name}: {e.Message}";
                Console.WriteLine(message);
                throw new AssertFailedException(message, e);
            }
        }
        return count;
    }
}
