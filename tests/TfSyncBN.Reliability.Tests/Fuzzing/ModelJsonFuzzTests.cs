using System.Text;
using System.Text.Json.Nodes;
using TfSyncBN.Keras;
using TfSyncBN.Reliability.Tests.Properties;
using TfSyncBN.Reliability.Tests.Util;

namespace TfSyncBN.Reliability.Tests.Fuzzing;

/// <summary>
/// The model-config loader (<see cref="Sequential.FromJson"/>) under mutated model JSON: byte-level damage and
/// structural edits (values replaced by boundary values of every JSON type, keys removed or added, deep nesting).
/// Every input either builds a model whose JSON reads back to the same JSON, or throws <see cref="ArgumentException"/>
/// (the documented type; <see cref="ArgumentOutOfRangeException"/> for a value out of a constructor's range).
/// </summary>
[TestClass]
public sealed class ModelJsonFuzzTests
{
    public const int MaxInputs = 4000;
    public static readonly TimeSpan Budget = TimeSpan.FromSeconds(15);

    private static readonly string[] Replacements =
    [
        "null", "true", "false", "0", "1", "-1", "2", "3", "0.5", "-0.0", "2147483647", "2147483648", "-2147483649", "9223372036854775808",
        "1e300", "-1e300", "1e-320", "\"\"", "\"relu\"", "\"NaN\"", "\"Infinity\"", "\"same\"", "\"channels_first\"", "[]", "[null]", "[-1]",
        "[-1,-1]", "[null,4]", "[null,-3]", "[null,2147483647,2147483647]", "[0]", "[1,2,3,4,5,6,7,8]", "{}", "{\"class_name\":\"Dense\"}",
        "{\"class_name\":\"Dense\",\"config\":{\"units\":1073741824}}", "{\"class_name\":\"Nope\",\"config\":{}}",
        "{\"class_name\":\"GlorotUniform\",\"config\":{\"seed\":-5}}", "{\"class_name\":\"L1L2\",\"config\":{\"l1\":\"x\"}}",
        string.Concat(Enumerable.Repeat("[", 200)) + string.Concat(Enumerable.Repeat("]", 200)),
    ];

    [TestMethod]
    [Timeout(60_000, CooperativeCancellation = true)]
    public void ModelJson_FuzzedConfigs_BuildOrThrowArgumentException()
    {
        var corpus = Enumerable.Range(0, 40)
            .Select(i => PropertyRunner.Draw(ModelRoundTripPropertyTests.ModelGen, 7000 + (ulong)i))
            .Select(spec => new Sequential(spec.Layers.Select(l => l.Build()).ToArray(), spec.InputShape).ToJson())
            .ToArray();
        var report = Fuzzer.Run("model JSON loader", seed: 303, MaxInputs, Budget, minInputs: 1000,
            (rng, i) =>
            {
                var json = corpus[rng.Next(corpus.Length)];
                return i % 3 == 0
                    ? Fuzzer.Mutate(rng, Encoding.UTF8.GetBytes(json))
                    : Encoding.UTF8.GetBytes(EditStructure(rng, json));
            },
            input =>
            {
                var model = Sequential.FromJson(Encoding.UTF8.GetString(input));
                // Whatever was accepted must also serialize and read back to the same JSON.
                var json = model.ToJson();
                Assert.AreEqual(json, Sequential.FromJson(json).ToJson(), "an accepted config round-trips");
            },
            e => e is ArgumentException { ParamName: "json" });
        Assert.IsTrue(report.Rejected > report.Inputs / 3, report.ToString());
        Assert.IsTrue(report.Accepted > 0, report.ToString());
    }

    /// <summary>Replaces, removes or adds 1-3 values anywhere in the JSON tree.</summary>
    private static string EditStructure(System.Random rng, string json)
    {
        var root = JsonNode.Parse(json)!;
        for (int edits = 1 + rng.Next(3); edits > 0; edits--)
        {
            var nodes = new List<JsonNode>();
            Collect(root, nodes);
            var target = nodes[rng.Next(nodes.Count)];
            var replacement = JsonNode.Parse(Replacements[rng.Next(Replacements.Length)], documentOptions: new() { MaxDepth = 512 });
            switch (target.Parent)
            {
                case JsonObject obj:
                    string key = target.GetPropertyName();
                    if (rng.Next(5) == 0) obj.Remove(key);
                    else if (rng.Next(5) == 0) obj["unexpected_" + rng.Next(3)] = replacement;
                    else obj[key] = replacement;
                    break;
                case JsonArray arr:
                    int index = target.GetElementIndex();
                    if (rng.Next(5) == 0) arr.RemoveAt(index);
                    else if (rng.Next(5) == 0) arr.Insert(index, replacement);
                    else arr[index] = replacement;
                    break;
            }
        }
        return root.ToJsonString();
    }

    private static void Collect(JsonNode? node, List<JsonNode> into)
    {
        if (node is null) return;
        if (node.Parent is not null) into.Add(node);
        if (node is JsonObject o) foreach (var kv in o) Collect(kv.Value, into);
        if (node is JsonArray a) foreach (var v in a) Collect(v, into);
    }
}
