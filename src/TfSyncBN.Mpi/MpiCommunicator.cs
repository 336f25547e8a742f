using System.Diagnostics;
using System.Numerics;
using System.Numerics.Tensors;
using TfSyncBN.Distribute;

namespace TfSyncBN.Mpi;

/// <summary>
/// The workers of an Open MPI job (<c>MPI_COMM_WORLD</c>) as the cross-process stage of a
/// <see cref="MultiWorkerMirroredStrategy"/>.
/// </summary>
/// <remarks>
/// <para>Create it once per process with <see cref="Initialize"/>, before the strategy, and dispose it at the end
/// (<c>MPI_Finalize</c>). Started by <c>mpirun</c>, each process is one worker (its MPI rank); started without
/// <c>mpirun</c>, the program is a single worker and Open MPI is not even loaded.</para>
/// <para>Determinism: <c>MPI_Allreduce</c> does not fix the order in which it adds the ranks' values (it depends on
/// the algorithm Open MPI picks for the message size, the rank count and the transport), and the MPI standard only
/// recommends, without requiring, that every rank get the same bits. So the sum is made in rank order here. With two
/// ranks each element is a single addition, which is commutative, so <c>MPI_Allreduce</c> is used as is. Otherwise
/// buffers of at most <see cref="GatherLimit"/> elements over all ranks are gathered on rank 0, which adds them in
/// rank order and broadcasts the sum (<c>MPI_Gather</c> + <c>MPI_Bcast</c>; for the small buffers of
/// SyncBatchNormalization's statistics about as fast as <c>MPI_Allreduce</c>); larger buffers are cut into one chunk
/// per rank, each rank receives its chunk from every rank (<c>MPI_Alltoallv</c>), adds them in rank order and the
/// chunks are all-gathered (<c>MPI_Allgatherv</c>), which moves about as many bytes as a ring all-reduce. Either way element i is
/// <c>((b0[i] + b1[i]) + b2[i]) + ...</c>, identical on every rank and from run to run.</para>
/// <para>Faults: a collective that has not completed within the collective timeout (a worker failed, hung, or left
/// without reaching it) ends the whole job with <c>MPI_Abort</c> and exit code 1, after writing why to standard error;
/// a worker whose process ends with an unhandled exception, or exits with a non-zero code, does the same, so no worker
/// waits for ever. A worker that exits without <c>MPI_Finalize</c> makes <c>mpirun</c> end the job as well.</para>
/// </remarks>
public sealed unsafe class MpiCommunicator : ICrossWorkerCommunicator, IDisposable
{
    /// <summary>With 3 or more ranks, buffers of at most this many elements over all ranks are gathered on rank 0, added there in rank order and broadcast.</summary>
    public const int GatherLimit = 1 << 15;

    /// <summary>The default collective timeout (as <see cref="MirroredStrategy.DefaultCollectiveTimeout"/>).</summary>
    public static readonly TimeSpan DefaultCollectiveTimeout = MirroredStrategy.DefaultCollectiveTimeout;

    private static readonly object InitLock = new();
    private static MpiCommunicator? active;
    private static bool finalizedOnce;

    private readonly MpiLibrary? mpi;
    private readonly object callLock = new();
    private readonly CollectiveWatchdog? watchdog;
    private float[] floatScratch = [];
    private double[] doubleScratch = [];
    private readonly int[] counts, displacements, receiveCounts, receiveDisplacements;
    private int disposed;

    private MpiCommunicator(MpiLibrary? mpi, int rank, int size, TimeSpan timeout)
    {
        this.mpi = mpi;
        Rank = rank;
        Size = size;
        CollectiveTimeout = timeout;
        counts = new int[size];
        displacements = new int[size];
        receiveCounts = new int[size];
        receiveDisplacements = new int[size];
        if (mpi is not null) watchdog = new CollectiveWatchdog(this, timeout);
    }

    /// <inheritdoc/>
    public int Rank { get; }

    /// <inheritdoc/>
    public int Size { get; }

    /// <summary>Whether this process runs under Open MPI (false: a single worker started without <c>mpirun</c>).</summary>
    public bool IsMpi => mpi is not null;

    /// <summary>How long a collective may take before the job is ended.</summary>
    public TimeSpan CollectiveTimeout { get; }

    /// <summary>
    /// Whether this process was started by Open MPI's <c>mpirun</c>/<c>mpiexec</c> (it sets <c>OMPI_COMM_WORLD_SIZE</c>)
    /// or another PMIx launcher (<c>PMIX_RANK</c>).
    /// </summary>
    public static bool IsLaunchedByMpirun =>
        Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is not null || Environment.GetEnvironmentVariable("PMIX_RANK") is not null;

