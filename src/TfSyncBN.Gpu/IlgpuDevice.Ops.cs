using ILGPU;
using ILGPU.Runtime;
using TfSyncBN.Gpu.Kernels;

namespace TfSyncBN.Gpu;

// Element-wise ops, activations, bias, matrix product, reductions, dropout, loss and optimizer updates.
public sealed partial class IlgpuDevice
{
    private readonly Dictionary<string, Delegate> kernels = [];

    private TDelegate Kernel<TDelegate>(string name, Func<TDelegate> load) where TDelegate : Delegate
    {
        if (!kernels.TryGetValue(name, out var k)) kernels[name] = k = load();
        return (TDelegate)k;
    }

    private Action<Index1D, ArrayView<float>, ArrayView<float>> Unary(string name, Action<Index1D, ArrayView<float>, ArrayView<float>> method) =>
        Kernel(name, () => Accelerator.LoadAutoGroupedStreamKernel(method));

    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> Binary(string name,
        Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> method) =>
        Kernel(name, () => Accelerator.LoadAutoGroupedStreamKernel(method));

    private GpuTensor Map(GpuTensor x, string name, Action<Index1D, ArrayView<float>, ArrayView<float>> method)
    {
        SameDevice(x, nameof(x));
        var y = New(x.ShapeArray);
        if (y.Length > 0) Unary(name, method)(y.Length, x.View, y.View);
        return y;
    }

    private GpuTensor Zip(GpuTensor a, GpuTensor b, string aName, string bName, string name,
        Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> method)
    {
        SameDevice(a, aName);
        SameDevice(b, bName);
        if (!a.ShapeArray.SequenceEqual(b.ShapeArray))
            throw new ArgumentException($"{bName} must have the shape of {aName}, {ShapeString(a.Shape)}, but has {ShapeString(b.Shape)}.", bName);
        var y = New(a.ShapeArray);
        if (y.Length > 0) Binary(name, method)(y.Length, a.View, b.View, y.View);
        return y;
    }

    /// <summary>Element-wise <c>a + b</c> of two tensors of one shape.</summary>
    /// <exception cref="ArgumentException">The shapes differ, or a tensor is on another device.</exception>
    public GpuTensor Add(GpuTensor a, GpuTensor b) => Zip(a, b, nameof(a), nameof(b), nameof(Add), ElementwiseKernels.Add);

    /// <summary>Element-wise <c>a·b</c> of two tensors of one shape.</summary>
    /// <exception cref="ArgumentException">The shapes differ, or a tensor is on another device.</exception>
    public GpuTensor Multiply(GpuTensor a, GpuTensor b) => Zip(a, b, nameof(a), nameof(b), nameof(Multiply), ElementwiseKernels.Multiply);

    /// <summary><c>y = x·factor</c>.</summary>
    /// <exception cref="ArgumentException"><paramref name="x"/> is on another device.</exception>
    public GpuTensor Scale(GpuTensor x, float factor)
    {
        SameDevice(x, nameof(x));
        var y = New(x.ShapeArray);
        if (y.Length > 0)
            Kernel(nameof(Scale), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float, ArrayView<float>>(ElementwiseKernels.Scale))(y.Length, x.View, factor, y.View);
        return y;
    }

    /// <summary><c>y = max(x, 0)</c>.</summary>
    public GpuTensor Relu(GpuTensor x) => Map(x, nameof(Relu), ElementwiseKernels.Relu);

    /// <summary>The ReLU gradient <c>dx = x &gt; 0 ? dy : 0</c> (0 at x = 0, as in TensorFlow).</summary>
    /// <exception cref="ArgumentException">The shapes differ.</exception>
    public GpuTensor ReluBackward(GpuTensor x, GpuTensor dy) => Zip(x, dy, nameof(x), nameof(dy), nameof(ReluBackward), ElementwiseKernels.ReluBackward);

    /// <summary><c>y = 1/(1 + exp(−x))</c>.</summary>
    public GpuTensor Sigmoid(GpuTensor x) => Map(x, nameof(Sigmoid), ElementwiseKernels.Sigmoid);

    /// <summary>The sigmoid gradient from its output: <c>dx = dy·y·(1 − y)</c>.</summary>
    /// <exception cref="ArgumentException">The shapes differ.</exception>
    public GpuTensor SigmoidBackward(GpuTensor y, GpuTensor dy) => Zip(y, dy, nameof(y), nameof(dy), nameof(SigmoidBackward), ElementwiseKernels.SigmoidBackward);

