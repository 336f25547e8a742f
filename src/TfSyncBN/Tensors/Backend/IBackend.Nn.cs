using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Tensors;

/// <summary>An element-wise activation of <see cref="IBackend.Activation"/> and <see cref="IBackend.ActivationBackward"/>.</summary>
internal enum ActivationKind
{
    /// <summary><c>y = max(x, 0)</c> as <c>TensorPrimitives.Max(x, 0)</c> (NaN propagates, −0 gives +0); gradient from x: <c>x &gt; 0 ? dy : 0</c>.</summary>
    Relu,

    /// <summary><c>y = 1/(1 + exp(−x))</c>; gradient from y: <c>dy·y·(1 − y)</c>.</summary>
    Sigmoid,

    /// <summary><c>y = tanh(x)</c>; gradient from y: <c>dy·(1 − y²)</c>.</summary>
    Tanh,
}

// The members of the neural-network ops (the Fashion-MNIST CNN's forward and backward pass, its loss and metrics).
// Lengths and shapes are ints; every storage has the length its shape implies.
internal partial interface IBackend
{
    /// <summary><c>y = s ⊙ x</c> or <c>x ⊙ s</c> (<paramref name="scalarFirst"/>) for a host scalar s and every element of x.</summary>
    void BinaryScalar(BinaryOpKind op, TensorStorage x, float scalar, bool scalarFirst, TensorStorage destination);

    /// <summary><c>destination[i] = source[0]</c> for every i (a one-element storage broadcast to a shape).</summary>
    void BroadcastScalar(TensorStorage source, TensorStorage destination);

    /// <summary>The activation of <paramref name="op"/> element-wise.</summary>
    void Activation(ActivationKind op, TensorStorage x, TensorStorage y);

    /// <summary>The activation's gradient: <paramref name="saved"/> is x for <see cref="ActivationKind.Relu"/>, y otherwise.</summary>
    void ActivationBackward(ActivationKind op, TensorStorage saved, TensorStorage dy, TensorStorage dx);

    /// <summary>Softmax (or log-softmax) of x viewed as [outer, length, inner] along the middle axis, shifted by the maximum.</summary>
    void Softmax(TensorStorage x, TensorStorage y, int outer, int length, int inner, bool log);

    /// <summary>Its gradient from y: softmax <c>y·(dy − Σ dy·y)</c>, log-softmax <c>dy − exp(y)·Σ dy</c>.</summary>
    void SoftmaxBackward(TensorStorage y, TensorStorage dy, TensorStorage dx, int outer, int length, int inner, bool log);

    /// <summary><c>y[m, n] = Σ_p op(a)[m, p]·op(b)[p, n]</c>, a stored [m, k] (or [k, m] when transposed), b [k, n] (or [n, k]).</summary>
    void MatMul(TensorStorage a, bool transposeA, TensorStorage b, bool transposeB, int m, int n, int k, TensorStorage y);

    /// <summary><c>y[r, c] = x[r, c] + bias[c]</c> with c over the bias's length.</summary>
    void BiasAdd(TensorStorage x, TensorStorage bias, TensorStorage y);

    /// <summary><c>y[c] = Σ_r x[r, c]</c> for x viewed as [rows, y.Length] (the bias gradient; with one column, the sum of all).</summary>
    void ColumnSums(TensorStorage x, TensorStorage y);

    /// <summary>NHWC 2-D convolution of x [N, H, W, C] with kernel [KH, KW, C, filters] into y [N, OH, OW, filters].</summary>
    /// <exception cref="NotSupportedException">The geometry has an option the device does not run (e.g. dilation).</exception>
    void Conv2D(TensorStorage x, TensorStorage kernel, WindowGeometry geometry, int filters, TensorStorage y);

    /// <summary>The convolution's gradients: dx (skipped when null) and dkernel (skipped when null).</summary>
    /// <exception cref="NotSupportedException">The geometry has an option the device does not run.</exception>
    void Conv2DBackward(TensorStorage x, TensorStorage kernel, TensorStorage dy, WindowGeometry geometry, int filters,
        TensorStorage? dx, TensorStorage? dkernel);

    /// <summary>NHWC max pooling (padding never wins).</summary>
    void MaxPool2D(TensorStorage x, WindowGeometry geometry, TensorStorage y);

    /// <summary>Its gradient: each window's dy to its first maximal position (row-major), summed where windows overlap.</summary>
    void MaxPool2DBackward(TensorStorage x, TensorStorage y, TensorStorage dy, WindowGeometry geometry, TensorStorage dx);

    /// <summary>
    /// The inverted-dropout mask of the Keras <c>Dropout</c> layer: element i gets <paramref name="scale"/> when word
    /// i mod 4 of Philox4x32-10 at counter (i/4, call low, call high, replica) and key (key low, key high) is ≥
    /// <paramref name="threshold"/>, else 0.
    /// </summary>
    void DropoutMask(TensorStorage mask, ulong key, long call, int replica, uint threshold, float scale);

    /// <summary>
    /// Sparse softmax cross-entropy of logits [rows, classes] and class ids (exact integers in [0, classes), checked by
    /// the caller) stored as floats: <c>logp = log-softmax(logits)</c>, <c>loss[r] = −logp[r, label[r]]</c>.
    /// </summary>
    void SparseSoftmaxCrossEntropy(TensorStorage logits, TensorStorage labels, int rows, int classes, TensorStorage loss, TensorStorage logp);

    /// <summary>Its gradient: <c>dx[r, j] = exp(logp[r, j])·dloss[r] − [j = label[r]]·dloss[r]</c>.</summary>
    void SparseSoftmaxCrossEntropyBackward(TensorStorage logp, TensorStorage labels, TensorStorage dloss, int rows, int classes, TensorStorage dx);

    /// <summary>The index (as a float) of the first largest element of each row of x [rows, classes] (a NaN wins).</summary>
    void ArgMax(TensorStorage x, int rows, int classes, TensorStorage y);

    /// <summary>How many positions hold equal values in x and y (NaN equals nothing); a host sync point.</summary>
    int CountEqual(TensorStorage x, TensorStorage y);
}