    /// <summary>
    /// Joins the MPI job this process belongs to (<c>MPI_Init_thread</c> with <c>MPI_THREAD_MULTIPLE</c>), or, when the
    /// program was not started by <c>mpirun</c>, returns a single worker (rank 0 of 1) without loading Open MPI.
    /// </summary>
    /// <param name="collectiveTimeout">
    /// How long one cross-worker collective may take before the job is ended with <c>MPI_Abort</c>;
    /// <see cref="DefaultCollectiveTimeout"/> when omitted, <see cref="Timeout.InfiniteTimeSpan"/> for no limit. It must
    /// cover the longest time a worker may spend between two collectives (a slow step, an evaluation on one worker).
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is neither positive nor infinite.</exception>
    /// <exception cref="DllNotFoundException">Started by mpirun, but Open MPI's <c>libmpi.so.40</c> cannot be loaded; the message says how to install it.</exception>
    /// <exception cref="InvalidOperationException">A communicator is already active in this process, or MPI was finalized (it cannot be initialized twice).</exception>
    public static MpiCommunicator Initialize(TimeSpan? collectiveTimeout = null)
    {
        var timeout = collectiveTimeout ?? DefaultCollectiveTimeout;
        if (timeout <= TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(nameof(collectiveTimeout), timeout, "collectiveTimeout must be positive, or Timeout.InfiniteTimeSpan.");
        lock (InitLock)
        {
            if (active is not null)
                throw new InvalidOperationException("An MpiCommunicator is already active in this process; create one per process and share it.");
            if (!IsLaunchedByMpirun) return active = new MpiCommunicator(null, 0, 1, timeout);
            if (finalizedOnce)
                throw new InvalidOperationException("MPI was finalized in this process (an MpiCommunicator was disposed); MPI cannot be initialized again.");

            var mpi = MpiLibrary.Get();
            int flag, provided, rank, size;
            MpiLibrary.Check(mpi.Initialized(&flag), "MPI_Initialized");
            if (flag == 0) MpiLibrary.Check(mpi.InitThread(null, null, MpiLibrary.ThreadMultiple, &provided), "MPI_Init_thread");
            MpiLibrary.Check(mpi.CommRank(mpi.CommWorld, &rank), "MPI_Comm_rank");
            MpiLibrary.Check(mpi.CommSize(mpi.CommWorld, &size), "MPI_Comm_size");
            var communicator = new MpiCommunicator(mpi, rank, size, timeout);
            // Never leave the other workers waiting: a crash or a failing exit ends the whole job, and a normal exit
            // without Dispose still finalizes MPI (otherwise mpirun reports this worker as failed).
            AppDomain.CurrentDomain.UnhandledException += communicator.OnUnhandledException;
            AppDomain.CurrentDomain.ProcessExit += communicator.OnProcessExit;
            return active = communicator;
        }
    }

    /// <inheritdoc/>
    /// <exception cref="ObjectDisposedException">The communicator was disposed.</exception>
    public void AllReduceSum(float[] buffer, int length) => AllReduceSum(buffer, length, ref floatScratch, mpi?.Float ?? 0);

    /// <inheritdoc/>
    /// <exception cref="ObjectDisposedException">The communicator was disposed.</exception>
    public void AllReduceSum(double[] buffer, int length) => AllReduceSum(buffer, length, ref doubleScratch, mpi?.Double ?? 0);

    /// <summary>
    /// Waits until every worker has called it (<c>MPI_Barrier</c>), bounded by the collective timeout.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The communicator was disposed.</exception>
    public void Barrier()
    {
        ObjectDisposedException.ThrowIf(disposed != 0, this);
        if (mpi is null) return;
        lock (callLock)
        {
            using var _ = watchdog!.Watch("MPI_Barrier");
            MpiLibrary.Check(mpi.Barrier(mpi.CommWorld), "MPI_Barrier");
        }
    }

    /// <summary>
    /// Writes <paramref name="message"/> to standard error and ends every worker of the job with
    /// <paramref name="exitCode"/> (<c>MPI_Abort</c>; mpirun then exits non-zero). A single worker exits the process.
    /// </summary>
    public void Abort(int exitCode, string message)
    {
        try
        {
            Console.Error.WriteLine(message);
            Console.Error.Flush();
        }
        catch (IOException)
        {
            // Standard error may be gone while the job is being torn down; ending the job matters more.
        }
        int code = exitCode == 0 ? 1 : exitCode;
        if (mpi is not null) mpi.Abort(mpi.CommWorld, code);
        Environment.Exit(code);
    }

    /// <summary>Finalizes MPI (<c>MPI_Finalize</c>, which waits for the other workers to finalize too). Calling it again does nothing.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0) return;
        watchdog?.Stop();
        if (mpi is not null)
        {
            AppDomain.CurrentDomain.UnhandledException -= OnUnhandledException;
            AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
            int flag;
            if (mpi.Finalized(&flag) == MpiLibrary.Success && flag == 0) mpi.Finalize();
        }
        lock (InitLock)
        {
            if (mpi is not null) finalizedOnce = true;
            if (ReferenceEquals(active, this)) active = null;
        }
    }

