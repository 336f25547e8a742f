using System.Collections;
using System.Globalization;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Keras;

/// <summary>Assertions shared by the Keras object tests.</summary>
internal static class KerasAssert
{
    /// <summary>Two configs hold the same keys and values; numbers compare by value whatever their type, lists element-wise.</summary>
    public static void ConfigsEqual(IReadOnlyDictionary<string, object?> expected, IReadOnlyDictionary<string, object?> actual, string path = "config")
    {
        CollectionAssert.AreEquivalent(expected.Keys.ToList(), actual.Keys.ToList(), $"{path}: keys differ ({Describe(expected)} vs {Describe(actual)})");
        foreach (var (key, value) in expected) ValuesEqual(value, actual[key], $"{path}.{key}");
    }

    /// <summary><see cref="ConfigsEqual(IReadOnlyDictionary{string, object?}, IReadOnlyDictionary{string, object?}, string)"/> for a literal expectation.</summary>
    public static void ConfigsEqual(Dictionary<string, object?> expected, IReadOnlyDictionary<string, object?> actual, string path = "config") =>
        ConfigsEqual((IReadOnlyDictionary<string, object?>)expected, actual, path);

    private static void ValuesEqual(object? expected, object? actual, string path)
    {
        switch (expected)
        {
            case null:
                Assert.IsNull(actual, path);
                break;
            case string s:
                Assert.AreEqual(s, actual, path);
                break;
            case IReadOnlyDictionary<string, object?> d:
                Assert.IsInstanceOfType<IReadOnlyDictionary<string, object?>>(actual, path);
                ConfigsEqual(d, (IReadOnlyDictionary<string, object?>)actual, path);
                break;
            case IEnumerable e:
                Assert.IsInstanceOfType<IEnumerable>(actual, path);
                var a = ((IEnumerable)actual).Cast<object?>().ToList();
                var x = e.Cast<object?>().ToList();
                Assert.AreEqual(x.Count, a.Count, $"{path}: lengths differ");
                for (int i = 0; i < x.Count; i++) ValuesEqual(x[i], a[i], $"{path}[{i}]");
                break;
            default:
                Assert.IsNotNull(actual, path);
                Assert.IsNotInstanceOfType<string>(actual, path);
                Assert.AreEqual(Convert.ToDouble(expected, CultureInfo.InvariantCulture), Convert.ToDouble(actual, CultureInfo.InvariantCulture), path);
                break;
        }
    }

    private static string Describe(IReadOnlyDictionary<string, object?> d) => "{" + string.Join(", ", d.Keys) + "}";

    /// <summary>Element-wise equality within <paramref name="delta"/>, with the shape checked first.</summary>
    public static void TensorEqual(float[] expected, int[] expectedShape, Tensor actual, float delta, string message = "")
    {
        CollectionAssert.AreEqual(expectedShape, actual.Shape.ToArray(), $"shape {message}");
        var a = actual.ToArray();
        for (int i = 0; i < expected.Length; i++) Assert.AreEqual(expected[i], a[i], delta, $"element {i} {message}");
    }

    /// <summary>Bit-identical contents and shapes.</summary>
    public static void Identical(Tensor expected, Tensor actual, string message = "")
    {
        CollectionAssert.AreEqual(expected.Shape.ToArray(), actual.Shape.ToArray(), $"shape {message}");
        CollectionAssert.AreEqual(expected.ToArray(), actual.ToArray(), $"values {message}");
    }

    /// <summary>Mean and (population) variance, accumulated in double.</summary>
    public static (double Mean, double Variance) Moments(Tensor t)
    {
        var v = t.ToArray();
        double mean = v.Average(x => (double)x);
        double variance = v.Average(x => (x - mean) * (x - mean));
        return (mean, variance);
    }

    /// <summary>The serialized form <c>{"class_name": name, "config": config}</c>.</summary>
    public static Dictionary<string, object?> Serialized(string className, Dictionary<string, object?>? config = null)
    {
        var d = new Dictionary<string, object?> { ["class_name"] = className };
        if (config is not null) d["config"] = config;
        return d;
    }

    /// <summary>FromConfig(Serialize(x)) is an object of the same type, class name and config.</summary>
    public static T RoundTrip<T>(T value, Func<IReadOnlyDictionary<string, object?>, T> fromConfig, Func<T, IReadOnlyDictionary<string, object?>> serialize)
        where T : IKerasObject
    {
        var serialized = serialize(value);
        Assert.AreEqual(value.ClassName, serialized["class_name"]);
        var copy = fromConfig(serialized);
        Assert.AreEqual(value.GetType(), copy.GetType());
        Assert.AreEqual(value.ClassName, copy.ClassName);
        ConfigsEqual(value.GetConfig(), copy.GetConfig(), value.ClassName);
        return copy;
    }
}
