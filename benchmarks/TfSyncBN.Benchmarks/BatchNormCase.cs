using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// One batch-norm benchmark case: a shape given as N,H,W,C, a layout (NHWC: channels last, axis −1; NCHW: channels
/// first, axis 1), a layer, an input and an upstream gradient, and the calls the suites time.
/// </summary>
internal sealed class BatchNormCase
{
    public BatchNormCase(string shape, string layout, bool synchronized = false)
    {
        var d = shape.Split('x').Select(int.Parse).ToArray();
        int n = d[0], h = d[1], w = d[2], c = d[3];
        int[] dims = layout == "NHWC" ? [n, h, w, c] : [n, c, h, w];
        Layer = synchronized
            ? new SyncBatchNormalization(axis: layout == "NHWC" ? null : [1])
            : new BatchNormalization(axis: layout == "NHWC" ? null : [1]);
        X = Random(dims, 1, 0.5f, 2f);
        Dy = Random(dims, 2, 0f, 1f);
        Layer.EnsureBuilt(dims);
        Sources = [X, .. Layer.TrainableWeights];
    }

    public Layer Layer { get; }
    public Tensor X { get; }
    public Tensor Dy { get; }
    public ITensorLike[] Sources { get; }
    public int Elements => X.Size;

    /// <summary>Elements uniform in [mean − spread, mean + spread], seeded.</summary>
    public static Tensor Random(int[] shape, int seed, float mean, float spread)
    {
        var rng = new Random(seed);
        var data = new float[shape.Aggregate(1, (p, v) => p * v)];
        for (int i = 0; i < data.Length; i++) data[i] = mean + spread * (float)(2 * rng.NextDouble() - 1);
        return Tensor.FromArray(data, shape);
    }

    // Each call runs in a TensorScope, as each replica's step does in Model.TrainStep: in steady state the output and
    // gradient storage comes from the previous call's, not from the GC. A call returns one element, so nothing
    // escapes the scope.

    public float TrainForward()
    {
        using var scope = TensorScope.Begin();
        return Layer.Call(X, training: true).AsSpan()[0];
    }

    public float Inference()
    {
        using var scope = TensorScope.Begin();
        return Layer.Call(X, training: false).AsSpan()[0];
    }

    /// <summary>
    /// Batch norm followed by a ReLU, training forward then the gradients of x, γ and β: <paramref name="fused"/> as the
    /// one fused op a Sequential model runs, else as the layer then <see cref="Tensor.Relu"/>.
    /// </summary>
    public float ReluForwardBackward(bool fused)
    {
        using var scope = TensorScope.Begin();
        using var tape = new GradientTape();
        tape.Watch(X);
        var y = fused ? ((BatchNormalization)Layer).CallWithRelu(X, training: true) : Layer.Call(X, training: true).Relu();
        return tape.Gradient(y, Sources, Dy)[0]!.AsSpan()[0];
    }

    /// <summary>Batch norm followed by a ReLU, training forward only (fused or as two ops).</summary>
    public float ReluForward(bool fused)
    {
        using var scope = TensorScope.Begin();
        var y = fused ? ((BatchNormalization)Layer).CallWithRelu(X, training: true) : Layer.Call(X, training: true).Relu();
        return y.AsSpan()[0];
    }

    /// <summary>Training forward, then the gradients of x, γ and β for the upstream gradient dy.</summary>
    public float TrainForwardBackward()
    {
        using var scope = TensorScope.Begin();
        using var tape = new GradientTape();
        tape.Watch(X);
        var y = Layer.Call(X, training: true);
        return tape.Gradient(y, Sources, Dy)[0]!.AsSpan()[0];
    }
}
