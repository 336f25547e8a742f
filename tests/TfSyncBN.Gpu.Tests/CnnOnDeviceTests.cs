using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TDevice = TfSyncBN.Tensors.Device;

namespace TfSyncBN.Gpu.Tests;

/// <summary>
/// The Fashion-MNIST CNN of <c>examples/FashionMnist</c> (<c>FashionMnistCnn</c>: the same layers, kernel sizes, seeds
/// and input; a quarter of its widths, 8/16/32 for 32/64/128, and a batch of 2, because ILGPU's CPU accelerator simulates
/// every GPU thread and is slow) with its three SyncBatchNormalization layers left out, since batch normalization on a
/// device is another branch's work, built on <c>ilgpu-cpu:0</c> (every weight moved there) and on the cpu: the forward pass, the loss, the
/// tape gradients of every weight and a few SGD and Adam steps agree, on a batch of the library's Fashion-MNIST subset.
/// One device, no strategy.
/// </summary>
/// <remarks>
/// Tolerance: the per-op bounds of <see cref="NnBackendTests"/> compound through the network (the cpu's FMA GEMM and
/// float32 sums against the device's in-order GEMM and float64 sums; different exp/log), so each tensor is compared
/// relative to its largest magnitude: <c>|Δ| ≤ 1e-4·max|cpu|</c>. The largest reduction is the first Dense layer's,
/// K = 784 terms, whose γ_K bound 2·K·u is about 9e-5; the differences measured on 5 Dec 2026 stay below 7e-7 (the
/// test prints them). Dropout's mask is the same on both (bitwise, <see cref="NnBackendTests"/>).
/// </remarks>
[TestClass]
public sealed class CnnOnDeviceTests
{
    private const int Batch = 2;

    private static TDevice Dev;

    [ClassInitialize]
    public static void Attach(TestContext _) => Dev = Device.Cpu.AttachToTensors();

    private static Sequential Build() => new(
    [
        new Conv2D(8, [3, 3], padding: "same", useBias: false, kernelInitializer: Initializers.GlorotUniform(seed: 1)),
        new ReLU(),
        new MaxPooling2D([2, 2]),
        new Conv2D(16, [3, 3], padding: "same", useBias: false, kernelInitializer: Initializers.GlorotUniform(seed: 2)),
        new ReLU(),
        new MaxPooling2D([2, 2]),
        new Flatten(),
        new Dense(32, useBias: false, kernelInitializer: Initializers.GlorotUniform(seed: 3)),
        new ReLU(),
        new Dropout(0.3f, seed: 4),
        new Dense(10, kernelInitializer: Initializers.GlorotUniform(seed: 5)),
    ], inputShape: [28, 28, 1], name: "fashion_mnist_cnn_without_bn");

    private static (float[] X, float[] Y) Data()
    {
        var data = FashionMnist.Load(subset: true);
        var x = data.TrainImages.ToArray()[..(Batch * 28 * 28)];
        var y = data.TrainLabels[..Batch].Select(l => (float)l).ToArray();
        return (x, y);
    }

    private sealed record Trace(List<float[]> Logits, List<float> Losses, List<float[][]> Gradients, float[][] Weights, int[] Predicted);

    private static Trace Train(TDevice device, Func<Optimizer> optimizer, int steps)
    {
        var (xs, ys) = Data();
        var model = Build();
        foreach (var v in model.Weights) v.Assign(v.Value.To(device));
        var opt = optimizer();
        var lossFn = new SparseCategoricalCrossentropy(fromLogits: true);
        var x = Tensor.FromArray(xs, [Batch, 28, 28, 1], device);
        var y = Tensor.FromArray(ys, [Batch], device);
        var trace = new Trace([], [], [], [], []);
        for (int s = 0; s < steps; s++)
        {
            using var tape = new GradientTape();
            var logits = model.Call(x, training: true);
            var loss = lossFn.Call(y, logits);
            var grads = tape.Gradient(loss, variables: model.TrainableWeights);
            Assert.AreEqual(device, logits.Device);
            Assert.AreEqual(device, loss.Device);
            trace.Logits.Add(logits.ToArray());
            trace.Losses.Add(loss.ToScalar());
            trace.Gradients.Add([.. grads.Select(g => g!.ToArray())]);
            opt.ApplyGradients(grads, model.TrainableWeights);
            Assert.IsTrue(model.Weights.All(w => w.Value.Device == device), "the weights stay on the device");
        }
        var inference = model.Call(x, training: false);
        return trace with { Weights = [.. model.Weights.Select(w => w.Value.ToArray())], Predicted = TrainingOps.ArgMaxLastAxis(inference) };
    }

    private static void AssertClose(float[] cpu, float[] dev, string what)
    {
        Assert.AreEqual(cpu.Length, dev.Length, what);
        float scale = cpu.Select(Math.Abs).DefaultIfEmpty(0f).Max();
        float worst = 0;
        for (int i = 0; i < cpu.Length; i++) worst = Math.Max(worst, Math.Abs(cpu[i] - dev[i]));
        Console.WriteLine($"{what}: max |Δ|/max|cpu| = {worst / Math.Max(scale, float.Epsilon):E2}");
        Assert.IsTrue(worst <= 1e-4f * scale, $"{what}: max |Δ| {worst:R} > 1e-4·{scale:R}");
    }

    private static void AssertSameRun(Trace cpu, Trace dev)
    {
        for (int s = 0; s < cpu.Losses.Count; s++)
        {
            AssertClose(cpu.Logits[s], dev.Logits[s], $"step {s} logits");
            AssertClose([cpu.Losses[s]], [dev.Losses[s]], $"step {s} loss");
            for (int g = 0; g < cpu.Gradients[s].Length; g++) AssertClose(cpu.Gradients[s][g], dev.Gradients[s][g], $"step {s} gradient {g}");
        }
        for (int w = 0; w < cpu.Weights.Length; w++) AssertClose(cpu.Weights[w], dev.Weights[w], $"weight {w} after the steps");
        CollectionAssert.AreEqual(cpu.Predicted, dev.Predicted, "predicted classes");
    }

    [TestMethod]
    public void SgdSteps_OnIlgpuCpu_MatchTheCpu()
    {
        var cpu = Train(TDevice.Cpu, () => new SGD(0.05f, momentum: 0.9f), 3);
        var dev = Train(Dev, () => new SGD(0.05f, momentum: 0.9f), 3);
        AssertSameRun(cpu, dev);
        // Negative control: training moved the weights and lowered the loss, so the comparison compares something.
        Assert.IsTrue(cpu.Losses[^1] < cpu.Losses[0], $"losses {string.Join(", ", cpu.Losses)}");
    }

    [TestMethod]
    public void AdamSteps_OnIlgpuCpu_MatchTheCpu()
    {
        var cpu = Train(TDevice.Cpu, () => new Adam(1e-3f), 3);
        var dev = Train(Dev, () => new Adam(1e-3f), 3);
        AssertSameRun(cpu, dev);
        Assert.IsTrue(cpu.Losses[^1] < cpu.Losses[0], $"losses {string.Join(", ", cpu.Losses)}");
    }
}