    /// <summary><c>y = tanh(x)</c>.</summary>
    public GpuTensor Tanh(GpuTensor x) => Map(x, nameof(Tanh), ElementwiseKernels.Tanh);

    /// <summary>The tanh gradient from its output: <c>dx = dy·(1 − y²)</c>.</summary>
    /// <exception cref="ArgumentException">The shapes differ.</exception>
    public GpuTensor TanhBackward(GpuTensor y, GpuTensor dy) => Zip(y, dy, nameof(y), nameof(dy), nameof(TanhBackward), ElementwiseKernels.TanhBackward);

    /// <summary><c>y[..., c] = x[..., c] + bias[c]</c> along the last axis.</summary>
    /// <exception cref="ArgumentException"><paramref name="x"/> is a scalar, or <paramref name="bias"/> is not of shape [last dimension].</exception>
    public GpuTensor BiasAdd(GpuTensor x, GpuTensor bias)
    {
        SameDevice(x, nameof(x));
        SameDevice(bias, nameof(bias));
        if (x.Shape.Count == 0) throw new ArgumentException("BiasAdd needs a tensor of rank >= 1, but x is a scalar.", nameof(x));
        int c = x.Shape[^1];
        if (bias.Shape.Count != 1 || bias.Shape[0] != c)
            throw new ArgumentException($"bias must have shape [{c}] (the last dimension of x {ShapeString(x.Shape)}), but has {ShapeString(bias.Shape)}.", nameof(bias));
        var y = New(x.ShapeArray);
        if (y.Length > 0)
            Kernel(nameof(BiasAdd), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(ElementwiseKernels.BiasAdd))(y.Length, x.View, bias.View, c, y.View);
        return y;
    }

    /// <summary>The bias gradient <c>dbias[c] = Σ dy[..., c]</c> (the deterministic float64 channel sum, rounded once).</summary>
    /// <exception cref="ArgumentException"><paramref name="dy"/> is a scalar.</exception>
    public GpuTensor BiasAddBackward(GpuTensor dy)
    {
        SameDevice(dy, nameof(dy));
        if (dy.Shape.Count == 0) throw new ArgumentException("BiasAddBackward needs a tensor of rank >= 1, but dy is a scalar.", nameof(dy));
        int c = dy.Shape[^1];
        using var sums = ChannelSums(dy, null, null, new ChannelLayout(c == 0 ? 0 : dy.Length / c, c, 1), ReductionKernels.SumX);
        return ToSingle(sums, [c]);
    }

    /// <summary>The sum of all elements, shape [] (deterministic float64 sum, rounded once).</summary>
    public GpuTensor Sum(GpuTensor x)
    {
        SameDevice(x, nameof(x));
        using var sums = ChannelSums(x, null, null, new ChannelLayout(x.Length, 1, 1), ReductionKernels.SumX);
        return ToSingle(sums, []);
    }

    /// <summary>
    /// The matrix product <c>y[i, j] = Σ_p op(a)[i, p]·op(b)[p, j]</c> of rank-2 tensors (op transposes when asked), by the
    /// tiled shared-memory kernel. Each element adds its products in increasing p, so the result does not depend on the tile size.
    /// </summary>
    /// <exception cref="ArgumentException">An operand is not of rank 2, or the inner dimensions differ.</exception>
    public GpuTensor MatMul(GpuTensor a, GpuTensor b, bool transposeA = false, bool transposeB = false)
    {
        SameDevice(a, nameof(a));
        SameDevice(b, nameof(b));
        if (a.Shape.Count != 2) throw new ArgumentException($"MatMul needs rank-2 operands, but a has shape {ShapeString(a.Shape)}.", nameof(a));
        if (b.Shape.Count != 2) throw new ArgumentException($"MatMul needs rank-2 operands, but b has shape {ShapeString(b.Shape)}.", nameof(b));
        int m = transposeA ? a.Shape[1] : a.Shape[0], k = transposeA ? a.Shape[0] : a.Shape[1];
        int kb = transposeB ? b.Shape[1] : b.Shape[0], n = transposeB ? b.Shape[0] : b.Shape[1];
        if (k != kb)
            throw new ArgumentException($"MatMul: the inner dimensions differ: op(a) is [{m}, {k}] and op(b) is [{kb}, {n}].", nameof(b));
        var y = New([m, n]);
        Gemm(a.View, b.View, y.View, m, n, k, transposeA, transposeB);
        return y;
    }

