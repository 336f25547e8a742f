using System.Security.Cryptography;

namespace TfSyncBN.Keras;

/// <summary>
/// Counter-based random numbers for the seeded initializers: Philox4x32-10 (Salmon, Moraes, Dror and Shaw,
/// "Parallel Random Numbers: As Easy as 1, 2, 3", SC 2011; the generator of Random123 and of TensorFlow's stateless ops).
/// </summary>
/// <remarks>
/// <para>Element <c>i</c> of a tensor is a pure function of (key, i): the block <c>Philox(counter = (i, attempt, 0, 0), key)</c>.
/// Values therefore do not depend on the order or the threads that compute them, and a seed gives the same tensor on
/// every call, run and machine.</para>
/// <para>Bit-for-bit reproducibility across machines also needs the floating-point part to be portable. The transforms
/// below use only IEEE-754 basic operations (+, −, ×, ÷, sqrt), which are correctly rounded and which .NET evaluates
/// without contraction or reassociation; the logarithm and sine/cosine are our own series instead of the platform's
/// libm, whose last-bit results differ between C runtimes.</para>
/// <para>Uniform: 53 random bits <c>b</c> give <c>U = b·2⁻⁵³ ∈ [0, 1)</c>, and <c>minval + (maxval − minval)·U</c> is computed in
/// double and rounded once to float (and kept below <c>maxval</c>). Normal: Box–Muller, <c>u₁ = (b + 1)·2⁻⁵³ ∈ (0, 1]</c>
/// from words 0–1 and an angle <c>2π·w₂/2³²</c> from word 2, giving <c>z₀ = r·cos θ</c> and <c>z₁ = r·sin θ</c> with
/// <c>r = sqrt(−2 ln u₁)</c> (so |z| ≤ 8.6). A normal sample is <c>z₀</c>; a truncated-normal sample is the first of
/// <c>z₀, z₁</c> of attempt 0, 1, 2, … with |z| ≤ 2, the rule of Keras' <c>truncated_normal</c> (redraw beyond two
/// standard deviations).</para>
/// </remarks>
internal static class StatelessRandom
{
    private const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57; // Philox multipliers
    private const uint W0 = 0x9E3779B9, W1 = 0xBB67AE85; // Weyl key increments (golden ratio, sqrt(3) - 1)
    private const double TwoPowMinus53 = 1.0 / (1L << 53);
    private const int ChunkSize = 1 << 14;

    /// <summary>The four output words of one Philox4x32-10 block.</summary>
    internal readonly record struct Block(uint X0, uint X1, uint X2, uint X3);

    /// <summary>The key of a user seed: (seed, 0). Keys of fresh seeds never have a zero high word, so they never collide with these.</summary>
    public static ulong KeyFromSeed(int seed) => (uint)seed;

