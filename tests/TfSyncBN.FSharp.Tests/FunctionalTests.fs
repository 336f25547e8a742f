namespace TfSyncBN.FSharp.Tests

open Microsoft.VisualStudio.TestTools.UnitTesting
open TfSyncBN.Tensors
open TfSyncBN.Keras

/// The functional API from F#: symbolic inputs, layers called on one symbolic tensor or an F# list of them, a model
/// built from lists of inputs and outputs, and a model called as a layer.
[<TestClass>]
type FunctionalTests() =

    [<TestMethod>]
    member _.``A residual block reads as in the README and computes relu(x + dense(x))``() =
        let x = Model.Input([ 4 ])
        let dense = Dense(4, kernelInitializer = Initializers.GlorotUniform(seed = 3))
        let y = ReLU().Call(Add().Call([ x; dense.Call(x) ]))
        let model = Functional([ x ], [ y ], name = "residual")
        let data = Tensor.FromArray([| 0.5f; -1.0f; 2.0f; 0.25f; -0.5f; 1.0f; -2.0f; 0.75f |], [ 2; 4 ])
        let k = dense.Weights[0].Value.ToArray()
        let expected =
            Array.init 8 (fun i ->
                let n, j = i / 4, i % 4
                let d = Seq.sum (seq { for t in 0..3 -> float (data.ToArray()[n * 4 + t]) * float k[t * 4 + j] })
                max 0.0 (float (data.ToArray()[i]) + d))
        let actual = model.Predict(data).ToArray()
        for i in 0..7 do
            Assert.AreEqual(expected[i], float actual[i], 1e-5)
        // Used as a layer of another model, with its weights shared.
        let z = Model.Input([ 4 ])
        let nested = Functional([ z ], [ Dense(2).Call(model.Call(z)) ])
        Assert.IsInstanceOfType<ModelLayer>(nested.Layers[1]) |> ignore
        Assert.AreEqual(4, nested.TrainableWeights.Count)

    [<TestMethod>]
    member _.``Two inputs and two outputs train from F# lists, with per-output losses, weights and metrics``() =
        let a = Model.Input([ 3 ], name = "a")
        let b = Model.Input([ 2 ], name = "b")
        let logits = Dense(3, kernelInitializer = Initializers.GlorotUniform(seed = 1), name = "logits").Call(Concatenate().Call([ a; b ]))
        let value = Dense(1, kernelInitializer = Initializers.GlorotUniform(seed = 2), name = "value").Call(b)
        let model = Functional([ a; b ], [ logits; value ])
        let losses: obj list = [ SparseCategoricalCrossentropy(fromLogits = true) :> obj; "mse" :> obj ]
        let metrics: obj list = [ ([ "accuracy" :> obj ]: obj list) :> obj; ([]: obj list) :> obj ]
        model.Compile(SGD(learningRate = 0.1f), losses, metrics = metrics, lossWeights = [ 1.0f; 0.5f ])
        let xa = Tensor.FromFunction([ 8; 3 ], fun i -> float32 (i % 5) * 0.2f - 0.4f)
        let xb = Tensor.FromFunction([ 8; 2 ], fun i -> float32 (i % 3) * 0.3f - 0.3f)
        let labels = Tensor.FromArray([| 0.0f; 1.0f; 2.0f; 0.0f; 1.0f; 2.0f; 0.0f; 1.0f |])
        let targets = Tensor.FromFunction([ 8; 1 ], fun i -> float32 i * 0.1f)
        let before = model.Evaluate([ xa; xb ], [ labels; targets ], batchSize = 4)
        // The total is the weighted sum of the per-output losses.
        Assert.AreEqual(before["logits_loss"] + 0.5 * before["value_loss"], before["loss"], 1e-5)
        let history = model.Fit([ xa; xb ], [ labels; targets ], batchSize = 4, epochs = 3, verbose = 0, shuffle = false)
        Assert.IsTrue(history["loss"][2] < before["loss"], "training lowers the loss")
        Assert.IsTrue(history.Values.ContainsKey "logits_accuracy")
        let outputs = model.Predict([ xa; xb ])
        Assert.AreEqual(2, outputs.Count)
        Assert.AreEqual(3, outputs[0].Shape[1])
