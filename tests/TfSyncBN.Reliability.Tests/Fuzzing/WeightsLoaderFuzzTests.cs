using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using TfSyncBN.Keras;
using TfSyncBN.Reliability.Tests.Util;
using TfSyncBN.Tensors;

namespace TfSyncBN.Reliability.Tests.Fuzzing;

/// <summary>
/// The weights loader under truncated, bit-flipped and hand-crafted files: every input either loads (and then the
/// variables hold exactly what <see cref="WeightsFile.Read"/> reports) or throws <see cref="InvalidDataException"/>
/// naming the file, and a failed load leaves every variable (every mirrored copy) unchanged.
/// </summary>
[TestClass]
public sealed class WeightsLoaderFuzzTests
{
    public const int MaxInputs = 4000;
    public static readonly TimeSpan Budget = TimeSpan.FromSeconds(15);

    [TestMethod]
    [Timeout(60_000, CooperativeCancellation = true)]
    public void WeightsLoader_FuzzedFiles_LoadOrThrowInvalidDataWithoutChangingWeights()
    {
        var dir = Directory.CreateTempSubdirectory("tfsyncbn-fuzz-weights-");
        try
        {
            string validPath = Path.Combine(dir.FullName, "valid.weights");
            string path = Path.Combine(dir.FullName, "fuzzed.weights");
            var rng0 = new System.Random(5);
            Variable V(string name, int[] shape) => new(Tensor.FromArray(Close.Normal(rng0, Tensor.ShapeSize(shape)), shape), name);
            // Mirrored over 2 replicas: a failed load must leave every copy unchanged.
            using var strategy = new TfSyncBN.Distribute.MirroredStrategy(2);
            Variable[] variables;
            using (strategy.Scope())
                variables = [V("dense/kernel", [4, 3]), V("dense/bias", [3]), V("bn/gamma", [3]), V("bn/moving_mean", [3]), V("scalar", []), V("empty", [0, 2])];
            Assert.AreEqual(2, variables[0].Replicas.Count);
            WeightsFile.Save(validPath, variables);
            var valid = File.ReadAllBytes(validPath);

            var report = Fuzzer.Run("weights loader", seed: 101, MaxInputs, Budget, minInputs: 1000,
                (rng, i) => (i % 10) switch
                {
                    < 4 => Fuzzer.Mutate(rng, valid),
                    < 7 => WithChecksum(Fuzzer.Mutate(rng, valid[..^32])),
                    _ => HandCrafted(rng),
                },
                input =>
                {
                    File.WriteAllBytes(path, input);
                    var before = variables.Select(v => v.Replicas.Select(c => c.ToArray()).ToArray()).ToArray();
                    try
                    {
                        WeightsFile.Load(path, variables);
                    }
                    catch (Exception)
                    {
                        for (int k = 0; k < variables.Length; k++)
                            for (int c = 0; c < 2; c++) Close.Bitwise(variables[k].Replicas[c].AsSpan(), before[k][c], $"variable {k} copy {c} after a failed load");
                        throw;
                    }
                    var read = WeightsFile.Read(path);
                    for (int k = 0; k < variables.Length; k++)
                        for (int c = 0; c < 2; c++) Close.Bitwise(variables[k].Replicas[c].AsSpan(), read[k].Values, $"variable {k} copy {c} after a load");
                },
                e => e is InvalidDataException && e.Message.Contains(path, StringComparison.Ordinal));
            Assert.IsTrue(report.Rejected > report.Inputs / 2, $"most fuzzed files are invalid: {report}");
            Assert.IsTrue(report.Accepted > 0, $"value-only mutations with a fixed checksum load: {report}");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>Appends the SHA-256 the loader expects, so the mutation reaches the structural checks behind it.</summary>
    private static byte[] WithChecksum(byte[] body) => [.. body, .. SHA256.HashData(body)];

    /// <summary>A header and records built from boundary values: huge counts and sizes, negative dimensions, wrong magic or version.</summary>
    private static byte[] HandCrafted(System.Random rng)
    {
        int[] ints = [0, 1, 2, 3, -1, -2, int.MaxValue, int.MinValue, 0x40000000, 1 << 20, 12, 4];
        int Pick() => ints[rng.Next(ints.Length)];
        var ms = new MemoryStream();
        void Int(int v)
        {
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(b, v);
            ms.Write(b);
        }
        ms.Write(rng.Next(8) == 0 ? "TFSBNWTX"u8 : "TFSBNWTS"u8);
        Int(rng.Next(6) == 0 ? Pick() : 1);
        int count = rng.Next(3) == 0 ? Pick() : rng.Next(7);
        Int(count);
        for (int v = 0; v < Math.Min(count, 8) && v >= 0; v++)
        {
            var name = Encoding.UTF8.GetBytes("v" + v);
            Int(rng.Next(5) == 0 ? Pick() : name.Length);
            ms.Write(name);
            int rank = rng.Next(4) == 0 ? Pick() : rng.Next(4);
            Int(rank);
            long size = 1;
            for (int d = 0; d < Math.Min(Math.Max(rank, 0), 6); d++)
            {
                int dim = rng.Next(3) == 0 ? Pick() : rng.Next(5);
                Int(dim);
                size *= Math.Max(dim, 0);
            }
            int floats = (int)Math.Min(size, rng.Next(3) == 0 ? rng.Next(64) : 64);
            for (int k = 0; k < floats; k++) Int(rng.Next());
        }
        var body = ms.ToArray();
        return rng.Next(4) == 0 ? body : WithChecksum(body);
    }
}