    /// <summary>A key from the operating system's cryptographic generator, for unseeded initializers.</summary>
    public static ulong FreshKey() => BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8)) | (1UL << 32);

    /// <summary>Philox4x32 with 10 rounds on a 128-bit counter and a 64-bit key (Random123's <c>philox4x32_R(10, ...)</c>).</summary>
    public static Block Philox(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        for (int round = 0; round < 10; round++)
        {
            if (round > 0)
            {
                k0 += W0;
                k1 += W1;
            }
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            (c0, c1, c2, c3) = ((uint)(p1 >> 32) ^ c1 ^ k0, (uint)p1, (uint)(p0 >> 32) ^ c3 ^ k1, (uint)p0);
        }
        return new Block(c0, c1, c2, c3);
    }

    /// <summary>Fills <paramref name="destination"/> with uniform samples in [<paramref name="minval"/>, <paramref name="maxval"/>).</summary>
    public static void FillUniform(float[] destination, ulong key, double minval, double maxval)
    {
        float top = (float)maxval;
        ForEachChunk(destination, (start, end) =>
        {
            for (int i = start; i < end; i++)
            {
                var b = Draw(key, i, 0);
                float v = (float)(minval + (maxval - minval) * (Bits53(b) * TwoPowMinus53));
                destination[i] = v >= top && maxval > minval ? MathF.BitDecrement(top) : v;
            }
        });
    }

    /// <summary>Fills <paramref name="destination"/> with <c>mean + stddev·z</c>, z standard normal.</summary>
    public static void FillNormal(float[] destination, ulong key, double mean, double stddev) =>
        ForEachChunk(destination, (start, end) =>
        {
            for (int i = start; i < end; i++)
            {
                BoxMuller(Draw(key, i, 0), out double z0, out _);
                destination[i] = (float)(mean + stddev * z0);
            }
        });

    /// <summary>Fills <paramref name="destination"/> with <c>mean + stddev·z</c>, z standard normal conditioned on |z| ≤ 2.</summary>
    public static void FillTruncatedNormal(float[] destination, ulong key, double mean, double stddev) =>
        ForEachChunk(destination, (start, end) =>
        {
            for (int i = start; i < end; i++)
            {
                double z;
                for (uint attempt = 0; ; attempt++)
                {
                    BoxMuller(Draw(key, i, attempt), out double z0, out double z1);
                    if (Math.Abs(z0) <= 2) { z = z0; break; }
                    if (Math.Abs(z1) <= 2) { z = z1; break; }
                }
                destination[i] = (float)(mean + stddev * z);
            }
        });

    private static Block Draw(ulong key, int index, uint attempt) =>
        Philox((uint)index, attempt, 0, 0, (uint)key, (uint)(key >> 32));

    private static ulong Bits53(Block b) => ((ulong)b.X0 << 21) | (b.X1 >> 11);

    private static void BoxMuller(Block b, out double z0, out double z1)
    {
        double r = Math.Sqrt(-2 * Log((Bits53(b) + 1) * TwoPowMinus53));
        SinCosTurns(b.X2, out double sin, out double cos);
        z0 = r * cos;
        z1 = r * sin;
    }

    /// <summary>Elements are independent, so large tensors are filled in parallel with identical results.</summary>
    private static void ForEachChunk(float[] destination, Action<int, int> fill)
    {
        int n = destination.Length;
        if (n <= ChunkSize) fill(0, n);
        else Parallel.For(0, (n + ChunkSize - 1) / ChunkSize, c => fill(c * ChunkSize, Math.Min(n, (c + 1) * ChunkSize)));
    }

    private const double Ln2Hi = 6.93147180369123816490e-01; // fdlibm's split of ln 2: Ln2Hi has 21 trailing zero bits,
    private const double Ln2Lo = 1.90821492927058770002e-10; // so e·Ln2Hi is exact for |e| < 2^21.
    private const double Sqrt2 = 1.4142135623730951;
    private const double HalfPi = 1.5707963267948966;

    // Series coefficients, highest order first for Horner's rule: 1/k for k = 23, 21, ..., 1 (atanh), and
    // (-1)^j/(2j+1)! and (-1)^j/(2j)! for j = 12, ..., 0 (sin, cos). Computed once with correctly rounded divisions.
    private static readonly double[] LogCoefficients = [.. Enumerable.Range(0, 12).Select(j => 1.0 / (23 - 2 * j))];
    private static readonly double[] SinCoefficients = TaylorCoefficients(first: 1);
    private static readonly double[] CosCoefficients = TaylorCoefficients(first: 0);

    private static double[] TaylorCoefficients(int first)
    {
        var result = new double[13];
        double term = 1;
        for (int k = 1; k <= first; k++) term /= k;
        for (int j = 0; j < 13; j++)
        {
            result[12 - j] = j % 2 == 0 ? term : -term;
            term = term / (first + 2 * j + 1) / (first + 2 * j + 2);
        }
        return result;
    }

    /// <summary>ln x for positive normal x, within a few ulps, from basic operations only (deterministic everywhere).</summary>
    /// <remarks>x = m·2^e with m in [√½, √2); ln m = 2·atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.172, by its odd series to s²³.</remarks>
    internal static double Log(double x)
    {
        long bits = BitConverter.DoubleToInt64Bits(x);
        int e = (int)((bits >> 52) & 0x7FF) - 1023;
        double m = BitConverter.Int64BitsToDouble((bits & 0x000F_FFFF_FFFF_FFFFL) | 0x3FF0_0000_0000_0000L);
        if (m > Sqrt2)
        {
            m *= 0.5;
            e++;
        }
        double s = (m - 1) / (m + 1), s2 = s * s, p = 0;
        foreach (double c in LogCoefficients) p = p * s2 + c;
        return e * Ln2Hi + (e * Ln2Lo + 2 * s * p);
    }

    /// <summary>sin and cos of 2π·w/2³², from basic operations only (deterministic everywhere), within about 1e-16.</summary>
    /// <remarks>The top two bits pick the quadrant exactly; the rest give x in [0, π/2), where Taylor series to x²⁵ and x²⁴ are used.</remarks>
    internal static void SinCosTurns(uint w, out double sin, out double cos)
    {
        double x = (w & 0x3FFF_FFFF) * (1.0 / (1 << 30)) * HalfPi, x2 = x * x, s = 0, c = 0;
        foreach (double k in SinCoefficients) s = s * x2 + k;
        foreach (double k in CosCoefficients) c = c * x2 + k;
        s *= x;
        (sin, cos) = (w >> 30) switch
        {
            0 => (s, c),
            1 => (c, -s),
            2 => (-s, -c),
            _ => (-c, s),
        };
    }
}
