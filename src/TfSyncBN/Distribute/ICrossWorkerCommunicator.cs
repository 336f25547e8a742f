namespace TfSyncBN.Distribute;

/// <summary>
/// The cross-process stage of a <see cref="MultiWorkerMirroredStrategy"/>'s collectives: a group of worker processes
/// (for instance the ranks of an MPI job) that sum buffers element-wise.
/// </summary>
/// <remarks>
/// <para>The strategy calls the communicator once per collective, from one thread of each worker at a time (never
/// concurrently), after it has reduced the worker's local replicas. Every worker makes the same calls in the same order
/// with the same lengths.</para>
/// <para>Contract for implementations: element i of the result is <c>((b0[i] + b1[i]) + b2[i]) + ...</c> over the
/// workers' buffers in <see cref="Rank"/> order, so that every worker receives the same bits, independently of timing,
/// message sizes and transport. A call that cannot complete (a worker failed, hung or exited) must not wait for ever:
/// it ends the job (as <see cref="Abort"/> does) or throws, within a bounded time.</para>
/// <para><c>TfSyncBN.Mpi</c>'s <c>MpiCommunicator</c> implements it over Open MPI.</para>
/// </remarks>
public interface ICrossWorkerCommunicator
{
    /// <summary>This worker's index, from 0 to <see cref="Size"/> - 1 (the MPI rank).</summary>
    int Rank { get; }

    /// <summary>The number of workers (the MPI world size), at least 1.</summary>
    int Size { get; }

    /// <summary>
    /// Replaces <paramref name="buffer"/>[0..<paramref name="length"/>) on every worker with the element-wise sum over
    /// all workers, added in rank order.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="buffer"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is negative or longer than the buffer.</exception>
    void AllReduceSum(float[] buffer, int length);

    /// <summary>The float64 twin of <see cref="AllReduceSum(float[], int)"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="buffer"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is negative or longer than the buffer.</exception>
    void AllReduceSum(double[] buffer, int length);

    /// <summary>
    /// Ends every worker of the job with a non-zero exit code after writing <paramref name="message"/> to standard
    /// error; used when this worker failed and the others would otherwise wait for it. Does not return.
    /// </summary>
    void Abort(int exitCode, string message);
}
