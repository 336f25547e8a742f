using FsCheck;
using FsCheck.Fluent;
using TfSyncBN.Keras;
using TfSyncBN.Reliability.Tests.Util;
using TfSyncBN.Tensors;

namespace TfSyncBN.Reliability.Tests.Properties;

/// <summary>
/// Round trips over random models: model JSON (ToJson → FromJson → ToJson gives the same text, so every layer config
/// survives) and weights (SaveWeights → LoadWeights into the rebuilt model gives the same bits and the same predictions).
/// </summary>
[TestClass]
public sealed class ModelRoundTripPropertyTests
{
    public const int CaseCount = 200;

    /// <summary>One layer's recipe; <see cref="Build"/> makes the layer.</summary>
    public sealed record LayerSpec(string Kind, int A, int B, float F1, float F2, bool Flag1, bool Flag2, int Choice, int Seed)
    {
        private static readonly string?[] Activations = [null, "linear", "relu", "sigmoid", "softmax", "tanh"];

        private IInitializer Init() => (Choice % 6) switch
        {
            0 => Initializers.GlorotUniform(Seed),
            1 => Initializers.HeNormal(Seed),
            2 => Initializers.RandomNormal(F1, 0.1f + Math.Abs(F2), Seed),
            3 => Initializers.RandomUniform(-Math.Abs(F1) - 0.1f, Math.Abs(F2) + 0.1f, Seed),
            4 => Initializers.Constant(F1),
            _ => Initializers.TruncatedNormal(F2, 0.5f, Seed),
        };

        private IRegularizer? Reg() => ((Choice / 6) % 4) switch
        {
            0 => null,
            1 => Regularizers.L1(Math.Abs(F1) / 100),
            2 => Regularizers.L2(Math.Abs(F2) / 100),
            _ => Regularizers.L1L2(Math.Abs(F1) / 100, Math.Abs(F2) / 100),
        };

        private IConstraint? Con() => ((Choice / 24) % 3) switch
        {
            0 => null,
            1 => Constraints.NonNeg(),
            _ => Constraints.MaxNorm(1 + Math.Abs(F1)),
        };

        public Layer Build() => Kind switch
        {
            "Dense" => new Dense(A, Activations[B % Activations.Length], useBias: Flag1, kernelInitializer: Init(),
                biasInitializer: Flag2 ? Initializers.Constant(F2) : null, kernelRegularizer: Reg(), kernelConstraint: Con()),
            "BatchNormalization" => new BatchNormalization(momentum: Math.Clamp(Math.Abs(F1) % 1, 0, 1), epsilon: 1e-3f + Math.Abs(F2) / 10,
                center: Flag1, scale: Flag2, gammaInitializer: Init(), gammaRegularizer: Reg(), betaConstraint: Con(), synchronized: B % 2 == 0),
            "SyncBatchNormalization" => new SyncBatchNormalization(momentum: Math.Clamp(Math.Abs(F2) % 1, 0, 1), epsilon: 1e-4f + Math.Abs(F1) / 10,
                center: Flag1, scale: Flag2, betaInitializer: Init(), betaRegularizer: Reg(), gammaConstraint: Con()),
            "Dropout" => new Dropout(Math.Clamp(Math.Abs(F1) % 1, 0, 0.95f), seed: Flag1 ? Seed : null),
            "Activation" => new Activation(Activations[1 + B % (Activations.Length - 1)]),
            "ReLU" => new ReLU(maxValue: Flag1 ? Math.Abs(F1) + 0.5f : null, negativeSlope: Math.Abs(F2) % 1, threshold: Flag2 ? F1 : 0f),
            "Rescaling" => new Rescaling(F1, F2),
            "Softmax" => new Softmax(-1),
            "Conv2D" => new Conv2D(A, [1 + B % 2, 1 + Choice % 2], strides: [1 + (Seed & 1), 1 + ((Seed >> 1) & 1)], padding: Flag1 ? "same" : "valid",
                activation: Activations[B % Activations.Length], useBias: Flag2, kernelInitializer: Init(), kernelRegularizer: Reg()),
            "MaxPooling2D" => new MaxPooling2D([1 + B % 2, 1 + A % 2], padding: "same"),
            "GlobalAveragePooling2D" => new GlobalAveragePooling2D(keepDims: false),
            "Flatten" => new Flatten(),
            _ => throw new InvalidOperationException(Kind),
        };

        public override string ToString() => $"{Kind}(A={A}, B={B}, F1={F1:R}, F2={F2:R}, {Flag1}, {Flag2}, choice={Choice}, seed={Seed})";
    }

