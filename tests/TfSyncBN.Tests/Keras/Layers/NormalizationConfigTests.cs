using System.Text.Json;
using TfSyncBN.Keras;

namespace TfSyncBN.Tests.Keras.Layers;

/// <summary>
/// The β/γ options (center, scale, beta/gamma initializer, regularizer, constraint) that BatchNormalization,
/// SyncBatchNormalization and LayerNormalization share through one options record: their Keras configs are the ones
/// the layers wrote before the record existed (JSON text recorded from that code: same keys, same order, same values),
/// and FromConfig rebuilds a layer with the same config.
/// </summary>
[TestClass]
public sealed class NormalizationConfigTests
{
    private static IEnumerable<(string Label, Layer Layer, string Json)> Cases() =>
    [
        ("bn-default", new BatchNormalization(name: "bn0"), """
            {"name":"bn0","trainable":true,"dtype":"float32","axis":[-1],"momentum":0.99,"epsilon":0.001,"center":true,"scale":true,"beta_initializer":{"class_name":"Zeros","config":{}},"gamma_initializer":{"class_name":"Ones","config":{}},"moving_mean_initializer":{"class_name":"Zeros","config":{}},"moving_variance_initializer":{"class_name":"Ones","config":{}},"beta_regularizer":null,"gamma_regularizer":null,"beta_constraint":null,"gamma_constraint":null,"synchronized":false}
            """),
        ("bn-all", new BatchNormalization(axis: [1], momentum: 0.9f, epsilon: 1e-2f, center: false, scale: true,
            betaInitializer: Initializers.Constant(0.5f), gammaInitializer: Initializers.RandomNormal(seed: 3),
            movingMeanInitializer: Initializers.Constant(0.1f), movingVarianceInitializer: Initializers.Constant(2f),
            betaRegularizer: Regularizers.L1(0.1f), gammaRegularizer: Regularizers.L2(0.01f),
            betaConstraint: Constraints.NonNeg(), gammaConstraint: Constraints.MaxNorm(3f), name: "bn1", trainable: false), """
            {"name":"bn1","trainable":false,"dtype":"float32","axis":[1],"momentum":0.9,"epsilon":0.01,"center":false,"scale":true,"beta_initializer":{"class_name":"Constant","config":{"value":0.5}},"gamma_initializer":{"class_name":"RandomNormal","config":{"seed":3,"mean":0,"stddev":0.05}},"moving_mean_initializer":{"class_name":"Constant","config":{"value":0.1}},"moving_variance_initializer":{"class_name":"Constant","config":{"value":2}},"beta_regularizer":{"class_name":"L1","config":{"l1":0.1}},"gamma_regularizer":{"class_name":"L2","config":{"l2":0.01}},"beta_constraint":{"class_name":"NonNeg","config":{}},"gamma_constraint":{"class_name":"MaxNorm","config":{"max_value":3,"axis":0}},"synchronized":false}
            """),
        ("bn-noscale", new BatchNormalization(scale: false, betaRegularizer: Regularizers.L2(0.5f), name: "bn2", unbiasedMovingVariance: true), """
            {"name":"bn2","trainable":true,"dtype":"float32","axis":[-1],"momentum":0.99,"epsilon":0.001,"center":true,"scale":false,"beta_initializer":{"class_name":"Zeros","config":{}},"gamma_initializer":{"class_name":"Ones","config":{}},"moving_mean_initializer":{"class_name":"Zeros","config":{}},"moving_variance_initializer":{"class_name":"Ones","config":{}},"beta_regularizer":{"class_name":"L2","config":{"l2":0.5}},"gamma_regularizer":null,"beta_constraint":null,"gamma_constraint":null,"synchronized":false,"unbiased_moving_variance":true}
            """),
        ("syncbn", new SyncBatchNormalization(center: false, gammaConstraint: Constraints.NonNeg(), gammaInitializer: Initializers.Constant(2f), name: "sbn"), """
            {"name":"sbn","trainable":true,"dtype":"float32","axis":[-1],"momentum":0.99,"epsilon":0.001,"center":false,"scale":true,"beta_initializer":{"class_name":"Zeros","config":{}},"gamma_initializer":{"class_name":"Constant","config":{"value":2}},"moving_mean_initializer":{"class_name":"Zeros","config":{}},"moving_variance_initializer":{"class_name":"Ones","config":{}},"beta_regularizer":null,"gamma_regularizer":null,"beta_constraint":null,"gamma_constraint":{"class_name":"NonNeg","config":{}},"synchronized":true}
            """),
        ("ln-default", new LayerNormalization(name: "ln0"), """
            {"name":"ln0","trainable":true,"dtype":"float32","axis":[-1],"epsilon":0.001,"center":true,"scale":true,"rms_scaling":false,"beta_initializer":{"class_name":"Zeros","config":{}},"gamma_initializer":{"class_name":"Ones","config":{}},"beta_regularizer":null,"gamma_regularizer":null,"beta_constraint":null,"gamma_constraint":null}
            """),
        ("ln-all", new LayerNormalization([1, 2], 1e-2f, center: false, scale: true, betaInitializer: Initializers.Constant(0.5f),
            gammaInitializer: Initializers.RandomNormal(seed: 6), betaRegularizer: Regularizers.L1(0.1f), gammaRegularizer: Regularizers.L2(0.01f),
            betaConstraint: Constraints.NonNeg(), gammaConstraint: Constraints.MaxNorm(3f), name: "ln1", trainable: false), """
            {"name":"ln1","trainable":false,"dtype":"float32","axis":[1,2],"epsilon":0.01,"center":false,"scale":true,"rms_scaling":false,"beta_initializer":{"class_name":"Constant","config":{"value":0.5}},"gamma_initializer":{"class_name":"RandomNormal","config":{"seed":6,"mean":0,"stddev":0.05}},"beta_regularizer":{"class_name":"L1","config":{"l1":0.1}},"gamma_regularizer":{"class_name":"L2","config":{"l2":0.01}},"beta_constraint":{"class_name":"NonNeg","config":{}},"gamma_constraint":{"class_name":"MaxNorm","config":{"max_value":3,"axis":0}}}
            """),
        ("ln-nocenter", new LayerNormalization(scale: false, gammaRegularizer: Regularizers.L1(0.2f), name: "ln2"), """
            {"name":"ln2","trainable":true,"dtype":"float32","axis":[-1],"epsilon":0.001,"center":true,"scale":false,"rms_scaling":false,"beta_initializer":{"class_name":"Zeros","config":{}},"gamma_initializer":{"class_name":"Ones","config":{}},"beta_regularizer":null,"gamma_regularizer":{"class_name":"L1","config":{"l1":0.2}},"beta_constraint":null,"gamma_constraint":null}
            """),
    ];

    private static string Json(Layer layer) => JsonSerializer.Serialize(layer.GetConfig());

    [TestMethod]
    public void ConfigsAreThoseWrittenBeforeTheSharedOptions()
    {
        foreach (var (label, layer, json) in Cases())
            Assert.AreEqual(json, Json(layer), label);
    }

    [TestMethod]
    public void FromConfigRebuildsTheSameConfig()
    {
        foreach (var (label, layer, json) in Cases())
        {
            var config = layer.GetConfig();
            Layer rebuilt = layer switch
            {
                SyncBatchNormalization => SyncBatchNormalization.FromConfig(config),
                BatchNormalization => BatchNormalization.FromConfig(config),
                LayerNormalization => LayerNormalization.FromConfig(config),
                _ => throw new AssertFailedException(label),
            };
            Assert.AreEqual(layer.GetType(), rebuilt.GetType(), label);
            Assert.AreEqual(json, Json(rebuilt), label);
        }
    }
}
