using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Keras.Optimizers;

[TestClass]
public sealed class OptimizerTests
{
    internal static readonly double[] W0 = [0.5, -1.25, 2.0];
    internal static readonly double[][] Grads = [[0.1, -0.2, 0.3], [-0.4, 0.5, 0.05], [0.25, 0.0, -1.5]];

    /// <summary>Runs three steps with the gradients above and returns the weights after each.</summary>
    internal static float[][] Run(Optimizer optimizer, Func<Tensor, Tensor>? weightConstraint = null)
    {
        var v = new Variable(Tensor.FromArray(W0.Select(d => (float)d).ToArray()), "w", weightConstraint: weightConstraint);
        var result = new float[3][];
        for (int s = 0; s < 3; s++)
        {
            optimizer.ApplyGradients([Tensor.FromArray(Grads[s].Select(d => (float)d).ToArray())], [v]);
            result[s] = v.Value.ToArray();
        }
        return result;
    }

    internal static void AssertSteps(double[][] expected, float[][] actual, double rtol = 1e-6)
    {
        for (int s = 0; s < expected.Length; s++)
            for (int i = 0; i < expected[s].Length; i++)
                Assert.AreEqual(expected[s][i], actual[s][i], rtol * Math.Max(1, Math.Abs(expected[s][i])), $"step {s + 1} element {i}");
    }

    [TestMethod]
    public void SGD_PlainMomentumAndNesterov_MatchHandComputedFloat64Sequences()
    {
        foreach (var (momentum, nesterov) in new[] { (0.0, false), (0.9, false), (0.9, true) })
        {
            const double lr = 0.1;
            var w = (double[])W0.Clone();
            var m = new double[3];
            var expected = new double[3][];
            for (int s = 0; s < 3; s++)
            {
                for (int i = 0; i < 3; i++)
                {
                    double g = Grads[s][i];
                    if (momentum == 0) { w[i] -= lr * g; continue; }
                    m[i] = momentum * m[i] - lr * g;
                    w[i] += nesterov ? momentum * m[i] - lr * g : m[i];
                }
                expected[s] = (double[])w.Clone();
            }
            AssertSteps(expected, Run(new SGD(learningRate: 0.1f, momentum: (float)momentum, nesterov: nesterov)));
        }
    }

    [TestMethod]
    public void Adam_MatchesHandComputedFloat64Sequence()
    {
        const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-7;
        var w = (double[])W0.Clone();
        var m = new double[3];
        var v = new double[3];
        var expected = new double[3][];
        for (int s = 0; s < 3; s++)
        {
            int t = s + 1;
            double alpha = lr * Math.Sqrt(1 - Math.Pow(b2, t)) / (1 - Math.Pow(b1, t));
            for (int i = 0; i < 3; i++)
            {
                double g = Grads[s][i];
                m[i] += (g - m[i]) * (1 - b1);
                v[i] += (g * g - v[i]) * (1 - b2);
                w[i] -= m[i] * alpha / (Math.Sqrt(v[i]) + eps);
            }
            expected[s] = (double[])w.Clone();
        }
        var adam = new Adam(learningRate: 0.01f);
        AssertSteps(expected, Run(adam));
        Assert.AreEqual(3L, adam.Iterations);
        // Keras' well-known first step: |Δw| = lr for every element with a non-zero gradient.
        Assert.AreEqual(0.5 - 0.01, Run(new Adam(learningRate: 0.01f))[0][0], 1e-6);
    }

