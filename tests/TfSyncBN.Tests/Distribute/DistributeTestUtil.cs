using System.Diagnostics;
using System.Runtime.ExceptionServices;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Distribute;

/// <summary>Helpers shared by the distribution tests.</summary>
internal static class Bounded
{
    /// <summary>
    /// Runs <paramref name="body"/> on a thread-pool thread and fails if it does not finish within
    /// <paramref name="seconds"/>; an exception of the body is rethrown as is (so assertions inside it report normally).
    /// </summary>
    public static void Run(Action body, int seconds = 20) => Run<object?>(() => { body(); return null; }, seconds);

    /// <inheritdoc cref="Run(Action, int)"/>
    public static T Run<T>(Func<T> body, int seconds = 20)
    {
        var task = Task.Run(body);
        bool finished;
        try
        {
            finished = task.Wait(TimeSpan.FromSeconds(seconds));
        }
        catch (AggregateException e) when (e.InnerExceptions.Count == 1)
        {
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
            throw;
        }
        Assert.IsTrue(finished, $"The test body did not finish within {seconds} s (a collective probably hangs).");
        return task.Result;
    }

    /// <summary>Runs <paramref name="action"/> and returns what it threw, or null.</summary>
    public static Exception? Catch(Action action)
    {
        try
        {
            action();
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    /// <summary>Runs <paramref name="action"/> and returns how long it took and what it threw.</summary>
    public static (TimeSpan Elapsed, Exception? Error) Time(Action action)
    {
        var sw = Stopwatch.StartNew();
        var e = Catch(action);
        return (sw.Elapsed, e);
    }
}

internal static class Bits
{
    public static int[] Of(Tensor t) => t.ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();

    public static int[] Of(ReadOnlySpan<float> values)
    {
        var r = new int[values.Length];
        for (int i = 0; i < r.Length; i++) r[i] = BitConverter.SingleToInt32Bits(values[i]);
        return r;
    }

    public static void AssertSame(int[] expected, int[] actual, string what)
    {
        Assert.AreEqual(expected.Length, actual.Length, $"{what}: length");
        for (int i = 0; i < expected.Length; i++)
        {
            if (expected[i] != actual[i])
                Assert.Fail($"{what}: element {i} is {BitConverter.Int32BitsToSingle(actual[i]):R} (0x{actual[i]:X8}), expected {BitConverter.Int32BitsToSingle(expected[i]):R} (0x{expected[i]:X8}).");
        }
    }

    /// <summary>The reference all-reduce: element-wise float32 sums in replica order 0..R-1, then the division for a mean.</summary>
    public static float[] SequentialReduce(IReadOnlyList<float[]> perReplica, bool mean)
    {
        var r = (float[])perReplica[0].Clone();
        for (int p = 1; p < perReplica.Count; p++)
        {
            for (int i = 0; i < r.Length; i++) r[i] += perReplica[p][i];
        }
        if (mean)
        {
            for (int i = 0; i < r.Length; i++) r[i] /= perReplica.Count;
        }
        return r;
    }

    /// <summary>
    /// Values whose float32 sum depends on the order of addition: each element gets one of 1e8, 1, -1e8, 1, ...
    /// rotated by the element index, so every replica order gives a different rounding somewhere.
    /// </summary>
    public static float[] OrderSensitive(int replica, int replicas, int length, int salt = 0)
    {
        float[] pattern = [1e8f, 1f, -1e8f, 3f, 7e7f, -0.5f, 2.5e-3f, -7e7f];
        var v = new float[length];
        for (int i = 0; i < length; i++)
        {
            float baseValue = pattern[(i + replica * 3 + salt) % pattern.Length];
            v[i] = baseValue * (1 + ((i * 7 + replica + salt) % 5) * 0.125f);
        }
        return v;
    }
}
