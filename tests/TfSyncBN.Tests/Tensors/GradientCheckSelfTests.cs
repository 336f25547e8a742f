using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Tensors;

/// <summary>The finite-difference checker itself: it must reject wrong gradients, not only accept right ones.</summary>
[TestClass]
public sealed class GradientCheckSelfTests
{
    /// <summary>The same values, cut off from the tape (so the tape's gradient through it is wrong).</summary>
    private static Tensor Detach(Tensor t) => Tensor.FromArray(t.ToArray(), t.Shape);

    [TestMethod]
    public void RejectsAGradientMissingATerm()
    {
        var x = TestData.Uniform(TestData.NewRandom(), [2, 3]);
        // Tape: d(x·c)/dx = c = x; finite differences: d(x²)/dx = 2x.
        var e = Assert.ThrowsExactly<AssertFailedException>(() => GradientCheck.AssertGradient(t => t * Detach(t), x, message: "x * detach(x)"));
        StringAssert.Contains(e.Message, "x * detach(x)");
        StringAssert.Contains(e.Message, "finite difference");
    }

    [TestMethod]
    public void RejectsANullGradientWhereTheFunctionDepends()
    {
        var x = TestData.Uniform(TestData.NewRandom(), [3]);
        var e = Assert.ThrowsExactly<AssertFailedException>(() => GradientCheck.AssertGradient(t => Detach(t) * 2f, x));
        StringAssert.Contains(e.Message, "null");
    }

    [TestMethod]
    public void RejectsATwoPercentError()
    {
        var x = TestData.Uniform(TestData.NewRandom(), [4, 5], 0.5f, 1.5f);
        // f = 1.02·x² on the values, but the tape sees only x² (the 0.02·x² part is detached): a 2% gradient error.
        Assert.ThrowsExactly<AssertFailedException>(() => GradientCheck.AssertGradient(t => t.Square() + Detach(t.Square()) * 0.02f, x));
    }

    [TestMethod]
    public void AcceptsCorrectGradientsAndAConstantFunction()
    {
        var random = TestData.NewRandom();
        GradientCheck.AssertGradient(t => (t.Square() * 3f).Exp().Sum([0]), TestData.Uniform(random, [3, 2], -0.5f, 0.5f));
        // A function that ignores its input: a null tape gradient is the right answer.
        GradientCheck.AssertGradients(xs => xs[0] * 2f, [TestData.Uniform(random, [2]), TestData.Uniform(random, [3])]);
    }

    [TestMethod]
    public void NumericDerivative_OfAKnownFunction()
    {
        var x = Tensor.FromArray([0.5f, -1f]);
        var u = Tensor.FromArray([1f, 2f]);
        var (d0, noise0) = GradientCheck.NumericDerivative(xs => xs[0].Exp(), [x], u, 0, 0);
        var (d1, _) = GradientCheck.NumericDerivative(xs => xs[0].Exp(), [x], u, 0, 1);
        Assert.AreEqual(Math.Exp(0.5), d0, 1e-4);
        Assert.AreEqual(2 * Math.Exp(-1), d1, 1e-4);
        Assert.IsTrue(noise0 is > 0 and < 1e-3, $"noise bound {noise0}");
    }
}
