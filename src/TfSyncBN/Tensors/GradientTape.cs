namespace TfSyncBN.Tensors;

/// <summary>Computes the gradients of one recorded operation's inputs from the gradient of its output.</summary>
/// <param name="upstream">The gradient of the loss with respect to the operation's output (same shape).</param>
/// <param name="needed">For each input, whether its gradient is wanted; a function may return null where it is not.</param>
internal delegate Tensor?[] BackwardFunction(Tensor upstream, bool[] needed);

/// <summary>
/// Records operations for reverse-mode automatic differentiation, like <c>tf.GradientTape</c>.
/// </summary>
/// <remarks>
/// <para>A tape records on the thread that created it, from construction until <see cref="Dispose"/>; each replica of a
/// strategy therefore records its own operations. <see cref="Gradient(Tensor, IReadOnlyList{ITensorLike}?, Tensor?, IReadOnlyList{Variable}?)"/> may be called before or after <see cref="Dispose"/>.</para>
/// <para>Only operations that depend on a watched value are recorded. Trainable <see cref="Variable"/>s are watched
/// when they are read (unless <c>watchAccessedVariables</c> is false); plain tensors must be passed to <see cref="Watch"/>.</para>
/// <para>Operations run while gradients are computed are not recorded, so gradients of gradients are not available.</para>
/// </remarks>
public sealed class GradientTape : IDisposable
{
    [ThreadStatic] private static List<GradientTape>? recordingTapes;
    [ThreadStatic] private static int pauseDepth;

    private readonly record struct Entry(Tensor Output, Tensor[] Inputs, BackwardFunction Backward);

    private readonly List<Entry> entries = [];
    private readonly HashSet<Tensor> tracked = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Variable, List<Tensor>> variableReads = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<Variable> watchedVariables = new(ReferenceEqualityComparer.Instance);
    private readonly Thread owner = Thread.CurrentThread;
    private volatile bool recording = true;
    private bool used;

    /// <summary>Starts recording on the current thread.</summary>
    /// <param name="persistent">Whether <see cref="Gradient(Tensor, IReadOnlyList{ITensorLike}?, Tensor?, IReadOnlyList{Variable}?)"/> may be called more than once.</param>
    /// <param name="watchAccessedVariables">Whether trainable variables read while recording are watched automatically.</param>
    public GradientTape(bool persistent = false, bool watchAccessedVariables = true)
    {
        Persistent = persistent;
        WatchAccessedVariables = watchAccessedVariables;
        (recordingTapes ??= []).Add(this);
    }

    /// <summary>Whether <see cref="Gradient(Tensor, IReadOnlyList{ITensorLike}?, Tensor?, IReadOnlyList{Variable}?)"/> may be called more than once.</summary>
    public bool Persistent { get; }

    /// <summary>Whether trainable variables read while recording are watched automatically.</summary>
    public bool WatchAccessedVariables { get; }

