using System.Text;

namespace TfSyncBN.Distribute;

/// <summary>
/// Checks, the first time a worker meets a cross-worker collective's signature (its label, element type, length and
/// shape text), that every worker calls the same one, so a mismatch is reported naming each worker's call instead of
/// surfacing as a transport error (Open MPI's <c>MPI_ERR_TRUNCATE</c>) or wrong sums.
/// </summary>
/// <remarks>
/// <para>The check is one all-reduce of a fixed-size float64 record per worker (each worker fills its own slot, the
/// others are zeros, so the sum is an all-gather). Verified signatures are remembered, so a collective whose signature
/// was already verified costs a set lookup and nothing more. Every worker runs the same program, so workers that agree
/// meet a new signature at the same collective and check it together; workers whose first differing collective is a
/// new signature on each side (the usual case: different layer sizes from the start) both check and both throw.</para>
/// <para>Not covered: a worker whose signature changes while another's repeats one that both verified before (the
/// other does not check); that pairing is a transport-level mismatch as before.</para>
/// </remarks>
internal sealed class CrossWorkerSignatures
{
    private const int LabelChars = 48, ShapeChars = 64;
    private const int RecordLength = 5 + LabelChars + ShapeChars;

    private readonly ICrossWorkerCommunicator communicator;
    private readonly HashSet<(string Label, Type Element, int Length, string Shape)> verified = [];
    private readonly object gate = new();
    private volatile Signature? last;

    public CrossWorkerSignatures(ICrossWorkerCommunicator communicator) => this.communicator = communicator;

    /// <summary>How many signature exchanges this worker has made.</summary>
    public int Exchanges { get; private set; }

    /// <summary>
    /// Verifies, unless already verified, that every worker calls the collective <paramref name="label"/> with the
    /// same element type, length and shape; every worker calls it before the collective itself.
    /// </summary>
    /// <exception cref="CollectiveMismatchException">The workers' signatures differ (thrown on every worker, naming each worker's).</exception>
    public void Verify(string label, Type element, int length, string shape)
    {
        if (communicator.Size == 1) return;
        // The common case, a collective repeating the previous one: a few comparisons, no lock, no hashing.
        if (last is { } l && l.Length == length && l.Element == element && string.Equals(l.Label, label) && string.Equals(l.Shape, shape)) return;
        var key = (label, element, length, shape);
        lock (gate)
        {
            if (verified.Contains(key))
            {
                last = new Signature(label, element, length, shape);
                return;
            }
            var all = new double[RecordLength * communicator.Size];
            Write(all.AsSpan(communicator.Rank * RecordLength, RecordLength), label, element, length, shape);
            communicator.AllReduceSum(all, all.Length);
            Exchanges++;
            var mine = all.AsSpan(communicator.Rank * RecordLength, RecordLength);
            for (int w = 0; w < communicator.Size; w++)
            {
                if (!all.AsSpan(w * RecordLength, RecordLength).SequenceEqual(mine))
                {
                    var calls = Enumerable.Range(0, communicator.Size)
                        .Select(r => $"worker {r}: {Describe(all.AsSpan(r * RecordLength, RecordLength))}");
                    throw new CollectiveMismatchException(
                        $"The workers made different cross-worker collective calls ({string.Join("; ", calls)}). " +
                        "Every worker must run the same program: the same layers with the same sizes, the same collectives in the same order.");
                }
            }
            verified.Add(key);
            last = new Signature(label, element, length, shape);
        }
    }

    private sealed record Signature(string Label, Type Element, int Length, string Shape);

    private static void Write(Span<double> record, string label, Type element, int length, string shape)
    {
        record[0] = element == typeof(float) ? 1 : element == typeof(double) ? 2 : 3;
        record[1] = length;
        record[2] = StableHash(label);
        record[3] = StableHash(shape);
        record[4] = Math.Min(label.Length, LabelChars) + 1000 * Math.Min(shape.Length, ShapeChars);
        for (int i = 0; i < Math.Min(label.Length, LabelChars); i++) record[5 + i] = label[i];
        for (int i = 0; i < Math.Min(shape.Length, ShapeChars); i++) record[5 + LabelChars + i] = shape[i];
    }

    private static string Describe(ReadOnlySpan<double> record)
    {
        int labelLength = (int)record[4] % 1000, shapeLength = (int)record[4] / 1000;
        var label = new StringBuilder();
        for (int i = 0; i < labelLength; i++) label.Append((char)record[5 + i]);
        var shape = new StringBuilder();
        for (int i = 0; i < shapeLength; i++) shape.Append((char)record[5 + LabelChars + i]);
        string element = record[0] switch { 1 => "float32", 2 => "float64", _ => "other" };
        return $"{label}({element}[{(long)record[1]}]{(shapeLength > 0 ? ", " + shape : "")})";
    }

    /// <summary>FNV-1a over the UTF-16 code units, in 32 bits: the same on every worker (string.GetHashCode is randomized per process).</summary>
    private static uint StableHash(string s)
    {
        uint h = 2166136261;
        foreach (char c in s) h = (h ^ c) * 16777619;
        return h;
    }
}
