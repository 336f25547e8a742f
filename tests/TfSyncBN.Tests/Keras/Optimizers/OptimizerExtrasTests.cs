using TfSyncBN.Keras;
using static TfSyncBN.Tests.Keras.Optimizers.OptimizerTests;

namespace TfSyncBN.Tests.Keras.Optimizers;

/// <summary>AdamW, RMSprop and decoupled weight decay against hand-written float64 loops of the Keras 3 formulas.</summary>
[TestClass]
public sealed class OptimizerExtrasTests
{
    [TestMethod]
    public void AdamW_MatchesKeras3_DecoupledDecayThenAdam()
    {
        // Keras 3 AdamW: w ← w − w·wd·lr (Optimizer._apply_weight_decay), then Adam: m ← m + (g − m)(1 − β1),
        // v ← v + (g² − v)(1 − β2), w ← w − lr·sqrt(1 − β2^t)/(1 − β1^t) · m / (sqrt(v) + ε).
        const double lr = 0.05, wd = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-7;
        var w = (double[])W0.Clone();
        double[] m = new double[3], v = new double[3];
        var expected = new double[3][];
        for (int s = 0; s < 3; s++)
        {
            double t = s + 1, alpha = lr * Math.Sqrt(1 - Math.Pow(b2, t)) / (1 - Math.Pow(b1, t));
            for (int i = 0; i < 3; i++)
            {
                double g = Grads[s][i];
                w[i] -= w[i] * wd * lr;
                m[i] += (g - m[i]) * (1 - b1);
                v[i] += (g * g - v[i]) * (1 - b2);
                w[i] -= alpha * m[i] / (Math.Sqrt(v[i]) + eps);
            }
            expected[s] = (double[])w.Clone();
        }
        AssertSteps(expected, Run(new AdamW(learningRate: (float)lr, weightDecay: (float)wd)));
        // Negative control: plain Adam (no decay) ends elsewhere.
        var adam = Run(new Adam(learningRate: (float)lr));
        Assert.IsTrue(Math.Abs(adam[2][2] - expected[2][2]) > 1e-3, "weight decay changes the result");
    }

    [TestMethod]
    [DataRow(1e-7)]
    [DataRow(0.05)]   // large enough to tell sqrt(v + ε) from sqrt(v) + ε
    public void RMSprop_MatchesKeras3Formula(double eps)
    {
        // Keras 3 RMSprop (momentum 0, not centered): v ← ρ·v + (1 − ρ)·g², w ← w − lr·g / sqrt(v + ε); ρ 0.9.
        const double lr = 0.01, rho = 0.9;
        var w = (double[])W0.Clone();
        var v = new double[3];
        var expected = new double[3][];
        for (int s = 0; s < 3; s++)
        {
            for (int i = 0; i < 3; i++)
            {
                double g = Grads[s][i];
                v[i] = rho * v[i] + (1 - rho) * g * g;
                w[i] -= lr * g / Math.Sqrt(v[i] + eps);
            }
            expected[s] = (double[])w.Clone();
        }
        var rms = new RMSprop(learningRate: (float)lr, epsilon: (float)eps);
        Assert.AreEqual(0.9f, rms.Rho);
        Assert.AreEqual(1e-7f, new RMSprop().Epsilon);
        AssertSteps(expected, Run(rms));
    }

    [TestMethod]
    public void SGD_NesterovWithWeightDecay_MatchesKeras3Formula()
    {
        // Keras 3: w ← w − w·wd·lr, then m ← μ·m − lr·g, w ← w + μ·m − lr·g (Nesterov).
        const double lr = 0.1, mu = 0.9, wd = 0.01;
        var w = (double[])W0.Clone();
        var m = new double[3];
        var expected = new double[3][];
        for (int s = 0; s < 3; s++)
        {
            for (int i = 0; i < 3; i++)
            {
                double g = Grads[s][i];
                w[i] -= w[i] * wd * lr;
                m[i] = mu * m[i] - lr * g;
                w[i] += mu * m[i] - lr * g;
            }
            expected[s] = (double[])w.Clone();
        }
        AssertSteps(expected, Run(new SGD(learningRate: (float)lr, momentum: (float)mu, nesterov: true, weightDecay: (float)wd)));
    }

    [TestMethod]
    public void Registry_ByKerasName_AndConfigRoundTrip()
    {
        var adamw = (AdamW)TfSyncBN.Keras.Optimizers.Get("adamw");
        Assert.AreEqual(0.004f, adamw.WeightDecay);
        Assert.AreEqual(0.001f, adamw.LearningRate);
        Assert.AreEqual("AdamW", adamw.ClassName);
        Assert.IsInstanceOfType<RMSprop>(TfSyncBN.Keras.Optimizers.Get("rmsprop"));
        var back = (AdamW)TfSyncBN.Keras.Optimizers.FromConfig(TfSyncBN.Keras.Optimizers.Serialize(new AdamW(0.01f, weightDecay: 0.05f, beta1: 0.8f)));
        Assert.AreEqual(0.05f, back.WeightDecay);
        Assert.AreEqual(0.8f, back.Beta1);
        var rms = (RMSprop)TfSyncBN.Keras.Optimizers.FromConfig(TfSyncBN.Keras.Optimizers.Serialize(new RMSprop(0.02f, rho: 0.8f, weightDecay: 0.1f)));
        Assert.AreEqual(0.8f, rms.Rho);
        Assert.AreEqual(0.1f, rms.WeightDecay);
        var sgd = (SGD)TfSyncBN.Keras.Optimizers.FromConfig(TfSyncBN.Keras.Optimizers.Serialize(new SGD(0.1f, weightDecay: 0.2f)));
        Assert.AreEqual(0.2f, sgd.WeightDecay);
        Assert.IsNull(new SGD().WeightDecay);
    }

    [TestMethod]
    public void BadArguments_Throw()
    {
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new SGD(weightDecay: -0.1f));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new AdamW(weightDecay: float.NaN));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new RMSprop(rho: 1f));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new RMSprop(epsilon: -1f));
        var centered = new Dictionary<string, object?> { ["class_name"] = "RMSprop", ["config"] = new Dictionary<string, object?> { ["centered"] = true } };
        Assert.ThrowsExactly<ArgumentException>(() => TfSyncBN.Keras.Optimizers.FromConfig(centered));
    }
}
