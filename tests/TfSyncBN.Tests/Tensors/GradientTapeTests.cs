using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Tensors;

/// <summary>The recording and gradient rules of <see cref="GradientTape"/> (those of <c>tf.GradientTape</c>).</summary>
[TestClass]
public sealed class GradientTapeTests
{
    private static Tensor X() => Tensor.FromArray([1f, -2f, 3f]);

    private static void AssertValues(float[] expected, Tensor? actual, string what = "")
    {
        Assert.IsNotNull(actual, $"{what}: gradient is null");
        CollectionAssert.AreEqual(expected, actual.ToArray(), $"{what}: got {actual}");
    }

    [TestMethod]
    public void UnwatchedTensor_HasNullGradient()
    {
        var x = X();
        using var tape = new GradientTape();
        var y = x * x;
        Assert.IsNull(tape.Gradient(y, [x])[0]);
    }

    [TestMethod]
    public void WatchedTensor_IsDifferentiable()
    {
        var x = X();
        using var tape = new GradientTape();
        tape.Watch(x);
        var y = x * x;
        AssertValues([2f, -4f, 6f], tape.Gradient(y, [x])[0]);
    }

    [TestMethod]
    public void SourceTheTargetDoesNotDependOn_HasNullGradient()
    {
        var x = X();
        var z = X();
        using var tape = new GradientTape();
        tape.Watch(x);
        tape.Watch(z);
        var grads = tape.Gradient(x.Exp(), [z, x]);
        Assert.IsNull(grads[0]);
        Assert.IsNotNull(grads[1]);
    }

    [TestMethod]
    public void TrainableVariable_IsWatchedAutomatically()
    {
        var v = new Variable(X());
        using var tape = new GradientTape();
        var y = v.Value * 3f;
        AssertValues([3f, 3f, 3f], tape.Gradient(y, [v])[0]);
    }

    [TestMethod]
    public void VariableAsTensorLike_IsReadAndWatched()
    {
        var v = new Variable(X());
        using var tape = new GradientTape();
        var y = v.ToTensor().Square();
        AssertValues([2f, -4f, 6f], tape.Gradient(y, [v])[0]);
    }

    [TestMethod]
    public void SourcesThenVariables_InOneCall()
    {
        // y = sum(x * v * v) + 2 * sum(w): dy/dx = v^2, dy/dv = 2 x v, dy/dw = 2; an unread variable has no gradient.
        var x = X();
        var v = new Variable(Tensor.FromArray([2f, 3f, -1f]));
        var w = new Variable(Tensor.FromArray([5f, 6f]));
        var unread = new Variable(Tensor.FromArray([7f]));
        using var tape = new GradientTape();
        tape.Watch(x);
        var y = (x * v.Value * v.Value).Sum() + (w.Value * 2f).Sum();
        var grads = tape.Gradient(y, [x], variables: [v, w, unread]);
        Assert.AreEqual(4, grads.Count);
        AssertValues([4f, 9f, 1f], grads[0], "x");
        AssertValues([4f, -12f, -6f], grads[1], "v");
        AssertValues([2f, 2f], grads[2], "w");
        Assert.IsNull(grads[3]);
    }

    [TestMethod]
    public void VariablesAlone_EqualThemAsSources()
    {
        var v = new Variable(X());
        var w = new Variable(Tensor.FromArray([0.5f, 4f, -1f]));
        using var tape = new GradientTape(persistent: true);
        var y = (v.Value * w.Value).Square();
        IReadOnlyList<Variable> variables = [v, w];
        var byName = tape.Gradient(y, variables: variables, outputGradient: Tensor.FromArray([1f, 2f, 3f]));
        var asSources = tape.Gradient(y, variables, Tensor.FromArray([1f, 2f, 3f]));
        // d/dv (v w)^2 * g = 2 v w^2 g; d/dw = 2 v^2 w g.
        AssertValues([0.5f, -128f, 18f], byName[0], "v");
        AssertValues([1f, 64f, -54f], byName[1], "w");
        Assert.AreEqual(2, asSources.Count);
        for (int i = 0; i < 2; i++) AssertValues(byName[i]!.ToArray(), asSources[i], $"source {i}");
    }

    [TestMethod]
    public void NonTrainableVariable_IsNotWatchedUnlessWatched()
    {
        var v = new Variable(X(), trainable: false);
        using (var tape = new GradientTape())
        {
            var y = v.Value * 3f;
            Assert.IsNull(tape.Gradient(y, [v])[0]);
        }
        using (var tape = new GradientTape())
        {
            tape.Watch(v);
            var y = v.Value * 3f;
            AssertValues([3f, 3f, 3f], tape.Gradient(y, [v])[0]);
        }
    }

    [TestMethod]
    public void WatchAccessedVariablesFalse_IgnoresTrainableVariablesUnlessWatched()
    {
        var v = new Variable(X());
        var w = new Variable(X());
        using var tape = new GradientTape(watchAccessedVariables: false);
        Assert.IsFalse(tape.WatchAccessedVariables);
        tape.Watch(w);
        var y = v.Value * w.Value;
        var grads = tape.Gradient(y, [v, w]);
        Assert.IsNull(grads[0], "trainable but not watched");
        AssertValues([1f, -2f, 3f], grads[1], "explicitly watched");
    }