    [TestMethod]
    public void Defaults_AreKeras()
    {
        var sgd = new SGD();
        Assert.AreEqual(0.01f, sgd.LearningRate);
        Assert.AreEqual(0f, sgd.Momentum);
        Assert.IsFalse(sgd.Nesterov);
        var adam = new Adam();
        Assert.AreEqual(0.001f, adam.LearningRate);
        Assert.AreEqual(0.9f, adam.Beta1);
        Assert.AreEqual(0.999f, adam.Beta2);
        Assert.AreEqual(1e-7f, adam.Epsilon);
        Assert.IsInstanceOfType<Adam>(TfSyncBN.Keras.Optimizers.Get("adam"));
        Assert.IsInstanceOfType<SGD>(TfSyncBN.Keras.Optimizers.Get("sgd"));
        Assert.ThrowsExactly<ArgumentException>(() => TfSyncBN.Keras.Optimizers.Get("adagrad"));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new SGD(learningRate: -1f));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new SGD(momentum: 1.5f));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Adam(beta1: 1f));
    }

    [TestMethod]
    public void Schedule_DrivesTheLearningRate_ByIterationCount()
    {
        // Step-wise rates 0.1, 0.1, 0.01 (boundary 1: steps 0 and 1 use 0.1).
        var sgd = new SGD(schedule: new PiecewiseConstantDecay([1], [0.1f, 0.01f]));
        var w = (double[])W0.Clone();
        var expected = new double[3][];
        double[] rates = [0.1, 0.1, 0.01];
        for (int s = 0; s < 3; s++)
        {
            for (int i = 0; i < 3; i++) w[i] -= (float)rates[s] * Grads[s][i];
            expected[s] = (double[])w.Clone();
        }
        AssertSteps(expected, Run(sgd));
        Assert.AreEqual(0.01f, sgd.CurrentLearningRate);
    }

    [TestMethod]
    public void Schedules_FollowKerasFormulas()
    {
        var exp = new ExponentialDecay(0.1f, decaySteps: 10, decayRate: 0.5f);
        Assert.AreEqual(0.1f, exp.Call(0));
        Assert.AreEqual(0.1 * Math.Pow(0.5, 0.5), exp.Call(5), 1e-7);
        Assert.AreEqual(0.025, exp.Call(20), 1e-8);
        var stair = new ExponentialDecay(0.1f, 10, 0.5f, staircase: true);
        Assert.AreEqual(0.1f, stair.Call(9));
        Assert.AreEqual(0.05f, stair.Call(10));
        var pw = new PiecewiseConstantDecay([100, 200], [1f, 0.5f, 0.1f]);
        Assert.AreEqual(1f, pw.Call(100));
        Assert.AreEqual(0.5f, pw.Call(101));
        Assert.AreEqual(0.5f, pw.Call(200));
        Assert.AreEqual(0.1f, pw.Call(201));
        var cos = new CosineDecay(0.2f, decaySteps: 100, alpha: 0.1f);
        Assert.AreEqual(0.2f, cos.Call(0), 1e-7);
        Assert.AreEqual(0.2 * (0.9 * 0.5 * (1 + Math.Cos(Math.PI * 0.25)) + 0.1), cos.Call(25), 1e-7);
        Assert.AreEqual(0.02, cos.Call(100), 1e-7);
        Assert.AreEqual(0.02, cos.Call(1000), 1e-7);
        var warm = new CosineDecay(0f, decaySteps: 10, warmupTarget: 1f, warmupSteps: 4);
        Assert.AreEqual(0.5f, warm.Call(2), 1e-7);
        Assert.AreEqual(1f, warm.Call(4), 1e-7);
        Assert.AreEqual(0.5, warm.Call(9), 1e-7);
        Assert.ThrowsExactly<ArgumentException>(() => new PiecewiseConstantDecay([1, 2], [1f]));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ExponentialDecay(0.1f, 0, 0.5f));
    }

    [TestMethod]
    public void Constraints_ApplyAfterTheUpdate_AndNullGradientsAreSkipped()
    {
        // NonNeg-like projection: the update 0.5 − 0.1·10 = −0.5 is clipped to 0.
        var v = new Variable(Tensor.FromArray([0.5f, 1f]), "w", weightConstraint: t => t.Maximum(Tensor.Scalar(0f)));
        var untouched = new Variable(Tensor.FromArray([3f]), "u");
        var sgd = new SGD(learningRate: 0.1f);
        sgd.ApplyGradients([Tensor.FromArray([10f, 1f]), null], [v, untouched]);
        CollectionAssert.AreEqual(new[] { 0f, 0.9f }, v.Value.ToArray());
        CollectionAssert.AreEqual(new[] { 3f }, untouched.Value.ToArray());
        Assert.ThrowsExactly<ArgumentException>(() => sgd.ApplyGradients([Tensor.FromArray([1f])], [v]));
        Assert.ThrowsExactly<ArgumentException>(() => sgd.ApplyGradients([], [v]));
    }

    [TestMethod]
    [Timeout(10000)]
    public void InsideRun_EachReplicaUpdatesItsMirroredCopy_AndCopiesStayBitwiseIdentical()
    {
        using var strategy = new MirroredStrategy(3);
        Variable v;
        var adam = new Adam(learningRate: 0.05f);
        using (strategy.Scope()) v = new Variable(Tensor.FromArray([0.3f, -0.7f, 1.1f]), "w");
        for (int s = 0; s < 3; s++)
        {
            var g = Tensor.FromArray(Grads[s].Select(d => (float)d).ToArray());
            strategy.Run(ctx =>
            {
                // Every replica passes the same, already reduced gradient, so the cross-replica sum is skipped.
                adam.ApplyGradients([g], [v], skipGradientsAggregation: true);
                return 0;
            });
        }
        Assert.AreEqual(3, v.Replicas.Count);
        for (int r = 1; r < 3; r++) CollectionAssert.AreEqual(v.Replicas[0].ToArray(), v.Replicas[r].ToArray(), $"replica {r}");
        // The same steps on a single-copy variable give the same bits.
        var single = new Variable(Tensor.FromArray([0.3f, -0.7f, 1.1f]), "w");
        var reference = new Adam(learningRate: 0.05f);
        for (int s = 0; s < 3; s++) reference.ApplyGradients([Tensor.FromArray(Grads[s].Select(d => (float)d).ToArray())], [single]);
        CollectionAssert.AreEqual(single.Value.ToArray(), v.Replicas[0].ToArray());
        // The slots and the iteration counter are mirrored too, and every replica counted 3 steps.
        Assert.AreEqual(3, adam.Variables.Count);
        foreach (var slot in adam.Variables) Assert.AreSame(strategy, slot.Strategy, slot.Name);
        Assert.AreEqual(3L, adam.Iterations);
        var counts = strategy.Run(_ => adam.Iterations);
        CollectionAssert.AreEqual(new long[] { 3, 3, 3 }, counts.ToArray());
    }

    [TestMethod]
    public void Config_RoundTripsWithSchedules()
    {
        var sgd = (SGD)TfSyncBN.Keras.Optimizers.FromConfig(TfSyncBN.Keras.Optimizers.Serialize(new SGD(0.2f, 0.8f, true)));
        Assert.AreEqual(0.2f, sgd.LearningRate);
        Assert.AreEqual(0.8f, sgd.Momentum);
        Assert.IsTrue(sgd.Nesterov);
        var adam = (Adam)TfSyncBN.Keras.Optimizers.FromConfig(TfSyncBN.Keras.Optimizers.Serialize(
            new Adam(beta2: 0.99f, schedule: new ExponentialDecay(0.1f, 10, 0.5f, staircase: true))));
        Assert.AreEqual(0.99f, adam.Beta2);
        var schedule = (ExponentialDecay)adam.Schedule!;
        Assert.AreEqual(0.05f, schedule.Call(10));
        Assert.IsTrue(schedule.Staircase);
    }
}
