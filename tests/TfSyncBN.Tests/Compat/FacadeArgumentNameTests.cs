using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using GlobalBatchNorm = TfSyncBN.Compat.MindSpore.GlobalBatchNorm;
using MintSyncBatchNorm = TfSyncBN.Compat.MindSpore.Mint.SyncBatchNorm;
using MsOps = TfSyncBN.Compat.MindSpore.Ops;
using NnSyncBatchNorm = TfSyncBN.Compat.MindSpore.SyncBatchNorm;
using PaddleSyncBatchNorm = TfSyncBN.Compat.Paddle.SyncBatchNorm;
using SparseSyncBatchNorm = TfSyncBN.Compat.Paddle.Sparse.SyncBatchNorm;
using TorchSyncBatchNorm = TfSyncBN.Compat.Torch.SyncBatchNorm;

namespace TfSyncBN.Tests.Compat;

/// <summary>
/// Every facade's argument errors name the facade's own parameter (<c>eps</c>, <c>processGroup</c>, Paddle's
/// <c>epsilon</c>), not the core's (<c>epsilon</c>, <c>processGroups</c>), and say which values are accepted; valid
/// values reach the core unchanged.
/// </summary>
[TestClass]
public sealed class FacadeArgumentNameTests
{
    /// <summary>Facade name → a constructor taking (epsilon, momentum) by the facade's own names.</summary>
    private static readonly Dictionary<string, Func<float, float, BatchNormalization>> Facades = new()
    {
        ["torch"] = (e, m) => new TorchSyncBatchNorm(2, eps: e, momentum: m),
        ["mint"] = (e, m) => new MintSyncBatchNorm(2, eps: e, momentum: m),
        ["mindspore.nn"] = (e, m) => new NnSyncBatchNorm(2, eps: e, momentum: m),
        ["global"] = (e, m) => new GlobalBatchNorm(2, eps: e, momentum: m),
        ["paddle"] = (e, m) => new PaddleSyncBatchNorm(2, epsilon: e, momentum: m),
        ["paddle.sparse"] = (e, m) => new SparseSyncBatchNorm(2, epsilon: e, momentum: m),
    };

    public static IEnumerable<object[]> FacadeNames => Facades.Keys.Select(name => new object[] { name });

    private static string EpsilonName(string facade) => facade.StartsWith("paddle", StringComparison.Ordinal) ? "epsilon" : "eps";

