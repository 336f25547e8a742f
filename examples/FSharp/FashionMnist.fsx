// Fashion-MNIST with SyncBatchNormalization from an F# script, trained data-parallel with Fit under MirroredStrategy.
//
//   dotnet build src/TfSyncBN -c Release
//   dotnet fsi examples/FSharp/FashionMnist.fsx [--replicas 2] [--epochs 3] [--max-train 8000] [--max-test 2000]
//                                              [--batch-size 128] [--lr 0.001] [--min-accuracy 0.5]
//
// It trains on the class-balanced subset shipped in data/fashion-mnist-subset (8,000 training and 2,000 test images),
// the same CNN and schedule as examples/FashionMnist: Conv2D -> SyncBN -> ReLU -> MaxPool, twice, then Dense 128 ->
// SyncBN -> ReLU -> Dropout -> Dense 10 (logits), batch norms with momentum 0.9, Adam with a cosine decay of the
// learning rate to 0 over the run. Each replica normalizes with the statistics of the global batch. Exit code 0 when
// the test accuracy reaches --min-accuracy (0.5, five times chance), 1 otherwise, 2 on bad arguments.
// With a TfSyncBN package instead of the built library: #r "nuget: TfSyncBN".
#r "../../src/TfSyncBN/bin/Release/net10.0/TfSyncBN.dll"

open System
open System.Diagnostics
open TfSyncBN.Distribute
open TfSyncBN.Keras
open TfSyncBN.Tensors

type Options = { Replicas: int; Epochs: int; MaxTrain: int; MaxTest: int; BatchSize: int; LearningRate: float32; MinAccuracy: float }

let rec parse options args =
    match args with
    | [] -> Some options
    | "--replicas" :: n :: rest -> parse { options with Replicas = int n } rest
    | "--epochs" :: n :: rest -> parse { options with Epochs = int n } rest
    | "--max-train" :: n :: rest -> parse { options with MaxTrain = int n } rest
    | "--max-test" :: n :: rest -> parse { options with MaxTest = int n } rest
    | "--batch-size" :: n :: rest -> parse { options with BatchSize = int n } rest
    | "--lr" :: x :: rest -> parse { options with LearningRate = float32 x } rest
    | "--min-accuracy" :: x :: rest -> parse { options with MinAccuracy = float x } rest
    | other :: _ ->
        eprintfn "unknown option %s; usage: FashionMnist.fsx [--replicas N] [--epochs N] [--max-train N] [--max-test N] [--batch-size N] [--lr X] [--min-accuracy X]" other
        None

let defaults = { Replicas = 2; Epochs = 3; MaxTrain = 8000; MaxTest = 2000; BatchSize = 128; LearningRate = 0.001f; MinAccuracy = 0.5 }

/// The model of examples/FashionMnist (FashionMnistCnn.cs), with seeded initializers; built inside the strategy's
/// scope, its weights are mirrored. The batch norms use momentum 0.9 (PyTorch's 0.1): with Keras' default 0.99 the
/// moving statistics of a short run still remember their initial values and the test accuracy stays near chance.
let buildModel () =
    let bn () = SyncBatchNormalization(momentum = 0.9f)
    Sequential(
        [ Conv2D(32, [ 3; 3 ], padding = "same", useBias = false, kernelInitializer = Initializers.GlorotUniform(seed = 1))
          bn ()
          ReLU()
          MaxPooling2D([ 2; 2 ])
          Conv2D(64, [ 3; 3 ], padding = "same", useBias = false, kernelInitializer = Initializers.GlorotUniform(seed = 2))
          bn ()
          ReLU()
          MaxPooling2D([ 2; 2 ])
          Flatten()
          Dense(128, useBias = false, kernelInitializer = Initializers.GlorotUniform(seed = 3))
          bn ()
          ReLU()
          Dropout(0.3f, seed = 4)
          Dense(10, kernelInitializer = Initializers.GlorotUniform(seed = 5)) ],
        inputShape = [ 28; 28; 1 ],
        name = "fashion_mnist_cnn")

let run options =
    let data = FashionMnist.Load(subset = true)
    let n = min options.MaxTrain data.TrainLabels.Length
    let labels (values: int[]) = Tensor.FromArray(values |> Array.map float32)
    let trainX = data.TrainImages.Slice(0, 0, n)
    let trainY = labels data.TrainLabels[.. n - 1]
    let m = min options.MaxTest data.TestLabels.Length
    let testX = data.TestImages.Slice(0, 0, m)
    let testY = labels data.TestLabels[.. m - 1]
    printfn "Data: %s: %d training images, %d test images" data.Directory n m

    use strategy = new MirroredStrategy(options.Replicas)
    let model =
        use _ = strategy.Scope()
        let model = buildModel ()
        // Cosine decay of the learning rate to 0 over the whole run: the last epochs take small steps.
        let totalSteps = max 1L (int64 options.Epochs * int64 ((n + options.BatchSize - 1) / options.BatchSize))
        let schedule = CosineDecay(options.LearningRate, totalSteps)
        model.Compile(Adam(learningRate = options.LearningRate, schedule = schedule), SparseCategoricalCrossentropy(fromLogits = true), [ "accuracy" ])
        model
    model.Summary(fun line -> printfn "%s" line) |> ignore
    printfn "Training on %d replicas, global batch %d, %d epochs, Adam lr %g with cosine decay to 0"
        strategy.NumReplicasInSync options.BatchSize options.Epochs options.LearningRate
    let clock = Stopwatch.StartNew()
    let history =
        model.Fit(trainX, trainY, batchSize = options.BatchSize, epochs = options.Epochs, verbose = 2,
                  validationData = ValidationData(testX, testY), seed = 0)
    let test = model.Evaluate(testX, testY, batchSize = 256)
    printfn "Test accuracy %.2f%% (loss %.4f) after %d epochs in %.1f s" (100.0 * test["accuracy"]) test["loss"] options.Epochs clock.Elapsed.TotalSeconds
    printfn "Loss per epoch: %s" (history["loss"] |> Seq.map (sprintf "%.4f") |> String.concat ", ")
    if test["accuracy"] >= options.MinAccuracy then 0 else 1

let args = fsi.CommandLineArgs |> Array.toList |> List.tail
exit (match parse defaults args with
      | Some options -> run options
      | None -> 2)
