namespace TfSyncBN.FSharp.Tests

open System
open System.IO
open Microsoft.VisualStudio.TestTools.UnitTesting
open TfSyncBN.Tensors
open TfSyncBN.Distribute
open TfSyncBN.Keras

/// One batch-norm training step: the output and the gradients with respect to the input, gamma and beta.
type BnStep = { Y: Tensor; Dx: Tensor; DGamma: Tensor; DBeta: Tensor }

/// TfSyncBN used from F# the way an F# user writes it: named optional arguments, F# lists where the API takes
/// IReadOnlyList, lambdas where it takes Func, and no casts, struct tuples or backticked members.
[<TestClass>]
type ModelTests() =

    /// 16 samples of 3 features; the class is 1 when x0 + x1 - x2 > 0.
    static let samples = 16
    static let features =
        Array.init (samples * 3) (fun i -> float32 (Math.Sin(float i * 1.7 + 0.3)) * 2.0f)
    static let labels =
        Array.init samples (fun s ->
            if features[3 * s] + features[3 * s + 1] - features[3 * s + 2] > 0.0f then 1.0f else 0.0f)
    static let x = Tensor.FromArray(features, [ samples; 3 ])
    static let y = Tensor.FromArray(labels)

    /// The model under test around the given batch norm, created in the current strategy's scope: mirrored when that
    /// is a MirroredStrategy. A test that inspects the batch norm keeps its own typed reference to it.
    static let buildModelWith (norm: SyncBatchNormalization) =
        let model =
            Sequential(
                [ Dense(4, useBias = false, kernelInitializer = Initializers.GlorotUniform(seed = 7))
                  norm
                  ReLU()
                  Dense(2, kernelInitializer = Initializers.GlorotUniform(seed = 8)) ],
                inputShape = [ 3 ],
                name = "fsharp_model")
        model.Compile(SGD(learningRate = 0.1f), SparseCategoricalCrossentropy(fromLogits = true), [ "accuracy" ])
        model

    static let buildModel () =
        buildModelWith (SyncBatchNormalization(momentum = 0.9f, epsilon = 1e-3f))

    /// Trains `steps` steps: each step runs `TrainStep` on every replica's half of the batch through a lambda.
    static let train (strategy: Strategy) (model: Sequential) steps =
        let xs = Model.Split(x, strategy.NumReplicasInSync)
        let ys = Model.Split(y, strategy.NumReplicasInSync)
        [ for _ in 1..steps ->
              let logs = strategy.Run(fun ctx -> model.TrainStep(xs[ctx.ReplicaId], ys[ctx.ReplicaId]))
              logs |> Seq.map (fun l -> l["loss"]) |> Seq.toList ]

    /// The step of README's F# example: the sources are a list literal mixing a tensor and variables, with no upcast.
    static let bnStep (bn: SyncBatchNormalization) (xs: Tensor) (dys: Tensor) =
        use tape = new GradientTape()
        tape.Watch xs
        let y = bn.Call(xs, training = true)
        match bn.Gamma, bn.Beta with
        | null, _
        | _, null -> failwith "center and scale are on: the layer has gamma and beta"
        | gamma, beta ->
            let grads = tape.Gradient(y, [ xs; gamma; beta ], dys)
            Assert.AreEqual(3, grads.Count)
            // y depends on all three, so no gradient is null.
            { Y = y; Dx = nonNull grads[0]; DGamma = nonNull grads[1]; DBeta = nonNull grads[2] }

    static let assertClose (what: string) (tolerance: float) (expected: float[]) (actual: Tensor) =
        let values = actual.ToArray()
        Assert.AreEqual(expected.Length, values.Length, what)
        for i in 0 .. expected.Length - 1 do
            Assert.AreEqual(expected[i], float values[i], tolerance, $"{what}[{i}]")

    [<TestMethod>]
    member _.SyncBatchNormalizationGradientsFromAMixedSourceList() =
        // NCHW, channels on axis 1, a global batch of 8 split unevenly 5 + 3 over two replicas.
        let n, c, hw = 8, 3, 4
        let x = Tensor.FromFunction([ n; c; 2; 2 ], fun i -> float32 (Math.Sin(float i * 0.37)) * 3.0f + float32 (i % 5))
        let dy = Tensor.FromFunction([ n; c; 2; 2 ], fun i -> float32 (Math.Cos(float i * 0.61)))
        let sizes, starts = [| 5; 3 |], [| 0; 5 |]
        use strategy = new MirroredStrategy(2)
        let bn =
            use _ = strategy.Scope()
            SyncBatchNormalization(axis = [ 1 ], momentum = 0.9f)
        let perReplica =
            strategy.Run(fun ctx ->
                let r = ctx.ReplicaId
                bnStep bn (x.Slice(0, starts[r], sizes[r])) (dy.Slice(0, starts[r], sizes[r])))
        let single = bnStep (SyncBatchNormalization(axis = [ 1 ], momentum = 0.9f)) x dy

        // An independent float64 computation of the one-device step (gamma 1, beta 0, Keras' epsilon 1e-3):
        // xhat = (x - mean) / sqrt(var + eps) per channel; dbeta = sum dy; dgamma = sum dy * xhat;
        // dx = (dy - mean(dy) - xhat * mean(dy * xhat)) / sqrt(var + eps).
        let xs, dys = x.ToArray() |> Array.map float, dy.ToArray() |> Array.map float
        let channel i = (i / hw) % c
        let perChannel f =
            Array.init c (fun ch -> seq { for i in 0 .. xs.Length - 1 do if channel i = ch then yield f i } |> Seq.sum)
        let count = float (n * hw)
        let mean = perChannel (fun i -> xs[i]) |> Array.map (fun s -> s / count)
        let var = perChannel (fun i -> (xs[i] - mean[channel i]) ** 2.0) |> Array.map (fun s -> s / count)
        let xhat = Array.init xs.Length (fun i -> (xs[i] - mean[channel i]) / sqrt (var[channel i] + 1e-3))
        let dbeta = perChannel (fun i -> dys[i])
        let dgamma = perChannel (fun i -> dys[i] * xhat[i])
        let dx =
            Array.init xs.Length (fun i ->
                let ch = channel i
                (dys[i] - dbeta[ch] / count - xhat[i] * dgamma[ch] / count) / sqrt (var[ch] + 1e-3))
        assertClose "y" 1e-5 xhat single.Y
        assertClose "dx" 1e-5 dx single.Dx
        assertClose "dgamma" 1e-4 dgamma single.DGamma
        assertClose "dbeta" 1e-5 dbeta single.DBeta

        // Two replicas with SyncBN: concatenated, the outputs and input gradients are the one-device ones; the gamma
        // and beta gradients are each replica's own and add up to the one-device ones.
        assertClose "replicated y" 1e-5 xhat (Tensor.Concat([ for s in perReplica -> s.Y ], 0))
        assertClose "replicated dx" 1e-5 dx (Tensor.Concat([ for s in perReplica -> s.Dx ], 0))
        assertClose "replicated dgamma" 1e-4 dgamma (strategy.Reduce(ReduceOp.Sum, strategy.Run(fun ctx -> perReplica[ctx.ReplicaId].DGamma)))
        assertClose "replicated dbeta" 1e-5 dbeta (strategy.Reduce(ReduceOp.Sum, strategy.Run(fun ctx -> perReplica[ctx.ReplicaId].DBeta)))

    [<TestMethod>]
    member _.SequentialWithSyncBatchNormalizationFromNamedArguments() =
        let bn = SyncBatchNormalization(momentum = 0.9f, epsilon = 1e-3f)
        let model = buildModelWith bn
        Assert.AreEqual(4, model.Layers.Count)
        Assert.IsTrue(model.Built)
        // Dense 3->4 without bias: 12; SyncBN over 4 channels: gamma, beta (8 trainable), moving mean and variance (8);
        // Dense 4->2: 8 + 2.
        Assert.AreEqual(12 + 16 + 10, model.CountParams())
        Assert.AreEqual(12 + 8 + 10, model.TrainableWeights |> Seq.sumBy (fun w -> Seq.fold (*) 1 w.Shape))
        // The model holds the layer it was given (no copy), built by the model for its 4 input channels.
        Assert.AreSame<Layer>(bn, model.Layers[1])
        Assert.IsTrue(bn.Built)
        Assert.IsTrue(bn.Synchronized)
        Assert.AreEqual(0.9f, bn.Momentum)
        Assert.AreEqual(0.001f, bn.Epsilon)
        match bn.MovingMean with
        | null -> Assert.Fail "building the layer creates its moving mean"
        | mean -> CollectionAssert.AreEqual([| 4 |], mean.Shape |> Seq.toArray)

    [<TestMethod>]
    member _.MirroredTrainingThroughRunEqualsOneDeviceTraining() =
        use strategy = new MirroredStrategy(2)
        let mirrored =
            use _ = strategy.Scope()
            buildModel ()
        let mirroredLosses = train strategy mirrored 20
        let single = buildModel ()
        let singleLosses = train Strategy.Default single 20
        // Every replica reports the loss of the global batch, and it equals the one-device loss step by step.
        for replicaLosses, oneDevice in List.zip mirroredLosses (singleLosses |> List.map List.head) do
            Assert.AreEqual(2, replicaLosses.Length)
            for loss in replicaLosses do
                Assert.AreEqual(oneDevice, loss, 1e-5)
        let first, last = List.head singleLosses |> List.head, List.last singleLosses |> List.head
        Assert.IsTrue(last < 0.75 * first, $"loss {first} -> {last}")
        // SyncBN makes two replicas with half batches train exactly like one device with the whole batch.
        for a, b in Seq.zip (mirrored.GetWeights()) (single.GetWeights()) do
            CollectionAssert.AreEqual(a.Shape |> Seq.toArray, b.Shape |> Seq.toArray)
            for u, v in Array.zip (a.ToArray()) (b.ToArray()) do
                Assert.AreEqual(v, u, 1e-4f)
        // The moving mean is the momentum average of the global batch means, identical on both replicas.
        let bn = mirrored.Layers[1].Weights |> Seq.find (fun w -> w.Name.EndsWith "moving_mean")
        let replicas = bn.Replicas |> Seq.map (fun t -> t.ToArray()) |> Seq.toList
        CollectionAssert.AreEqual(replicas[0], replicas[1])

    [<TestMethod>]
    member _.GradientTapeOverTrainableWeightsInsideRun() =
        // loss = sum(x·W + b) over a batch of ones [4, 3]: dL/dW = xᵀ·1 = 4 everywhere, dL/db = 4.
        use strategy = new MirroredStrategy(2)
        let model =
            use _ = strategy.Scope()
            Sequential([ Dense(2, kernelInitializer = Initializers.Ones()) ], inputShape = [ 3 ])
        let halves = Model.Split(Tensor.Ones [ 4; 3 ], 2)
        let kernelGradients =
            strategy.Run(fun ctx ->
                use tape = new GradientTape()
                let loss = model.Call(halves[ctx.ReplicaId], training = true).Sum()
                let gradients = tape.Gradient(loss, variables = model.TrainableWeights)
                Assert.AreEqual(2, gradients.Count)
                match gradients[0] with
                | null -> failwith "the loss depends on the kernel"
                | kernel -> kernel)
        // Each replica sees half the batch (2 rows): its kernel gradient is 2; the sum over replicas is the full 4.
        for g in kernelGradients do
            CollectionAssert.AreEqual(Array.create 6 2.0f, g.ToArray())
        let total = strategy.Reduce(ReduceOp.Sum, kernelGradients)
        CollectionAssert.AreEqual(Array.create 6 4.0f, total.ToArray())
        CollectionAssert.AreEqual([| 3; 2 |], total.Shape |> Seq.toArray)

    [<TestMethod>]
    member _.ConfigsAndWeightsReadBackFromJsonAndWeightsFile() =
        let model = buildModel ()
        train Strategy.Default model 3 |> ignore
        let config = model.Layers[1].GetConfig()
        Assert.AreEqual(0.9f, config.GetFloat "momentum")
        Assert.AreEqual(0.001f, config.GetFloat "epsilon")
        Assert.IsTrue(config.GetBool "center")
        // axis=-1 resolves to the last axis of the built (batch, 4) input, as in Keras.
        CollectionAssert.AreEqual([| 1 |], config.GetInts "axis" |> Seq.toArray)
        Assert.AreEqual("Ones", (config.GetConfig "gamma_initializer").GetString "class_name")
        let dense = model.Layers[0].GetConfig()
        Assert.AreEqual(4, dense.GetInt "units")
        Assert.IsFalse(dense.GetBool "use_bias")
        let path = Path.Combine(Path.GetTempPath(), $"tfsyncbn-fsharp-{Guid.NewGuid():N}.weights")
        try
            model.SaveWeights path
            let restored = Sequential.FromJson(model.ToJson())
            restored.LoadWeights path
            Assert.AreEqual(0.9f, restored.Layers[1].GetConfig().GetFloat "momentum")
            let expected = model.Predict(x, batchSize = 8).ToArray()
            let actual = restored.Predict(x, batchSize = 8).ToArray()
            CollectionAssert.AreEqual(expected, actual)
        finally
            File.Delete path

    [<TestMethod>]
    member _.InitializersRegularizersAndConstraints() =
        let dense =
            Dense(
                3,
                useBias = false,
                kernelInitializer = Initializers.Constant 0.5f,
                kernelRegularizer = Regularizers.L2 0.01f,
                kernelConstraint = Constraints.NonNeg())
        let bn =
            SyncBatchNormalization(
                gammaInitializer = Initializers.Constant 3.0f,
                gammaRegularizer = Regularizers.L1 0.1f,
                gammaConstraint = Constraints.MaxNorm(maxValue = 2.0f, axis = [ 0 ]))
        let model = Sequential([ dense; bn ], inputShape = [ 2 ])
        model.Compile(SGD(learningRate = 1.0f), MeanSquaredError())
        // L2: 0.01 * 6 * 0.5^2 = 0.015; L1 on gamma (3 x 3.0): 0.1 * 9 = 0.9.
        let losses = model.Losses |> Seq.map (fun t -> t.ToScalar()) |> Seq.toList
        Assert.AreEqual(2, losses.Length)
        Assert.AreEqual(0.015f, losses[0], 1e-6f)
        Assert.AreEqual(0.9f, losses[1], 1e-6f)
        // A step that pushes the second kernel row negative and gamma up (targets 50·x[:, 0] on every channel), on this
        // model and on a twin without constraints. PyTorch in float64 (same loss, penalties and SGD step) gives the
        // unconstrained kernel rows 170.9370 and -169.8388 and gamma 11.7716: NonNeg and MaxNorm(2) must both bind.
        let twinDense = Dense(3, useBias = false, kernelInitializer = Initializers.Constant 0.5f, kernelRegularizer = Regularizers.L2 0.01f)
        let twinBn = SyncBatchNormalization(gammaInitializer = Initializers.Constant 3.0f, gammaRegularizer = Regularizers.L1 0.1f)
        let twin = Sequential([ twinDense; twinBn ], inputShape = [ 2 ])
        twin.Compile(SGD(learningRate = 1.0f), MeanSquaredError())
        let inputs = Tensor.FromArray([| 1.0f; 2.0f; -1.0f; 0.5f; 0.0f; 1.0f; 2.0f; -2.0f |], [ 4; 2 ])
        let targets = Tensor.FromArray([| for n in 0..3 do for _ in 0..2 -> 50.0f * [| 1.0f; -1.0f; 0.0f; 2.0f |][n] |], [ 4; 3 ])
        model.TrainStep(inputs, targets) |> ignore
        twin.TrainStep(inputs, targets) |> ignore
        let free = twinDense.Weights[0].Value.ToArray()
        let freeGamma =
            match twinBn.Gamma with
            | null -> failwith "scale=true must create gamma"
            | g -> g.Value.ToArray()
        for i in 0..2 do
            Assert.AreEqual(170.9370f, free[i], 0.01f, "unconstrained kernel row 0")
            Assert.AreEqual(-169.8388f, free[3 + i], 0.01f, "unconstrained kernel row 1")
            Assert.AreEqual(11.7716f, freeGamma[i], 0.001f, "unconstrained gamma")
        // The constrained model holds exactly the projections of the unconstrained step.
        let kernel = dense.Weights[0].Value.ToArray()
        CollectionAssert.AreEqual(free |> Array.map (fun v -> max v 0.0f), kernel, "NonNeg zeroed the negative row")
        Assert.IsTrue(kernel[3..] |> Array.forall (fun v -> v = 0.0f) && kernel[..2] |> Array.forall (fun v -> v > 170.0f))
        let gamma =
            match bn.Gamma with
            | null -> failwith "scale=true must create gamma"
            | g -> g.Value.ToArray()
        let projected = Constraints.MaxNorm(maxValue = 2.0f, axis = [ 0 ]).Call(Tensor.FromArray freeGamma).ToArray()
        CollectionAssert.AreEqual(projected, gamma, "MaxNorm scaled gamma down")
        let norm = Math.Sqrt(gamma |> Array.sumBy (fun g -> float g * float g))
        Assert.AreEqual(2.0, norm, 1e-5, "gamma norm after MaxNorm(2)")
        // MaxNorm scales (3, 4), norm 5, down to norm 2.
        let clipped = Constraints.MaxNorm(maxValue = 2.0f, axis = [ 0 ]).Call(Tensor.FromArray [| 3.0f; 4.0f |])
        CollectionAssert.AreEqual([| 1.2f; 1.6f |], clipped.ToArray() |> Array.map (fun v -> MathF.Round(v, 5)))
        // Initializers and regularizers by Keras name, and their configs.
        Assert.AreEqual("GlorotUniform", Initializers.Get("glorot_uniform").ClassName)
        Assert.AreEqual(0.5f, Regularizers.L2(0.1f).Call(Tensor.FromArray [| 1.0f; 2.0f |]).ToScalar(), 1e-6f)
        Assert.AreEqual(0.25f, (Constraints.MaxNorm(maxValue = 0.25f).GetConfig()).GetFloat "max_value")
        let ones = Initializers.Ones().Call [ 2; 2 ]
        CollectionAssert.AreEqual([| 1.0f; 1.0f; 1.0f; 1.0f |], ones.ToArray())
