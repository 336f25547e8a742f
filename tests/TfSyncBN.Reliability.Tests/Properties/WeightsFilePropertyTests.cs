using FsCheck;
using FsCheck.Fluent;
using TfSyncBN.Keras;
using TfSyncBN.Reliability.Tests.Util;
using TfSyncBN.Tensors;

namespace TfSyncBN.Reliability.Tests.Properties;

/// <summary>
/// Weights files round trip every bit: random lists of variables (ranks 0-4, zero-size dimensions, names with any
/// Unicode, values of any bit pattern including NaN payloads, infinities, −0 and subnormals) load back exactly.
/// </summary>
[TestClass]
public sealed class WeightsFilePropertyTests
{
    public const int CaseCount = 300;

    public sealed record VarSpec(string Name, int[] Shape, int[] Bits)
    {
        public override string ToString() => $"'{Name}' [{string.Join(",", Shape)}]";
    }

    private static readonly Gen<string> NameGen =
        Gen.ArrayOf(Gen.Elements("a", "/", "_", "0", "é", "λ", "层", "🙂", " ", "kernel", "bias", "\u0000")).Select(p => string.Concat(p.Take(8)));

    private static readonly Gen<VarSpec> VarGen =
        from name in NameGen
        from rank in Gen.Choose(0, 4)
        from shape in Gen.ArrayOf(Gen.Frequency((1, Gen.Constant(0)), (6, Gen.Choose(1, 5))), rank)
        from bits in Gen.ArrayOf(Gen.Frequency(
            (6, Gen.Choose(int.MinValue, int.MaxValue)),
            (1, Gen.Elements(0x7FC00000, 0x7F800001, unchecked((int)0xFFC00123), 0x7F800000, unchecked((int)0xFF800000), unchecked((int)0x80000000), 1, 0x007FFFFF))),
            shape.Aggregate(1, (p, d) => p * d))
        select new VarSpec(name, shape, bits);

    private static readonly Gen<VarSpec[]> ListGen = Gen.ListOf(VarGen).Select(l => l.Take(6).ToArray());

    [TestMethod]
    [Timeout(60_000, CooperativeCancellation = true)]
    public void WeightsFile_SaveThenLoad_RestoresEveryBit()
    {
        var dir = Directory.CreateTempSubdirectory("tfsyncbn-weights-prop-");
        try
        {
            string path = Path.Combine(dir.FullName, "w.weights");
            PropertyRunner.Check("weights file round trip", ListGen, CaseCount, (specs, _) =>
            {
                var saved = specs.Select(s => new Variable(Tensor.FromArray(s.Bits.Select(BitConverter.Int32BitsToSingle).ToArray(), s.Shape), s.Name)).ToArray();
                WeightsFile.Save(path, saved);
                var loaded = specs.Select(s => new Variable(Tensor.Zeros(s.Shape))).ToArray();
                WeightsFile.Load(path, loaded);
                var read = WeightsFile.Read(path);
                Assert.AreEqual(specs.Length, read.Count);
                for (int i = 0; i < specs.Length; i++)
                {
                    Close.Bitwise(loaded[i].Value.AsSpan(), saved[i].Value.AsSpan(), $"variable {i} {specs[i]}");
                    Assert.AreEqual(specs[i].Name, read[i].Name, "stored name");
                    CollectionAssert.AreEqual(specs[i].Shape, read[i].Shape.ToArray(), "stored shape");
                }
                Assert.AreEqual(1, Directory.GetFiles(dir.FullName).Length, "no temporary file is left behind");
            });
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
