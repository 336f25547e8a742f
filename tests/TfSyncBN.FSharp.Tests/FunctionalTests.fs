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