    [TestMethod]
    public void NonPersistentTape_ThrowsOnSecondGradient()
    {
        var x = X();
        using var tape = new GradientTape();
        Assert.IsFalse(tape.Persistent);
        tape.Watch(x);
        var y = x * x;
        tape.Gradient(y, [x]);
        Assert.ThrowsExactly<InvalidOperationException>(() => tape.Gradient(y, [x]));
    }

    [TestMethod]
    public void PersistentTape_AllowsRepeatedGradients()
    {
        var x = X();
        using var tape = new GradientTape(persistent: true);
        Assert.IsTrue(tape.Persistent);
        tape.Watch(x);
        var y = x * x;
        var z = y.Sum();
        AssertValues([2f, -4f, 6f], tape.Gradient(y, [x])[0], "first");
        AssertValues([2f, -4f, 6f], tape.Gradient(z, [x])[0], "second");
        AssertValues([1f, 1f, 1f], tape.Gradient(z, [y])[0], "intermediate source");
    }

    [TestMethod]
    public void OutputGradient_WeightsTheVectorJacobianProduct()
    {
        var x = X();
        using var tape = new GradientTape();
        tape.Watch(x);
        var y = x * x;
        AssertValues([2f, 0f, -6f], tape.Gradient(y, [x], Tensor.FromArray([1f, 5f, -1f]) * Tensor.FromArray([1f, 0f, 1f]))[0]);
    }

    [TestMethod]
    public void OutputGradient_OfWrongShape_ThrowsNamingIt()
    {
        var x = X();
        using var tape = new GradientTape();
        tape.Watch(x);
        var y = x * x;
        var e = Assert.ThrowsExactly<ArgumentException>(() => tape.Gradient(y, [x], Tensor.Ones([3, 1])));
        Assert.AreEqual("outputGradient", e.ParamName);
        e = Assert.ThrowsExactly<ArgumentException>(() => tape.Gradient(y, [x], Tensor.Ones([])));
        Assert.AreEqual("outputGradient", e.ParamName);
    }

    [TestMethod]
    public void NullArguments_Throw()
    {
        var x = X();
        using var tape = new GradientTape();
        tape.Watch(x);
        Assert.AreEqual("target", Assert.ThrowsExactly<ArgumentNullException>(() => tape.Gradient(null!, [x])).ParamName);
        Assert.AreEqual("sources", Assert.ThrowsExactly<ArgumentNullException>(() => tape.Gradient(x, null!)).ParamName);
        Assert.AreEqual("sources", Assert.ThrowsExactly<ArgumentNullException>(() => tape.Gradient(x)).ParamName);
        Assert.AreEqual("variables", Assert.ThrowsExactly<ArgumentNullException>(() => tape.Gradient(x, variables: [null!])).ParamName);
        Assert.AreEqual("value", Assert.ThrowsExactly<ArgumentNullException>(() => tape.Watch(null!)).ParamName);
    }

    [TestMethod]
    public void VariableReadTwice_SumsBothUses()
    {
        var v = new Variable(X());
        using var tape = new GradientTape();
        var y = v.Value * 3f + v.Value.Square();
        // d/dv (3v + v²) = 3 + 2v
        AssertValues([5f, -1f, 9f], tape.Gradient(y, [v])[0]);
    }

    [TestMethod]
    public void TwoPathsFromOneTensor_AreSummed()
    {
        var x = X();
        using var tape = new GradientTape();
        tape.Watch(x);
        var a = x * 2f;
        var b = x.Square();
        var y = a + b + a; // 4x + x²
        AssertValues([6f, 0f, 10f], tape.Gradient(y, [x])[0]);
    }

    [TestMethod]
    public void Gradient_AfterDispose_Works()
    {
        var x = X();
        Tensor y;
        var tape = new GradientTape();
        using (tape)
        {
            tape.Watch(x);
            y = x.Square();
        }
        AssertValues([2f, -4f, 6f], tape.Gradient(y, [x])[0]);
    }

    [TestMethod]
    public void OpsAfterDispose_AreNotRecorded()
    {
        var x = X();
        var tape = new GradientTape(persistent: true);
        tape.Watch(x);
        var y = x.Square();
        tape.Dispose();
        tape.Dispose(); // idempotent
        var z = y * 2f;
        Assert.IsNull(tape.Gradient(z, [x])[0], "z was computed after Dispose");
        AssertValues([2f, -4f, 6f], tape.Gradient(y, [x])[0], "y was recorded before Dispose");
    }

