namespace TfSyncBN.Tensors;

/// <summary>
/// A sparse tensor in coordinate (COO) form with dense channels, as Paddle's <c>paddle.sparse</c> COO tensors: the
/// positions of the stored elements (<see cref="Indices"/>, one row of <c>SparseRank</c> coordinates per stored
/// element) and their channel vectors (<see cref="Values"/>, shape [nnz, C]). The dense shape is
/// <c>[d₀, …, d_{k−1}, C]</c>: k sparse dimensions, then the channel dimension.
/// </summary>
/// <remarks>
/// Values is an ordinary <see cref="Tensor"/>, so a <see cref="GradientTape"/> differentiates through operations on it;
/// the indices are constants.
/// </remarks>
public sealed class SparseCooTensor
{
    private readonly int[] indices;
    private readonly int[] denseShape;

    /// <summary>Creates the tensor (the indices are copied).</summary>
    /// <param name="indices">Row-major [nnz, k] coordinates: element i is at (indices[i·k], …, indices[i·k + k − 1]).</param>
    /// <param name="values">The stored channel vectors, shape [nnz, C].</param>
    /// <param name="denseShape">The dense shape [d₀, …, d_{k−1}, C], k ≥ 1.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="denseShape"/> has rank below 2 or a negative dimension;
    /// <paramref name="values"/> is not [nnz, C] with C the last dense dimension; <paramref name="indices"/> does not
    /// hold nnz·k coordinates; or a coordinate is outside its dimension.</exception>
    public SparseCooTensor(IReadOnlyList<int> indices, Tensor values, IReadOnlyList<int> denseShape)
    {
        ArgumentNullException.ThrowIfNull(indices);
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(denseShape);
        this.denseShape = [.. denseShape];
        if (this.denseShape.Length < 2 || this.denseShape.Any(d => d < 0))
            throw new ArgumentException($"denseShape must have rank >= 2 (sparse dimensions, then channels) and no negative dimension, but is {Tensor.ShapeString(this.denseShape)}.", nameof(denseShape));
        int k = this.denseShape.Length - 1, channels = this.denseShape[^1];
        if (values.Rank != 2 || values.Shape[1] != channels)
            throw new ArgumentException($"values must have shape [nnz, {channels}] (the last dense dimension), but has {Tensor.ShapeString(values.Shape.ToArray())}.", nameof(values));
        int nnz = values.Shape[0];
        if (indices.Count != (long)nnz * k)
            throw new ArgumentException($"indices must hold nnz·k = {nnz}·{k} coordinates, but holds {indices.Count}.", nameof(indices));
        this.indices = [.. indices];
        for (int i = 0; i < this.indices.Length; i++)
        {
            int d = i % k;
            if (this.indices[i] < 0 || this.indices[i] >= this.denseShape[d])
                throw new ArgumentException($"indices[{i / k}, {d}] = {this.indices[i]} is outside [0, {this.denseShape[d]}).", nameof(indices));
        }
        Values = values;
    }

    /// <summary>The row-major [nnz, k] coordinates of the stored elements.</summary>
    public IReadOnlyList<int> Indices => Array.AsReadOnly(indices);

    /// <summary>The stored channel vectors, shape [nnz, C].</summary>
    public Tensor Values { get; }

    /// <summary>The dense shape [d₀, …, d_{k−1}, C].</summary>
    public IReadOnlyList<int> DenseShape => Array.AsReadOnly(denseShape);

    /// <summary>The number of stored elements (rows of <see cref="Values"/>).</summary>
    public int Nnz => Values.Shape[0];

    /// <summary>The number of sparse dimensions k (the dense rank minus the channel dimension).</summary>
    public int SparseRank => denseShape.Length - 1;

    /// <summary>A copy with the same indices and dense shape and other values (the sparsity pattern is kept).</summary>
    /// <exception cref="ArgumentException"><paramref name="values"/> does not have the shape of <see cref="Values"/>.</exception>
    public SparseCooTensor WithValues(Tensor values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Rank != 2 || values.Shape[0] != Nnz || values.Shape[1] != denseShape[^1])
            throw new ArgumentException($"values must have shape [{Nnz}, {denseShape[^1]}], but has {Tensor.ShapeString(values.Shape.ToArray())}.", nameof(values));
        return new SparseCooTensor(indices, values, denseShape);
    }

    /// <summary>The dense tensor: zeros except the stored elements (a repeated coordinate adds up, as in coalescing).</summary>
    public Tensor ToDense()
    {
        int k = SparseRank, channels = denseShape[^1];
        var dense = new float[denseShape.Aggregate(1L, (a, b) => a * b)];
        var v = Values.AsSpan();
        for (int i = 0; i < Nnz; i++)
        {
            long flat = 0;
            for (int d = 0; d < k; d++) flat = flat * denseShape[d] + indices[i * k + d];
            for (int c = 0; c < channels; c++) dense[flat * channels + c] += v[i * channels + c];
        }
        return Tensor.FromArray(dense, denseShape);
    }
}
