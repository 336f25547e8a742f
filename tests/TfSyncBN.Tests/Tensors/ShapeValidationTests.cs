using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Tensors;

/// <summary>Invalid shapes, axes and ranges are rejected with an <see cref="ArgumentException"/> that names the argument.</summary>
[TestClass]
public sealed class ShapeValidationTests
{
    /// <summary>Asserts that <paramref name="action"/> throws an ArgumentException (or subclass) whose ParamName is <paramref name="param"/>.</summary>
    private static ArgumentException AssertRejects(Action action, string param)
    {
        ArgumentException? error = null;
        try
        {
            action();
        }
        catch (ArgumentException e)
        {
            error = e;
        }
        Assert.IsNotNull(error, $"expected an ArgumentException for {param}");
        Assert.AreEqual(param, error.ParamName, $"ParamName; message: {error.Message}");
        Assert.IsFalse(string.IsNullOrWhiteSpace(error.Message));
        return error;
    }

    private static readonly Tensor A23 = Tensor.FromFunction([2, 3], i => i);

    // ---- Shapes --------------------------------------------------------------------------------------------------

    [TestMethod]
    public void Factories_RejectNegativeDimensions()
    {
        AssertRejects(() => Tensor.Zeros([2, -1]), "shape");
        AssertRejects(() => Tensor.Ones([-3]), "shape");
        AssertRejects(() => Tensor.Fill([1, -2], 1f), "shape");
        AssertRejects(() => Tensor.FromFunction([-1, 2], i => i), "shape");
        AssertRejects(() => Tensor.FromArray([1, 2], [-2, -1]), "shape");
        AssertRejects(() => Tensor.FromArray([1, 2], [2, -3]), "shape");
    }

    [TestMethod]
    public void Factories_RejectNullArguments()
    {
        Assert.AreEqual("values", Assert.ThrowsExactly<ArgumentNullException>(() => Tensor.FromArray(null!)).ParamName);
        Assert.AreEqual("shape", Assert.ThrowsExactly<ArgumentNullException>(() => Tensor.Zeros(null!)).ParamName);
        Assert.AreEqual("generator", Assert.ThrowsExactly<ArgumentNullException>(() => Tensor.FromFunction([1], null!)).ParamName);
    }

    [TestMethod]
    public void Factories_RejectShapesTooLargeForAnArray()
    {
        AssertRejects(() => Tensor.Zeros([1 << 16, 1 << 16]), "shape");
        // 2^64 elements: a 64-bit product wraps around to 0, which must not pass for an empty tensor.
        AssertRejects(() => Tensor.Zeros([1 << 16, 1 << 16, 1 << 16, 1 << 16]), "shape");
        AssertRejects(() => Tensor.Fill([1 << 16, 1 << 16, 1 << 16, 1 << 16], 1f), "shape");
        AssertRejects(() => Tensor.FromArray([], [1 << 16, 1 << 16, 1 << 16, 1 << 16]), "shape");
        AssertRejects(() => Tensor.Zeros([0, 3]).Reshape([1 << 16, 1 << 16, 1 << 16, 1 << 16]), "newShape");
        AssertRejects(() => Tensor.Zeros([0, 3]).Reshape([1 << 16, 1 << 16, 1 << 16, 1 << 16, -1]), "newShape");
        // Empty shapes with large other dimensions are fine.
        Assert.AreEqual(0, Tensor.Zeros([0, int.MaxValue, int.MaxValue]).Size);
        Assert.AreEqual(0, Tensor.Zeros([0, 3]).Reshape([int.MaxValue, 0]).Size);
    }

    [TestMethod]
    public void FromArray_RejectsWrongElementCount()
    {
        var e = AssertRejects(() => Tensor.FromArray([1, 2, 3, 4, 5], [2, 2]), "shape");
        StringAssert.Contains(e.Message, "[2, 2]");
        AssertRejects(() => Tensor.FromArray([1, 2, 3], []), "shape");
        AssertRejects(() => Tensor.FromArray([], [1]), "shape");
    }

    [TestMethod]
    public void FromArray_RejectsUninferableMinusOne()
    {
        AssertRejects(() => Tensor.FromArray([1, 2, 3, 4], [-1, -1]), "shape");
        AssertRejects(() => Tensor.FromArray([1, 2, 3, 4, 5], [2, -1]), "shape");
        AssertRejects(() => Tensor.FromArray([], [0, -1]), "shape");
    }

    [TestMethod]
    public void Reshape_RejectsBadShapes()
    {
        AssertRejects(() => A23.Reshape([4, 2]), "newShape");
        AssertRejects(() => A23.Reshape([-1, -1]), "newShape");
        AssertRejects(() => A23.Reshape([-1, 4]), "newShape");
        AssertRejects(() => A23.Reshape([3, -2]), "newShape");
        Assert.AreEqual("newShape", Assert.ThrowsExactly<ArgumentNullException>(() => A23.Reshape(null!)).ParamName);
    }

    [TestMethod]
    public void ToScalar_OfNonSingleton_Throws()
    {
        Assert.ThrowsExactly<InvalidOperationException>(() => A23.ToScalar());
        Assert.ThrowsExactly<InvalidOperationException>(() => Tensor.Zeros([0]).ToScalar());
        Assert.AreEqual(4f, Tensor.FromArray([4f], [1, 1]).ToScalar());
    }

    // ---- Broadcasting --------------------------------------------------------------------------------------------

    public static IEnumerable<object[]> IncompatiblePairs()
    {
        yield return [new[] { 2, 3 }, new[] { 2 }];
        yield return [new[] { 2, 3 }, new[] { 3, 2 }];
        yield return [new[] { 4, 1, 3 }, new[] { 2, 2 }];
        yield return [new[] { 0 }, new[] { 2 }];
    }