    internal void Gemm(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m, int n, int k, bool transposeA, bool transposeB, int? tile = null)
    {
        if (m == 0 || n == 0) return;
        int t = tile ?? GemmTile;
        var shape = new GemmShape { M = m, N = n, K = k, TransposeA = transposeA ? 1 : 0, TransposeB = transposeB ? 1 : 0 };
        var kernel = Kernel(nameof(GemmKernels.Gemm), () =>
            Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape>(GemmKernels.Gemm));
        kernel(new KernelConfig(new Index2D((n + t - 1) / t, (m + t - 1) / t), new Index2D(t, t)), a, b, c, shape);
    }

    /// <summary>
    /// Per-channel float64 sums of the term <paramref name="mode"/> selects (see <see cref="ReductionKernels"/>), in the
    /// fixed order documented there. <paramref name="launchThreads"/> sets the width of the level-1 launch (default: one
    /// thread per tile and channel); the result does not depend on it.
    /// </summary>
    internal PooledBuffer<double> ChannelSums(GpuTensor x, GpuTensor? u, PooledBuffer<double>? mean, ChannelLayout l, int mode, int? launchThreads = null) =>
        ChannelSums(x.View, (u ?? x).View, mean, l, mode, launchThreads);

    /// <summary><see cref="ChannelSums(GpuTensor, GpuTensor?, PooledBuffer{double}?, ChannelLayout, int, int?)"/> on views (<paramref name="u"/> = <paramref name="x"/> when unused).</summary>
    internal PooledBuffer<double> ChannelSums(ArrayView<float> x, ArrayView<float> u, PooledBuffer<double>? mean, ChannelLayout l, int mode, int? launchThreads = null)
    {
        int c = l.Channels;
        var result = new PooledBuffer<double>(Pool, c, joinScope: false);
        if (c == 0) return result;
        int tiles = (int)Math.Max(1, (l.Count + ReductionKernels.Tile - 1) / ReductionKernels.Tile);
        int items = tiles * c;
        int stride = Math.Clamp(launchThreads ?? items, 1, items);
        using var partials = new PooledBuffer<double>(Pool, items, joinScope: false);
        Kernel(nameof(ReductionKernels.ChannelPartials), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<double>, ChannelLayout, int, int, int, ArrayView<double>>(ReductionKernels.ChannelPartials))(
            stride, x, u, (mean ?? result).View, l, mode, items, stride, partials.View);
        Kernel(nameof(ReductionKernels.CombinePartials), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, int, int,
            ArrayView<double>>(ReductionKernels.CombinePartials))(c, partials.View, c, tiles, result.View);
        return result;
    }

    private GpuTensor ToSingle(PooledBuffer<double> x, int[] shape)
    {
        var y = New(shape);
        if (y.Length > 0)
            Kernel(nameof(ElementwiseKernels.ToSingle), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<float>>(ElementwiseKernels.ToSingle))(y.Length, x.View, y.View);
        return y;
    }

    private PooledBuffer<double> ScaleDouble(PooledBuffer<double> x, double factor, bool joinScope)
    {
        var y = new PooledBuffer<double>(Pool, x.Length, joinScope);
        if (y.Length > 0)
            Kernel(nameof(ElementwiseKernels.ScaleDouble), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, double, ArrayView<double>>(ElementwiseKernels.ScaleDouble))((int)y.Length, x.View, factor, y.View);
        return y;
    }

    /// <summary>
    /// Inverted dropout: element i is kept when <c>u(seed, i) ≥ rate</c>, u a counter-based hash uniform in [0, 1), and
    /// then scaled by <c>1/(1 − rate)</c>; the others are 0. The same seed gives the same mask on every device and run.
    /// </summary>
    /// <param name="x">The input.</param>
    /// <param name="rate">The fraction to drop, in [0, 1).</param>
    /// <param name="seed">The mask's seed; use a new one per step.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rate"/> is outside [0, 1).</exception>
    public GpuTensor Dropout(GpuTensor x, float rate, uint seed)
    {
        SameDevice(x, nameof(x));
        if (!(rate >= 0 && rate < 1)) throw new ArgumentOutOfRangeException(nameof(rate), rate, "rate must be in [0, 1).");
        var y = New(x.ShapeArray);
        if (y.Length > 0)
            Kernel(nameof(Dropout), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, uint, float, float, ArrayView<float>>(ElementwiseKernels.Dropout))(
                y.Length, x.View, seed, rate, 1f / (1f - rate), y.View);
        return y;
    }

    /// <summary>The dropout gradient: <c>dx = dy·mask</c> with the mask of <see cref="Dropout"/> for the same rate and seed.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rate"/> is outside [0, 1).</exception>
    public GpuTensor DropoutBackward(GpuTensor dy, float rate, uint seed) => Dropout(dy, rate, seed);

