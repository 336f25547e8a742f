using TfSyncBN.GpuCheck;

namespace TfSyncBN.Gpu.Tests;

/// <summary>
/// The backend conformance suite (tools/TfSyncBN.GpuCheck/Conformance.cs, where each tolerance is stated and justified)
/// on ILGPU's CPU accelerator: every GPU op, forward and backward, against TfSyncBN's CPU backend.
/// </summary>
[TestClass]
public sealed class ConformanceTests
{
    public static IEnumerable<object[]> CaseNames => Conformance.Cases.Select(c => new object[] { c.Name });

    [TestMethod]
    [DynamicData(nameof(CaseNames))]
    public void OpMatchesTheCpuBackend(string name)
    {
        var results = Conformance.Cases.Single(c => c.Name == name).Run(Device.Cpu);
        Assert.IsTrue(results.Count > 0);
        var failed = results.Where(r => !r.Passed).ToList();
        Assert.AreEqual(0, failed.Count, string.Join("\n", failed.Select(r => $"{r.Name}: max error {r.MaxError:G3} > bound {r.Bound:G3}")));
    }

    [TestMethod]
    public void CompareCatchesADifference()
    {
        // Negative control of the comparison itself: one ulp off with a zero bound fails; NaN never passes.
        Assert.IsFalse(Conformance.Compare("x", [1f], [BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(1f) + 1)], 0).Passed);
        Assert.IsFalse(Conformance.Compare("x", [float.NaN], [1f], 1e30).Passed);
        Assert.IsTrue(Conformance.Compare("x", [1f], [1f], 0).Passed);
    }
}