    [TestMethod]
    [DynamicData(nameof(IncompatiblePairs))]
    public void BinaryOps_RejectIncompatibleShapes(int[] aShape, int[] bShape)
    {
        var a = Tensor.Zeros(aShape);
        var b = Tensor.Zeros(bShape);
        Func<Tensor, Tensor, Tensor>[] ops = [(x, y) => x.Add(y), (x, y) => x.Subtract(y), (x, y) => x.Multiply(y),
            (x, y) => x.Divide(y), (x, y) => x.Maximum(y), (x, y) => x.Minimum(y), (x, y) => x + y, (x, y) => x / y];
        foreach (var op in ops)
        {
            var e = AssertRejects(() => op(a, b), "other");
            StringAssert.Contains(e.Message, $"[{string.Join(", ", aShape)}]", "the message shows the shapes");
            StringAssert.Contains(e.Message, $"[{string.Join(", ", bShape)}]", "the message shows the shapes");
        }
    }

    [TestMethod]
    public void BinaryOps_RejectNull()
    {
        Assert.ThrowsExactly<ArgumentNullException>(() => A23.Add(null!));
        Assert.ThrowsExactly<ArgumentNullException>(() => A23.Maximum(null!));
    }

    // ---- Axes ----------------------------------------------------------------------------------------------------

    [TestMethod]
    public void Reductions_RejectAxesOutOfRange()
    {
        foreach (var axes in new[] { new[] { 2 }, new[] { -3 }, new[] { 0, 5 } })
        {
            var e = AssertRejects(() => A23.Sum(axes), "axes");
            StringAssert.Contains(e.Message, "-2..1");
            AssertRejects(() => A23.Mean(axes, keepDims: true), "axes");
        }
        AssertRejects(() => Tensor.Scalar(1f).Sum([0]), "axes");
    }

    [TestMethod]
    public void Reductions_RejectRepeatedAxes()
    {
        AssertRejects(() => A23.Sum([0, 0]), "axes");
        AssertRejects(() => A23.Sum([1, -1]), "axes");
        AssertRejects(() => A23.Mean([-2, 0]), "axes");
    }

    [TestMethod]
    public void Transpose_RejectsNonPermutations()
    {
        var x = Tensor.Zeros([2, 3, 4]);
        AssertRejects(() => x.Transpose([0, 1]), "perm");
        AssertRejects(() => x.Transpose([0, 1, 1]), "perm");
        AssertRejects(() => x.Transpose([0, 1, 3]), "perm");
        AssertRejects(() => x.Transpose([0, 1, 2, 3]), "perm");
        AssertRejects(() => x.Transpose([-1, 0, 1]), "perm");
    }

    // ---- Slice ---------------------------------------------------------------------------------------------------

    [TestMethod]
    public void Slice_RejectsAxisOutOfRange()
    {
        AssertRejects(() => A23.Slice(2, 0, 1), "axis");
        AssertRejects(() => A23.Slice(-3, 0, 1), "axis");
        AssertRejects(() => Tensor.Scalar(1f).Slice(0, 0, 1), "axis");
    }

    [TestMethod]
    public void Slice_RejectsRangesOutsideTheAxis()
    {
        AssertRejects(() => A23.Slice(1, -1, 2), "start");
        AssertRejects(() => A23.Slice(1, 4, 0), "start");
        AssertRejects(() => A23.Slice(1, 0, -1), "length");
        AssertRejects(() => A23.Slice(1, 2, 2), "length");
        AssertRejects(() => A23.Slice(0, 1, int.MaxValue), "length"); // start + length overflows int
        Assert.AreEqual(0, A23.Slice(1, 3, 0).Size, "an empty slice at the end is valid");
    }

    // ---- Concat --------------------------------------------------------------------------------------------------

    [TestMethod]
    public void Concat_RejectsEmptyAndNull()
    {
        AssertRejects(() => Tensor.Concat([], 0), "tensors");
        Assert.AreEqual("tensors", Assert.ThrowsExactly<ArgumentNullException>(() => Tensor.Concat(null!, 0)).ParamName);
        Assert.AreEqual("tensors", Assert.ThrowsExactly<ArgumentNullException>(() => Tensor.Concat([A23, null!], 0)).ParamName);
        Assert.AreEqual("tensors", Assert.ThrowsExactly<ArgumentNullException>(() => Tensor.Concat([null!, A23], 0)).ParamName);
    }

    [TestMethod]
    public void Concat_RejectsMismatchedShapes()
    {
        var e = AssertRejects(() => Tensor.Concat([A23, Tensor.Zeros([2, 4])], 0), "tensors");
        StringAssert.Contains(e.Message, "tensors[1]");
        AssertRejects(() => Tensor.Concat([A23, Tensor.Zeros([3, 3]), Tensor.Zeros([2, 4])], 1), "tensors");
        AssertRejects(() => Tensor.Concat([A23, Tensor.Zeros([6])], 0), "tensors");
        AssertRejects(() => Tensor.Concat([A23, Tensor.Zeros([1, 2, 3])], 0), "tensors");
    }

    [TestMethod]
    public void Concat_RejectsAxisOutOfRange()
    {
        AssertRejects(() => Tensor.Concat([A23, A23], 2), "axis");
        AssertRejects(() => Tensor.Concat([A23, A23], -3), "axis");
        AssertRejects(() => Tensor.Concat([Tensor.Scalar(1f), Tensor.Scalar(2f)], 0), "axis");
    }
}