    public sealed record ModelSpec(int[] InputShape, LayerSpec[] Layers, int DataSeed)
    {
        public override string ToString() => $"input [{string.Join(",", InputShape)}], layers [{string.Join(", ", Layers.Select(l => l.ToString()))}], data seed {DataSeed}";
    }

    private static Gen<LayerSpec> Spec(params string[] kinds) =>
        from kind in Gen.Elements(kinds)
        from a in Gen.Choose(1, 4)
        from b in Gen.Choose(0, 11)
        from f1 in Gen.Choose(-3000, 3000)
        from f2 in Gen.Choose(-3000, 3000)
        from flag1 in Gen.Elements(true, false)
        from flag2 in Gen.Elements(true, false)
        from choice in Gen.Choose(0, 71)
        from seed in Gen.Choose(0, 1000)
        select new LayerSpec(kind, a, b, f1 / 1000f, f2 / 1000f, flag1, flag2, choice, seed);

    private static readonly string[] DenseKinds = ["Dense", "BatchNormalization", "SyncBatchNormalization", "Dropout", "Activation", "ReLU", "Rescaling", "Softmax"];

    public static readonly Gen<ModelSpec> ModelGen = Gen.OneOf(
        from features in Gen.Choose(1, 6)
        from layers in Gen.ListOf(Spec(DenseKinds)).Select(l => l.Take(5).ToArray())
        from seed in Gen.Choose(0, int.MaxValue - 1)
        select new ModelSpec([features], layers, seed),
        from h in Gen.Choose(3, 6)
        from w in Gen.Choose(3, 6)
        from ch in Gen.Choose(1, 3)
        from convs in Gen.ListOf(Spec("Conv2D", "MaxPooling2D", "BatchNormalization", "SyncBatchNormalization", "ReLU", "Dropout")).Select(l => l.Take(3).ToArray())
        from head in Spec("GlobalAveragePooling2D", "Flatten")
        from tail in Gen.ListOf(Spec(DenseKinds)).Select(l => l.Take(2).ToArray())
        from seed in Gen.Choose(0, int.MaxValue - 1)
        select new ModelSpec([h, w, ch], [.. convs, head, .. tail], seed));

    [TestMethod]
    [Timeout(60_000, CooperativeCancellation = true)]
    public void ModelJsonAndWeights_RoundTrip_RandomModels()
    {
        var dir = Directory.CreateTempSubdirectory("tfsyncbn-roundtrip-");
        try
        {
            PropertyRunner.Check("model JSON and weights round trip", ModelGen, CaseCount, (spec, _) => CheckModel(spec, Path.Combine(dir.FullName, "w.weights")));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static void CheckModel(ModelSpec spec, string path)
    {
        var model = new Sequential(spec.Layers.Select(l => l.Build()).ToArray(), spec.InputShape);
        if (!model.Built) model.Build([-1, .. spec.InputShape]);
        string json = model.ToJson();
        var rebuilt = Sequential.FromJson(json);
        Assert.AreEqual(json, rebuilt.ToJson(), "ToJson of the model read back from its JSON");
        Assert.AreEqual(model.Layers.Count, rebuilt.Layers.Count);
        for (int i = 0; i < model.Layers.Count; i++)
        {
            Assert.AreEqual(model.Layers[i].ClassName, rebuilt.Layers[i].ClassName, $"layer {i} class");
            Assert.AreEqual(KerasJsonText(model.Layers[i]), KerasJsonText(rebuilt.Layers[i]), $"layer {i} config");
        }

        // Weights: random values (every bit pattern but NaN, so predictions can be compared), saved and loaded.
        var rng = new System.Random(spec.DataSeed);
        foreach (var v in model.SavedWeights) v.Assign(Tensor.FromArray(Close.Normal(rng, Tensor.ShapeSize(v.Shape.ToArray()), 0, 0.7), v.Shape));
        model.SaveWeights(path);
        rebuilt.LoadWeights(path);
        var a = model.SavedWeights;
        var b = rebuilt.SavedWeights;
        Assert.AreEqual(a.Count, b.Count, "weight count");
        for (int i = 0; i < a.Count; i++) Close.Bitwise(b[i].Value.AsSpan(), a[i].Value.AsSpan(), $"weight {i} '{a[i].Name}'");

        int[] batch = [3, .. spec.InputShape];
        var x = Tensor.FromArray(Close.Normal(rng, Tensor.ShapeSize(batch)), batch);
        Close.Bitwise(rebuilt.Call(x, training: false).AsSpan(), model.Call(x, training: false).AsSpan(), "inference output after the round trip");
    }

    private static string KerasJsonText(Layer layer) =>
        new Sequential([Layers.Deserialize(Layers.Serialize(layer))], name: "probe").ToJson();
}