    [TestMethod]
    [DynamicData(nameof(FacadeNames))]
    public void Epsilon_NamesTheFacadesParameter_AndTheRange(string facade)
    {
        var make = Facades[facade];
        foreach (float bad in new[] { 0f, -1e-5f, float.NaN, float.PositiveInfinity })
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => make(bad, 0.5f), $"{facade} eps {bad}");
            Assert.AreEqual(EpsilonName(facade), e.ParamName, $"{facade} eps {bad}");
            StringAssert.Contains(e.Message, "(0, +inf)");
            Assert.AreEqual(bad, (float)e.ActualValue!);
        }
        Assert.AreEqual(3e-4f, make(3e-4f, 0.5f).Epsilon, "a valid epsilon reaches the core unchanged");
        Assert.AreEqual(float.MaxValue, make(float.MaxValue, 0.5f).Epsilon, "the largest finite epsilon is accepted");
    }

    [TestMethod]
    [DynamicData(nameof(FacadeNames))]
    public void Momentum_NamesTheFacadesParameter_AndTheRange(string facade)
    {
        var make = Facades[facade];
        foreach (float bad in new[] { -0.01f, 1.01f, float.NaN })
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => make(1e-5f, bad), $"{facade} momentum {bad}");
            Assert.AreEqual("momentum", e.ParamName);
            StringAssert.Contains(e.Message, "[0, 1]");
        }
        Assert.AreEqual(0f, make(1e-5f, 0f).Momentum);
        Assert.AreEqual(1f, make(1e-5f, 1f).Momentum);
    }

    [TestMethod]
    public void NumFeatures_NamesTheFacadesParameter()
    {
        Action[] makers =
        [
            () => _ = new TorchSyncBatchNorm(0), () => _ = new MintSyncBatchNorm(0), () => _ = new NnSyncBatchNorm(-1),
            () => _ = new GlobalBatchNorm(0), () => _ = new PaddleSyncBatchNorm(0), () => _ = new SparseSyncBatchNorm(0),
        ];
        foreach (var make in makers)
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(make);
            Assert.AreEqual("numFeatures", e.ParamName);
            StringAssert.Contains(e.Message, "at least 1");
        }
    }

    [TestMethod]
    public void ProcessGroup_AtConstruction_NamesTheFacadesParameter()
    {
        // Outside a strategy only the partition rules are checked; in a 2-replica scope the id range too.
        AssertParam("processGroup", () => _ = new TorchSyncBatchNorm(2, processGroup: [[0, 1], [1]]), "replica id 1 is in process groups 0 and 1");
        AssertParam("processGroup", () => _ = new MintSyncBatchNorm(2, processGroup: [[-1]]), "replica id -1");
        AssertParam("processGroups", () => _ = new NnSyncBatchNorm(2, processGroups: [[]]), "process group 0 is empty");
        using var strategy = new MirroredStrategy(2);
        using (strategy.Scope())
        {
            AssertParam("processGroup", () => _ = new TorchSyncBatchNorm(2, processGroup: [[0, 2]]), "[0, 2)");
            AssertParam("processGroup", () => _ = new MintSyncBatchNorm(2, processGroup: [[0]]), "replica id 1 is in no process group");
            var ok = new TorchSyncBatchNorm(2, processGroup: [[1], [0]]);
            CollectionAssert.AreEqual(new[] { 1 }, ok.ProcessGroupList![0].ToArray());
            CollectionAssert.AreEqual(new[] { 0 }, ok.ProcessGroupList![1].ToArray());
        }
    }

    [TestMethod]
    public void ProcessGroup_AtTheFirstCall_NamesTheFacadesParameter()
    {
        // Built outside any scope, the groups {0} cannot be checked against R until a 2-replica Run calls the layer.
        foreach (var (bn, name) in new (BatchNormalization, string)[]
        {
            (new TorchSyncBatchNorm(1, processGroup: [[0]]), "processGroup"),
            (new MintSyncBatchNorm(1, processGroup: [[0]]), "processGroup"),
            (new NnSyncBatchNorm(1, processGroups: [[0]]), "processGroups"),
        })
        {
            using var strategy = new MirroredStrategy(2);
            var error = ParityHarness.CatchInRun(strategy, _ => bn.Call(Tensor.Ones([2, 1]), training: true));
            Assert.IsInstanceOfType<ArgumentException>(error, bn.GetType().FullName);
            Assert.AreEqual(name, ((ArgumentException)error!).ParamName, bn.GetType().FullName);
            StringAssert.Contains(error.Message, "replica id 1 is in no process group");
        }
    }

    [TestMethod]
    public void TorchConvertSyncBatchNorm_NamesItsParameters()
    {
        Assert.AreEqual("module", Assert.ThrowsExactly<ArgumentNullException>(() => TorchSyncBatchNorm.ConvertSyncBatchNorm(null!)).ParamName);
        var bn = new BatchNormalization(axis: [1]);
        AssertParam("processGroup", () => TorchSyncBatchNorm.ConvertSyncBatchNorm(bn, [[0], [0]]), "replica id 0 is in process groups 0 and 1");
        var converted = (SyncBatchNormalization)TorchSyncBatchNorm.ConvertSyncBatchNorm(bn, [[1], [0]]);
        CollectionAssert.AreEqual(new[] { 0 }, converted.ProcessGroupList![1].ToArray());
        // The core's own Convert still names its own parameter.
        AssertParam("processGroups", () => SyncBatchNormalization.Convert(bn, [[0], [0]]), "replica id 0");
    }

    [TestMethod]
    public void MindSporeOpsBatchNorm_EpsAndMomentum_NameTheRange()
    {
        var x = Tensor.Ones([2, 1]);
        Variable M() => new(Tensor.Zeros([1]));
        foreach (float bad in new[] { 0f, 1.5f, float.NaN })
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => MsOps.BatchNorm(x, M(), M(), eps: bad));
            Assert.AreEqual("eps", e.ParamName);
            StringAssert.Contains(e.Message, "(0, 1]");
        }
        var m = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => MsOps.BatchNorm(x, M(), M(), momentum: 1.5f));
        Assert.AreEqual("momentum", m.ParamName);
        StringAssert.Contains(m.Message, "[0, 1]");
        // eps = 1 is the top of the accepted range: (1 − 0)/sqrt(0 + 1) = 1 with a zero running mean and variance.
        Assert.AreEqual(1f, MsOps.BatchNorm(x, M(), M(), eps: 1f).ToArray()[0], 1e-7f);
    }

    private static void AssertParam(string expected, Action act, string messagePart)
    {
        var e = Assert.Throws<ArgumentException>(act);
        Assert.AreEqual(expected, e.ParamName, e.Message);
        StringAssert.Contains(e.Message, messagePart);
    }
}
