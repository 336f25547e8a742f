using TfSyncBN.Distribute;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;
using TorchSyncBatchNorm = TfSyncBN.Compat.Torch.SyncBatchNorm;

namespace TfSyncBN.Tests.Compat;

/// <summary>
/// The Torch facade against numbers from PyTorch 1.13 (tests/reference/torch_syncbn_facade.py): two training steps,
/// gradients of the second, then eval; here split over 2 replicas (uneven), which must equal PyTorch's single batch.
/// </summary>
[TestClass]
public sealed class TorchReferenceTests
{
    private static readonly float[] X1 = [0.5f, -1, 2, 3.5f, 10, 12, 1.5f, 4, -2, 0, 11, 9];
    private static readonly float[] X2 = [2, 2.5f, 1, -1, 8, 8.5f, -0.5f, 3, 0.5f, 6, 13, 7, 1, 1, 2, 2, 9.5f, 10.5f];
    private static readonly float[] X3 = [1, 2, 3, 4, 5, 6];
    private static readonly float[] W = [1, -2, 0.5f, 3, -1, 2];

    private static readonly double[] Y2 = [0.8995166171555815, 1.549033234311163, 1.173979864188286, 1.6379261686903814, -2.45639806133806, -1.9423752161599208, -2.348066468622326, 2.1985498514667445, 1.2899664403138098, 0.014114102933046657, 2.683830390443333, -3.4844437516943385, -0.3995166171555815, -0.3995166171555815, 0.942006711937238, 0.942006711937238, -0.914329525803642, 0.11371616455263667];
    private static readonly double[] Dx2 = [2.4356836608298607, -0.9742822327405127, 0.2626602423783166, -0.39008916607728505, -1.974978375069458, 1.2619504040705687, 1.4614014281023439e-05, -0.48714842337739694, 0.24445611042132104, -0.13523131867934804, -0.44706129435755143, 0.8035752798569966, 1.4614160421036289, -2.4356836608298607, 0.2990685062923075, -0.28086437433531203, -1.516603250855886, 1.8731172363553312];
    private static readonly double[] DWeight = [-5.196132937244652, 2.0297650821966684, -3.4696542049524397];

    [TestMethod]
    [DataRow(false, new[] { 0.2625, 0.25375, 1.8866666666666667 }, new[] { 1.3675, 1.883125, 1.4141666666666666 },
        new[] { 1.195993229804473, 2.478695914285115, -0.0006203859113891874, -0.3649791973493097, 4.236049981613907, 5.91786475086891 })]
    [DataRow(true, new[] { 1.375, 1.3125, 9.958333333333332 }, new[] { 3.0083333333333337, 5.652083333333334, 3.104166666666667 },
        new[] { -0.07430887003204689, 0.7905147833867447, 0.6450974470080808, 0.43478482301286947, -6.628497795071368, -5.493338575897311 })]
    public void TwoStepsThenEval_MatchPyTorch(bool momentumNone, double[] runningMean, double[] runningVar, double[] eval)
    {
        using var strategy = new MirroredStrategy(2);
        var bn = ParityHarness.InScope(strategy, () =>
        {
            var layer = new TorchSyncBatchNorm(3, momentum: momentumNone ? null : 0.1f);
            layer.EnsureBuilt([2, 3, 2]);
            layer.Gamma!.Assign(Tensor.FromArray([1.5f, -0.5f, 2f]));
            layer.Beta!.Assign(Tensor.FromArray([0.25f, 1f, -1f]));
            return layer;
        });
        var x1 = Tensor.FromArray(X1, [2, 3, 2]);
        ParityHarness.Step(strategy, bn, [x1.Slice(0, 0, 1), x1.Slice(0, 1, 1)]);
        var x2 = Tensor.FromArray(X2, [3, 3, 2]);
        var w = Tensor.FromArray(W, [1, 3, 2]);
        Tensor Dy(int rows) => Tensor.Concat(Enumerable.Repeat(w, rows).ToArray(), 0);
        var outs = ParityHarness.Step(strategy, bn, [x2.Slice(0, 0, 2), x2.Slice(0, 2, 1)], [Dy(2), Dy(1)]);

        TestData.AssertClose(ParityHarness.Concat([outs[0].Y, outs[1].Y]), Y2, 2e-5, 2e-5, "y");
        TestData.AssertClose(ParityHarness.Concat([outs[0].Dx!, outs[1].Dx!]), Dx2, 2e-5, 2e-5, "dx");
        var dWeight = outs[0].DGamma!.ToArray().Zip(outs[1].DGamma!.ToArray(), (a, b) => a + b).ToArray();
        TestData.AssertClose(dWeight, DWeight, 2e-5, 2e-5, "summed dweight");
        foreach (var copy in bn.MovingMean!.Replicas) TestData.AssertClose(copy.AsSpan(), runningMean, 1e-6, 1e-6, "running_mean");
        foreach (var copy in bn.MovingVariance!.Replicas) TestData.AssertClose(copy.AsSpan(), runningVar, 1e-6, 1e-6, "running_var");
        Assert.AreEqual(2f, bn.NumBatchesTracked!.Value.ToScalar(), "num_batches_tracked");
        TestData.AssertClose(bn.Call(Tensor.FromArray(X3, [1, 3, 2]), training: false).AsSpan(), eval, 2e-5, 2e-5, "eval");
    }
}