    [TestMethod]
    public void NestedTapes_RecordIndependently()
    {
        var x = X();
        var w = Tensor.FromArray([2f, 2f, 2f]);
        using var outer = new GradientTape(persistent: true);
        outer.Watch(x);
        var a = x * 2f; // before the inner tape exists: recorded on the outer tape only
        using var inner = new GradientTape(persistent: true);
        inner.Watch(x);
        inner.Watch(w);
        var b = a * x * w; // 2x²w
        // outer: d/dx (2x² w) = 4xw, w unwatched on the outer tape.
        var go = outer.Gradient(b, [x, w]);
        AssertValues([8f, -16f, 24f], go[0], "outer dx");
        Assert.IsNull(go[1], "outer dw");
        // inner: a is a constant to the inner tape, so d/dx (a·x·w) = a·w = 4x; d/dw = a·x = 2x².
        var gi = inner.Gradient(b, [x, w]);
        AssertValues([4f, -8f, 12f], gi[0], "inner dx");
        AssertValues([2f, 8f, 18f], gi[1], "inner dw");
    }

    [TestMethod]
    public void NestedTapes_InnerDisposedFirst_OuterKeepsRecording()
    {
        var x = X();
        using var outer = new GradientTape();
        outer.Watch(x);
        using (var inner = new GradientTape())
        {
            inner.Watch(x);
            _ = x * 2f;
        }
        var y = x.Square();
        AssertValues([2f, -4f, 6f], outer.Gradient(y, [x])[0]);
    }

    [TestMethod]
    public void Gradient_FromAnotherThread_Throws()
    {
        var x = X();
        using var tape = new GradientTape();
        tape.Watch(x);
        var y = x.Square();
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try { tape.Gradient(y, [x]); }
            catch (Exception e) { error = e; }
        });
        thread.Start();
        thread.Join();
        Assert.IsInstanceOfType<InvalidOperationException>(error);
    }

    [TestMethod]
    public void TapeOnOneThread_DoesNotRecordOtherThreads()
    {
        var x = X();
        using var tape = new GradientTape();
        tape.Watch(x);
        Tensor? y = null;
        var thread = new Thread(() => y = x.Square());
        thread.Start();
        thread.Join();
        Assert.IsNull(tape.Gradient(y!, [x])[0]);
    }

    // ---- Reads of variables are their own nodes: no aliasing through shared tensor objects -----------------------

    [TestMethod]
    public void TwoVariablesFromTheSameInitialTensor_GetSeparateGradients()
    {
        var init = X();
        var v = new Variable(init, "v");
        var w = new Variable(init, "w");
        using var tape = new GradientTape();
        var y = v.Value * 2f + w.Value * 5f;
        var grads = tape.Gradient(y, [v, w]);
        AssertValues([2f, 2f, 2f], grads[0], "v");
        AssertValues([5f, 5f, 5f], grads[1], "w");
    }

    [TestMethod]
    public void VariableInitializedFromAWatchedTensor_GetsItsOwnGradient()
    {
        var x = X();
        using var tape = new GradientTape();
        tape.Watch(x);
        var v = new Variable(x);
        var y = x * 2f + v.Value * 5f;
        var grads = tape.Gradient(y, [x, v]);
        AssertValues([2f, 2f, 2f], grads[0], "x");
        AssertValues([5f, 5f, 5f], grads[1], "v");
    }

    [TestMethod]
    public void AssignIsNotDifferentiable_ReadAfterAssignIsTheVariable()
    {
        var x = X();
        var v = new Variable(Tensor.Zeros([3]));
        using var tape = new GradientTape();
        tape.Watch(x);
        v.Assign(x * 2f); // as in TensorFlow, the assignment cuts the path to x
        var y = v.Value * 3f;
        var grads = tape.Gradient(y, [v, x]);
        AssertValues([3f, 3f, 3f], grads[0], "v");
        Assert.IsNull(grads[1], "x reaches y only through an assignment");
    }

    [TestMethod]
    public void TapeDisposedOnAnotherThread_StopsRecording()
    {
        var x = X();
        var tape = new GradientTape(persistent: true);
        tape.Watch(x);
        var y = x.Square();
        var thread = new Thread(tape.Dispose);
        thread.Start();
        thread.Join();
        var z = y * 2f;
        Assert.IsNull(tape.Gradient(z, [x])[0], "z was computed after Dispose");
        AssertValues([2f, -4f, 6f], tape.Gradient(y, [x])[0]);
    }

    [TestMethod]
    public void StopGradient_BlocksTheGradient_ButKeepsTheValue()
    {
        var x = Tensor.FromArray([1f, 2f]);
        using var tape = new GradientTape();
        tape.Watch(x);
        var y = x * x.StopGradient();
        AssertValues([1f, 4f], y);
        AssertValues([1f, 2f], tape.Gradient(y, [x])[0]);
    }

    [TestMethod]
    public void NullSource_IsRejectedBeforeTheTapeIsUsed()
    {
        var x = Tensor.FromArray([3f]);
        using var tape = new GradientTape();
        tape.Watch(x);
        var y = x * x;
        Assert.ThrowsExactly<ArgumentNullException>(() => tape.Gradient(y, [x, null!]));
        AssertValues([6f], tape.Gradient(y, [x])[0]);
    }
}
