namespace TfSyncBN.Tensors;

/// <summary>An element-wise binary operation of <see cref="IBackend.Binary"/>.</summary>
internal enum BinaryOpKind
{
    /// <summary><c>x + y</c>.</summary>
    Add,

    /// <summary><c>x − y</c>.</summary>
    Subtract,

    /// <summary><c>x · y</c>.</summary>
    Multiply,

    /// <summary><c>x / y</c> (IEEE 754: division by zero gives ±∞ or NaN).</summary>
    Divide,

    /// <summary><c>max(x, y)</c> as <c>TensorPrimitives.Max</c> (NaN propagates).</summary>
    Maximum,

    /// <summary><c>min(x, y)</c> as <c>TensorPrimitives.Min</c> (NaN propagates).</summary>
    Minimum,
}

/// <summary>
/// The storage-level interface of one device: it allocates and copies storage and runs the kernels of the tensor
/// ops. Tensor ops check shapes, record gradients and pick the backend of their operands' device (once per op); a
/// backend sees only flat storage of float32 elements and lengths, never tensors or tapes.
/// </summary>
/// <remarks>
/// <para>Contract for every member: storage arguments were created by this backend (their <see cref="TensorStorage.Device"/>
/// is <see cref="Device"/>) and have the lengths stated; a destination is never one of the inputs unless stated; the
/// results must equal, within float32 rounding of the same formula, those of <see cref="CpuBackend"/>, which is the
/// reference (a conformance suite compares them). Calls may be asynchronous on the device, but must be ordered: a
/// later call, and <see cref="TensorStorage.CopyTo"/>, see the effects of earlier ones.</para>
/// <para>The host backend is <see cref="CpuBackend"/>. Another assembly (<c>TfSyncBN.Gpu</c>) implements this interface
/// and registers it with <see cref="Backends.Register"/>.</para>
/// </remarks>
internal partial interface IBackend
{
    /// <summary>The device this backend runs on.</summary>
    Device Device { get; }

    /// <summary>New storage of <paramref name="length"/> (≥ 0) elements, contents unspecified.</summary>
    TensorStorage Allocate(int length);

    /// <summary>New storage holding a copy of <paramref name="values"/>.</summary>
    TensorStorage Upload(ReadOnlySpan<float> values);

    /// <summary>Sets every element of <paramref name="destination"/> to <paramref name="value"/>.</summary>
    void Fill(TensorStorage destination, float value);

    /// <summary><c>destination[i] = op(x[i], y[i])</c> for the three storages' common length.</summary>
    void Binary(BinaryOpKind op, TensorStorage x, TensorStorage y, TensorStorage destination);

    /// <summary>
    /// One SGD step over storages of one length: without momentum (<paramref name="momentum"/> null)
    /// <c>newWeights = w − η·g</c>; with momentum <c>newMomentum = μ·m − η·g</c> and <c>newWeights = w + newMomentum</c>,
    /// or with Nesterov <c>newWeights = w + μ·newMomentum − η·g</c>. <paramref name="newMomentum"/> is null exactly when
    /// <paramref name="momentum"/> is.
    /// </summary>
    void SgdUpdate(TensorStorage weights, TensorStorage gradient, TensorStorage? momentum, float learningRate, float mu,
        bool nesterov, TensorStorage newWeights, TensorStorage? newMomentum);

    /// <summary>
    /// One Adam step over storages of one length: <c>newM = m + (g − m)(1 − β₁)</c>, <c>newV = v + (g² − v)(1 − β₂)</c>,
    /// <c>newWeights = w − α·newM / (sqrt(newV) + ε)</c>.
    /// </summary>
    void AdamUpdate(TensorStorage weights, TensorStorage gradient, TensorStorage m, TensorStorage v, float alpha, float beta1,
        float beta2, float epsilon, TensorStorage newWeights, TensorStorage newM, TensorStorage newV);
}