    /// <summary>
    /// Sparse softmax cross-entropy of logits [rows, classes] and one class id per row:
    /// <c>logp = x − m − log Σ exp(x − m)</c> (m the row maximum; finite for any finite logits), <c>loss[r] = −logp[r, label[r]]</c>.
    /// </summary>
    /// <param name="logits">Logits, shape [rows, classes] with classes ≥ 1.</param>
    /// <param name="labels">One class id in [0, classes) per row.</param>
    /// <returns>The losses [rows] and the log-probabilities (kept for the backward pass).</returns>
    /// <exception cref="ArgumentException">The logits are not [rows, classes ≥ 1], the label count differs from rows, or a label is outside [0, classes).</exception>
    public SoftmaxCrossEntropyResult SparseSoftmaxCrossEntropy(GpuTensor logits, IReadOnlyList<int> labels)
    {
        SameDevice(logits, nameof(logits));
        ArgumentNullException.ThrowIfNull(labels);
        if (logits.Shape.Count != 2 || logits.Shape[1] < 1)
            throw new ArgumentException($"logits must have shape [rows, classes >= 1], but has {ShapeString(logits.Shape)}.", nameof(logits));
        int rows = logits.Shape[0], classes = logits.Shape[1];
        if (labels.Count != rows) throw new ArgumentException($"labels must hold one class id per row ({rows}), but holds {labels.Count}.", nameof(labels));
        var ids = new int[rows];
        for (int r = 0; r < rows; r++)
        {
            if (labels[r] < 0 || labels[r] >= classes)
                throw new ArgumentException($"labels must be in [0, {classes}), but label {r} is {labels[r]}.", nameof(labels));
            ids[r] = labels[r];
        }
        var labelBuffer = new PooledBuffer<int>(Pool, rows, joinScope: true);
        labelBuffer.Upload(ids);
        var loss = New([rows]);
        var logp = New(logits.ShapeArray);
        if (rows > 0)
            Kernel(nameof(SparseSoftmaxCrossEntropy), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, int, ArrayView<float>,
                ArrayView<float>>(LossKernels.SparseSoftmaxCrossEntropy))(rows, logits.View, labelBuffer.View, classes, loss.View, logp.View);
        return new SoftmaxCrossEntropyResult(loss, logp, labelBuffer);
    }

    /// <summary>The gradient with respect to the logits: <c>dx[r, j] = (softmax(x)[r, j] − [j = label[r]])·dloss[r]</c>.</summary>
    /// <param name="forward">The result of <see cref="SparseSoftmaxCrossEntropy"/>.</param>
    /// <param name="dloss">The upstream gradient, shape [rows].</param>
    /// <exception cref="ArgumentException"><paramref name="dloss"/> is not of shape [rows].</exception>
    public GpuTensor SparseSoftmaxCrossEntropyBackward(SoftmaxCrossEntropyResult forward, GpuTensor dloss)
    {
        ArgumentNullException.ThrowIfNull(forward);
        SameDevice(dloss, nameof(dloss));
        var logp = forward.LogProbabilities;
        int rows = logp.Shape[0], classes = logp.Shape[1];
        if (dloss.Shape.Count != 1 || dloss.Shape[0] != rows)
            throw new ArgumentException($"dloss must have shape [{rows}], but has {ShapeString(dloss.Shape)}.", nameof(dloss));
        var dx = New(logp.ShapeArray);
        if (dx.Length > 0)
            Kernel(nameof(SparseSoftmaxCrossEntropyBackward), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int,
                ArrayView<float>>(LossKernels.SparseSoftmaxCrossEntropyBackward))(dx.Length, logp.View, forward.Labels.View, dloss.View, classes, dx.View);
        return dx;
    }