    private void AllReduceSum<T>(T[] buffer, int length, ref T[] scratch, IntPtr datatype)
        where T : unmanaged, INumber<T>
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if ((uint)length > (uint)buffer.Length)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"length must be between 0 and the buffer's length, {buffer.Length}.");
        ObjectDisposedException.ThrowIf(disposed != 0, this);
        if (Size == 1 || length == 0) return;
        var mpi = this.mpi!;
        lock (callLock)
        {
            if (Size == 2)
            {
                // Two ranks: each element is one addition, b0 + b1 or b1 + b0, and IEEE addition is commutative, so
                // MPI_Allreduce itself gives the rank-order bits on both ranks, whatever algorithm it picks.
                using var _ = watchdog!.Watch("MPI_Allreduce");
                fixed (T* data = buffer)
                    MpiLibrary.Check(mpi.Allreduce((void*)1, data, length, datatype, mpi.OpSum, mpi.CommWorld), "MPI_Allreduce");
            }
            else if ((long)length * Size <= GatherLimit)
            {
                using var _ = watchdog!.Watch("MPI_Gather/MPI_Bcast");
                GatherSumBroadcast(mpi, buffer, length, ref scratch, datatype);
            }
            else
            {
                using var _ = watchdog!.Watch("MPI_Alltoallv/MPI_Allgatherv");
                ScatterSumGather(mpi, buffer, length, ref scratch, datatype);
            }
        }
    }

    /// <summary>
    /// Small buffers: rank 0 receives every rank's buffer (<c>MPI_Gather</c>), adds them in rank order and broadcasts
    /// the sum (<c>MPI_Bcast</c>); the other ranks receive rank 0's bits.
    /// </summary>
    /// <remarks>
    /// Chosen over an all-gather that every rank adds up itself, which was slower at 3 ranks (BENCHMARKS.md, "Multi-process
    /// collectives"). With 2 ranks <c>MPI_Allreduce</c> itself is used.
    /// </remarks>
    private void GatherSumBroadcast<T>(MpiLibrary mpi, T[] buffer, int length, ref T[] scratch, IntPtr datatype)
        where T : unmanaged, INumber<T>
    {
        if (Rank == 0 && scratch.Length < length * Size) scratch = new T[length * Size];
        var all = scratch;
        fixed (T* data = buffer)
        fixed (T* receive = all)
        {
            MpiLibrary.Check(mpi.Gather(data, length, datatype, receive, length, datatype, 0, mpi.CommWorld), "MPI_Gather");
            if (Rank == 0) SumInRankOrder(all, length, buffer.AsSpan(0, length));
            MpiLibrary.Check(mpi.Bcast(data, length, datatype, 0, mpi.CommWorld), "MPI_Bcast");
        }
    }

    /// <summary>
    /// Large buffers: rank c owns chunk c; it receives chunk c of every rank (all-to-all), adds them in rank order, and
    /// the owners' chunks are all-gathered back into every buffer.
    /// </summary>
    private void ScatterSumGather<T>(MpiLibrary mpi, T[] buffer, int length, ref T[] scratch, IntPtr datatype)
        where T : unmanaged, INumber<T>
    {
        for (int c = 0; c < Size; c++)
        {
            displacements[c] = (int)((long)length * c / Size);
            counts[c] = (int)((long)length * (c + 1) / Size) - displacements[c];
        }
        int mine = counts[Rank];
        for (int r = 0; r < Size; r++)
        {
            receiveCounts[r] = mine;
            receiveDisplacements[r] = r * mine;
        }
        if (scratch.Length < mine * Size) scratch = new T[Math.Max(mine * Size, 1)];
        var parts = scratch;
        fixed (T* data = buffer)
        fixed (T* receive = parts)
        fixed (int* sc = counts, sd = displacements, rc = receiveCounts, rd = receiveDisplacements)
        {
            MpiLibrary.Check(mpi.Alltoallv(data, sc, sd, datatype, receive, rc, rd, datatype, mpi.CommWorld), "MPI_Alltoallv");
            SumInRankOrder(parts, mine, buffer.AsSpan(displacements[Rank], mine));
            // MPI_IN_PLACE ((void*)1): this rank's chunk is already at its displacement in the buffer.
            MpiLibrary.Check(mpi.Allgatherv((void*)1, 0, datatype, data, sc, sd, datatype, mpi.CommWorld), "MPI_Allgatherv");
        }
    }

    /// <summary>destination = ((parts[0] + parts[1]) + parts[2]) + ..., each part <paramref name="length"/> long, in rank order.</summary>
    private void SumInRankOrder<T>(T[] parts, int length, Span<T> destination)
        where T : unmanaged, INumber<T>
    {
        if (length == 0) return;
        parts.AsSpan(0, length).CopyTo(destination);
        for (int r = 1; r < Size; r++) TensorPrimitives.Add(destination, parts.AsSpan(r * length, length), destination);
    }

    private void OnUnhandledException(object? sender, UnhandledExceptionEventArgs e) =>
        Abort(1, $"TfSyncBN.Mpi: worker {Rank} of {Size} ended with an unhandled exception, so the job is ended:{Environment.NewLine}{e.ExceptionObject}");

    private void OnProcessExit(object? sender, EventArgs e)
    {
        if (Environment.ExitCode != 0)
            Abort(Environment.ExitCode, $"TfSyncBN.Mpi: worker {Rank} of {Size} exited with code {Environment.ExitCode}, so the job is ended.");
        else
            Dispose();
    }

    /// <summary>Ends the job when one collective takes longer than the timeout.</summary>
    /// <remarks>
    /// The hot path only bumps a counter (odd while a collective is in progress); the watchdog thread notes when it
    /// first saw the current odd value and fires once that value has lasted the timeout. Reading the clock there
    /// instead of in every collective saves ~20 ns of a ~0.5 µs all-reduce; the price is that a timeout is noticed up
    /// to two polls (a poll is a tenth of the timeout, at most 1 s) late, never early.
    /// </remarks>
    private sealed class CollectiveWatchdog
    {
        private readonly MpiCommunicator owner;
        private readonly TimeSpan timeout;
        private readonly object gate = new();
        private readonly Thread? thread;
        private long sequence; // incremented when a collective starts and when it ends: odd while one is in progress
        private volatile string operation = "";
        private bool stopping;

        public CollectiveWatchdog(MpiCommunicator owner, TimeSpan timeout)
        {
            this.owner = owner;
            this.timeout = timeout;
            if (timeout == Timeout.InfiniteTimeSpan) return;
            thread = new Thread(Loop) { IsBackground = true, Name = "TfSyncBN.Mpi collective watchdog" };
            thread.Start();
        }

        /// <summary>Marks a collective as in progress until the returned scope ends (two volatile writes: no lock, no clock).</summary>
        public Scope Watch(string name)
        {
            operation = name;
            // One writer at a time (collectives are serialized by callLock), so a volatile store suffices.
            Volatile.Write(ref sequence, sequence + 1);
            return new Scope(this);
        }

        public void Stop()
        {
            lock (gate)
            {
                stopping = true;
                Monitor.PulseAll(gate);
            }
        }

        private void Loop()
        {
            string? expired = null;
            long seen = 0, seenSince = 0;
            // Polling at a tenth of the timeout (at most 1 s) bounds the overshoot without waking often.
            var poll = TimeSpan.FromMilliseconds(Math.Clamp(timeout.TotalMilliseconds / 10, 10, 1000));
            lock (gate)
            {
                while (!stopping && expired is null)
                {
                    long current = Volatile.Read(ref sequence);
                    long now = Stopwatch.GetTimestamp();
                    if ((current & 1) == 0) seen = 0; // no collective in progress
                    else if (current != seen) (seen, seenSince) = (current, now); // a new one: it started at most one poll ago
                    else if (Stopwatch.GetElapsedTime(seenSince, now) >= timeout) expired = operation;
                    if (expired is null) Monitor.Wait(gate, poll);
                }
            }
            if (expired is null) return;
            owner.Abort(1,
                $"TfSyncBN.Mpi: worker {owner.Rank} of {owner.Size} waited more than {timeout} in {expired}: another worker " +
                "failed, hung, or stopped calling collectives. The job is ended. (Raise collectiveTimeout in " +
                "MpiCommunicator.Initialize if a worker is just slow.)");
        }

        public readonly struct Scope(CollectiveWatchdog watchdog) : IDisposable
        {
            public void Dispose() => Volatile.Write(ref watchdog.sequence, watchdog.sequence + 1);
        }
    }
}