    /// <summary>Watches a tensor, or a variable (whose later reads are then recorded even if it is not trainable).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    public void Watch(ITensorLike value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value is Variable v)
        {
            watchedVariables.Add(v);
            return;
        }
        tracked.Add(value.ToTensor());
    }

    /// <summary>
    /// The gradients of <paramref name="target"/> with respect to each of <paramref name="sources"/> and then each of
    /// <paramref name="variables"/>: for a source that <paramref name="target"/> does not depend on, null.
    /// </summary>
    /// <remarks>
    /// One method for both kinds of list so that F# can pass either without a cast: a list literal mixing tensors and
    /// variables (<c>tape.Gradient(y, [ x; bn.Gamma; bn.Beta ], dy)</c>) takes its element type from the single
    /// candidate's <c>IReadOnlyList&lt;ITensorLike&gt;</c>, which an overload set would hide, and a list of variables such
    /// as <c>model.TrainableWeights</c> goes to <paramref name="variables"/> by name, because F# does not convert
    /// <c>IReadOnlyList&lt;Variable&gt;</c> to <c>IReadOnlyList&lt;ITensorLike&gt;</c> (C# does, so C# can pass it as <paramref name="sources"/>).
    /// Passing both differentiates inputs and weights in one call, which a non-persistent tape allows only once.
    /// </remarks>
    /// <param name="target">The value to differentiate.</param>
    /// <param name="sources">Tensors (watched or computed under this tape) and variables; none when omitted.</param>
    /// <param name="outputGradient">The gradient flowing into <paramref name="target"/> (the vector of a vector-Jacobian product); ones when omitted.</param>
    /// <param name="variables">Variables whose gradients follow those of <paramref name="sources"/>; none when omitted.</param>
    /// <returns>One entry per source, then one per variable, in order; a variable's gradient sums over all its reads.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> is null, both <paramref name="sources"/> and <paramref name="variables"/> are null, or one of their entries is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="outputGradient"/> does not have the shape of <paramref name="target"/>.</exception>
    /// <exception cref="InvalidOperationException">A non-persistent tape was already used, or the call comes from another thread.</exception>
    public IReadOnlyList<Tensor?> Gradient(Tensor target, IReadOnlyList<ITensorLike>? sources = null, Tensor? outputGradient = null, IReadOnlyList<Variable>? variables = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (sources is null && variables is null)
            throw new ArgumentNullException(nameof(sources), "Pass the tensors or variables to differentiate with respect to: sources, variables, or both.");
        if (Thread.CurrentThread != owner)
            throw new InvalidOperationException("A GradientTape can only be used on the thread that created it.");
        if (used && !Persistent)
            throw new InvalidOperationException("A non-persistent GradientTape can only compute one set of gradients; create it with persistent: true to call Gradient again.");
        if (outputGradient is not null && !Tensor.SameShape(outputGradient.ShapeArray, target.ShapeArray))
            throw new ArgumentException($"outputGradient has shape {Tensor.ShapeString(outputGradient.ShapeArray)}, but the target has shape {Tensor.ShapeString(target.ShapeArray)}.", nameof(outputGradient));
        int sourceCount = sources?.Count ?? 0;
        for (int s = 0; s < sourceCount; s++)
        {
            if (sources![s] is null) throw new ArgumentNullException(nameof(sources), $"sources[{s}] is null.");
        }
        for (int s = 0; s < (variables?.Count ?? 0); s++)
        {
            if (variables![s] is null) throw new ArgumentNullException(nameof(variables), $"variables[{s}] is null.");
        }
        used = true;

        var grads = new Dictionary<Tensor, Tensor>(ReferenceEqualityComparer.Instance)
        {
            [target] = outputGradient ?? Tensor.OnesLike(target),
        };
        pauseDepth++;
        try
        {
            for (int e = entries.Count - 1; e >= 0; e--)
            {
                var entry = entries[e];
                if (!grads.TryGetValue(entry.Output, out var upstream)) continue;
                var needed = new bool[entry.Inputs.Length];
                for (int i = 0; i < needed.Length; i++) needed[i] = tracked.Contains(entry.Inputs[i]);
                var inputGrads = entry.Backward(upstream, needed);
                for (int i = 0; i < inputGrads.Length; i++)
                {
                    if (!needed[i] || inputGrads[i] is not { } g) continue;
                    var input = entry.Inputs[i];
                    grads[input] = grads.TryGetValue(input, out var existing) ? existing + g : g;
                }
            }

            var result = new Tensor?[sourceCount + (variables?.Count ?? 0)];
            for (int s = 0; s < sourceCount; s++)
            {
                result[s] = sources![s] switch
                {
                    Variable v => SumReads(v, grads),
                    var t => grads.GetValueOrDefault(t.ToTensor()),
                };
            }
            for (int s = sourceCount; s < result.Length; s++) result[s] = SumReads(variables![s - sourceCount], grads);
            return result;
        }
        finally
        {
            pauseDepth--;
            if (!Persistent) entries.Clear();
        }
    }

    private Tensor? SumReads(Variable v, Dictionary<Tensor, Tensor> grads)
    {
        if (!variableReads.TryGetValue(v, out var reads)) return null;
        Tensor? sum = null;
        foreach (var read in reads)
        {
            if (grads.TryGetValue(read, out var g)) sum = sum is null ? g : sum + g;
        }
        return sum;
    }

    /// <summary>Stops recording. Gradients can still be computed afterwards.</summary>
    /// <remarks>May be called from any thread; a tape disposed on another thread leaves its owner's list the next time that thread records.</remarks>
    public void Dispose()
    {
        if (!recording) return;
        recording = false;
        if (Thread.CurrentThread == owner) recordingTapes?.Remove(this);
    }

    /// <summary>This thread's recording tapes, after dropping those that were disposed on another thread.</summary>
    private static List<GradientTape> ActiveTapes()
    {
        var tapes = recordingTapes!;
        tapes.RemoveAll(static t => !t.recording);
        return tapes;
    }

    /// <summary>Suspends recording on this thread until the returned scope is disposed (for internal bookkeeping ops).</summary>
    internal static PauseScope Pause()
    {
        pauseDepth++;
        return default;
    }

    internal readonly struct PauseScope : IDisposable
    {
        public void Dispose() => pauseDepth--;
    }

    /// <summary>Whether an operation run now on this thread might need recording.</summary>
    internal static bool IsRecording => pauseDepth == 0 && recordingTapes is { Count: > 0 };

    /// <summary>How many operations this tape has recorded (tests: which ops a model ran).</summary>
    internal int RecordedOps => entries.Count;

    /// <summary>Records an operation on every tape of this thread that watches one of its inputs.</summary>
    internal static void Record(Tensor output, Tensor[] inputs, BackwardFunction backward)
    {
        if (!IsRecording) return;
        foreach (var tape in ActiveTapes())
        {
            foreach (var input in inputs)
            {
                if (!tape.tracked.Contains(input)) continue;
                tape.entries.Add(new Entry(output, inputs, backward));
                tape.tracked.Add(output);
                break;
            }
        }
    }

    /// <summary>Tells the tapes of this thread that <paramref name="value"/> was read from <paramref name="variable"/>.</summary>
    internal static void OnVariableRead(Variable variable, Tensor value)
    {
        if (!IsRecording) return;
        foreach (var tape in ActiveTapes())
        {
            bool watch = tape.watchedVariables.Contains(variable) || (variable.Trainable && tape.WatchAccessedVariables);
            if (!watch || !tape.tracked.Add(value)) continue;
            if (!tape.variableReads.TryGetValue(variable, out var reads)) tape.variableReads[variable] = reads = [];
            reads.Add(value);
        }
    }
}