    /// <summary>
    /// One Keras SGD step in place: μ = 0: <c>w ← w − g·η</c>; otherwise <c>m ← m·μ − g·η</c> and <c>w ← w + m</c>
    /// (Nesterov: <c>w ← w + (m·μ − g·η)</c>).
    /// </summary>
    /// <param name="variable">The weights, updated in place.</param>
    /// <param name="gradient">The gradient, the shape of <paramref name="variable"/>.</param>
    /// <param name="momentumSlot">The momentum slot m (shape of the variable, initially 0), updated in place; required when μ &gt; 0.</param>
    /// <param name="learningRate">η &gt; 0.</param>
    /// <param name="momentum">μ in [0, 1].</param>
    /// <param name="nesterov">Whether to use Nesterov momentum.</param>
    /// <exception cref="ArgumentException">A shape differs, or μ &gt; 0 without a momentum slot.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="learningRate"/> is not positive or <paramref name="momentum"/> is outside [0, 1].</exception>
    public void SgdUpdate(GpuTensor variable, GpuTensor gradient, GpuTensor? momentumSlot = null, float learningRate = 0.01f,
        float momentum = 0f, bool nesterov = false)
    {
        CheckUpdate(variable, gradient, learningRate);
        if (!(momentum >= 0 && momentum <= 1)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "momentum must be in [0, 1].");
        if (momentum > 0 && momentumSlot is null) throw new ArgumentException("A momentum slot is required when momentum > 0.", nameof(momentumSlot));
        if (momentumSlot is not null) CheckSlot(variable, momentumSlot, nameof(momentumSlot));
        var p = new OptimizerParameters { LearningRate = learningRate, Momentum = momentum, Nesterov = nesterov ? 1 : 0 };
        if (variable.Length > 0)
            Kernel(nameof(OptimizerKernels.Sgd), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                OptimizerParameters>(OptimizerKernels.Sgd))(variable.Length, variable.View, gradient.View, (momentumSlot ?? variable).View, p);
    }

    /// <summary>
    /// One Keras Adam step in place, t = <paramref name="step"/> + 1: <c>α = η·sqrt(1 − β₂ᵗ)/(1 − β₁ᵗ)</c> (float64, rounded
    /// once), <c>m ← m + (g − m)·(1 − β₁)</c>, <c>v ← v + (g² − v)·(1 − β₂)</c>, <c>w ← w − (m·α)/(sqrt(v) + ε)</c>.
    /// </summary>
    /// <param name="variable">The weights, updated in place.</param>
    /// <param name="gradient">The gradient.</param>
    /// <param name="m">The first-moment slot (initially 0), updated in place.</param>
    /// <param name="v">The second-moment slot (initially 0), updated in place.</param>
    /// <param name="step">The number of steps taken before this one, ≥ 0.</param>
    /// <param name="learningRate">η &gt; 0.</param>
    /// <param name="beta1">β₁ in [0, 1).</param>
    /// <param name="beta2">β₂ in [0, 1).</param>
    /// <param name="epsilon">ε ≥ 0.</param>
    /// <exception cref="ArgumentException">A shape differs.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A hyperparameter or the step is out of range.</exception>
    public void AdamUpdate(GpuTensor variable, GpuTensor gradient, GpuTensor m, GpuTensor v, long step, float learningRate = 0.001f,
        float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-7f)
    {
        CheckUpdate(variable, gradient, learningRate);
        CheckSlot(variable, m, nameof(m));
        CheckSlot(variable, v, nameof(v));
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), step, "step must be >= 0.");
        if (!(beta1 >= 0 && beta1 < 1)) throw new ArgumentOutOfRangeException(nameof(beta1), beta1, "beta1 must be in [0, 1).");
        if (!(beta2 >= 0 && beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(beta2), beta2, "beta2 must be in [0, 1).");
        if (!(epsilon >= 0) || !float.IsFinite(epsilon)) throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "epsilon must be finite and >= 0.");
        double t = step + 1;
        float alpha = (float)(learningRate * Math.Sqrt(1 - Math.Pow(beta2, t)) / (1 - Math.Pow(beta1, t)));
        var p = new OptimizerParameters { Alpha = alpha, Beta1 = beta1, Beta2 = beta2, Epsilon = epsilon };
        if (variable.Length > 0)
            Kernel(nameof(OptimizerKernels.Adam), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, OptimizerParameters>(OptimizerKernels.Adam))(variable.Length, variable.View, gradient.View, m.View, v.View, p);
    }

    private void CheckUpdate(GpuTensor variable, GpuTensor gradient, float learningRate)
    {
        SameDevice(variable, nameof(variable));
        CheckSlot(variable, gradient, nameof(gradient));
        if (!(learningRate > 0) || !float.IsFinite(learningRate))
            throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "learningRate must be finite and > 0.");
    }

    private void CheckSlot(GpuTensor variable, GpuTensor slot, string name)
    {
        SameDevice(slot, name);
        if (!slot.ShapeArray.SequenceEqual(variable.ShapeArray))
            throw new ArgumentException($"{name} must have the variable's shape {ShapeString(variable.Shape)}, but has {ShapeString(slot.Shape)}.", name);
    }
}
