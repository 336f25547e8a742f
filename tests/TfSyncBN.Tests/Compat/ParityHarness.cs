using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Compat;

/// <summary>Runs batch-norm steps on replicas with a bounded wait, and builds the float64 references the parity tests compare with.</summary>
internal static class ParityHarness
{
    public sealed record Out(Tensor Y, Tensor? Dx, Tensor? DGamma, Tensor? DBeta);

    /// <summary>One call of <paramref name="layer"/> on every replica's own input, with the gradients for <paramref name="dys"/> when given.</summary>
    public static PerReplica<Out> Step(Strategy strategy, BatchNormalization layer, Tensor[] xs, Tensor[]? dys = null, bool training = true)
    {
        var task = Task.Run(() => strategy.Run(ctx =>
        {
            int r = ctx.ReplicaId;
            using var tape = new GradientTape();
            tape.Watch(xs[r]);
            var y = layer.Call(xs[r], training: training);
            if (dys is null) return new Out(y, null, null, null);
            var sources = new List<ITensorLike> { xs[r] };
            if (layer.Gamma is not null) sources.Add(layer.Gamma);
            if (layer.Beta is not null) sources.Add(layer.Beta);
            var g = tape.Gradient(y, sources, dys[r]);
            return new Out(y, g[0], layer.Gamma is null ? null : g[1], layer.Beta is null ? null : g[^1]);
        }));
        Assert.IsTrue(task.Wait(TimeSpan.FromSeconds(30)), "the step must not hang");
        return task.Result;
    }

    /// <summary>Runs <paramref name="body"/> on every replica with a bounded wait and returns the first exception it throws (or null).</summary>
    public static Exception? CatchInRun(Strategy strategy, Action<ReplicaContext> body)
    {
        var task = Task.Run(() => strategy.Run(ctx => { body(ctx); return 0; }));
        try
        {
            Assert.IsTrue(task.Wait(TimeSpan.FromSeconds(30)), "the run must not hang");
            return null;
        }
        catch (AggregateException e)
        {
            return e.InnerException;
        }
    }

    public static T InScope<T>(Strategy strategy, Func<T> make)
    {
        using (strategy.Scope()) return make();
    }

    /// <summary>The row-major concatenation along axis 0 of the given tensors' data.</summary>
    public static float[] Concat(IEnumerable<Tensor> parts) => parts.SelectMany(p => p.ToArray()).ToArray();

    /// <summary>Every element of a channel: per channel c of an [N, C, inner] (axis 1) array, the float64 mean and biased variance.</summary>
    public static (double[] Mean, double[] Var, int Count) ChannelMoments(float[] x, int channels, int inner)
    {
        var mean = new double[channels];
        var var = new double[channels];
        int rows = x.Length / (channels * inner), n = rows * inner;
        for (int c = 0; c < channels; c++)
        {
            double s = 0;
            for (int r = 0; r < rows; r++) for (int i = 0; i < inner; i++) s += x[(r * channels + c) * inner + i];
            mean[c] = n > 0 ? s / n : 0;
            double q = 0;
            for (int r = 0; r < rows; r++) for (int i = 0; i < inner; i++) q += Math.Pow(x[(r * channels + c) * inner + i] - mean[c], 2);
            var[c] = n > 0 ? q / n : 0;
        }
        return (mean, var, n);
    }
}
