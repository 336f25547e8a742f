using System.Collections;

namespace TfSyncBN.Distribute;

/// <summary>The values that <see cref="Strategy.Run{T}"/> returned, one per replica, in replica order (<c>tf.distribute.PerReplica</c>).</summary>
/// <typeparam name="T">The type of each replica's value.</typeparam>
public sealed class PerReplica<T> : IReadOnlyList<T>
{
    private readonly T[] values;

    internal PerReplica(T[] values) => this.values = values;

    /// <summary>The values in replica order.</summary>
    public IReadOnlyList<T> Values => Array.AsReadOnly(values);

    /// <summary>The value of replica <paramref name="index"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is not a replica id (0 to <see cref="Count"/> - 1).</exception>
    public T this[int index] => (uint)index < (uint)values.Length
        ? values[index]
        : throw new ArgumentOutOfRangeException(nameof(index), index, $"The replica index must be between 0 and {values.Length - 1}.");

    /// <summary>The number of replicas.</summary>
    public int Count => values.Length;

    /// <inheritdoc/>
    public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)values).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => values.GetEnumerator();

    /// <summary>The values, e.g. <c>PerReplica {1, 2}</c>.</summary>
    public override string ToString() => $"PerReplica {{{string.Join(", ", values)}}}";
}
