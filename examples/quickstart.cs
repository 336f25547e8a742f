// TfSyncBN quickstart as a .NET 10 file-based app, the replacement Microsoft suggests for .NET Interactive notebooks:
//
//   dotnet run examples/quickstart.cs
//
// Inside this repository it builds the library from source (#:project). Outside it, replace that line with
//   #:package TfSyncBN@0.1.0-local.*
// after packing TfSyncBN into a local feed and adding the feed as a package source (README, "Install", has the
// commands; PackageTests runs this file that way).
// File-based apps default to native AOT, whose restore needs the ILCompiler and runtime packs even for `dotnet run`;
// TfSyncBN compiles GPU kernels at run time (ILGPU) and is not AOT-compatible, so this app opts out.
#:property PublishAot=false
#:project ../src/TfSyncBN/TfSyncBN.csproj

using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

// SyncBatchNormalization on 4 replicas with uneven slices equals batch normalization of the whole batch.
var rng = new Random(0);
var x = Tensor.FromFunction([16, 8], _ => (float)rng.NextDouble() * 4 - 1);
int[] sizes = [3, 5, 2, 6], starts = [0, 3, 8, 10];
using var strategy = new MirroredStrategy(4);
SyncBatchNormalization syncBn;
using (strategy.Scope()) syncBn = new SyncBatchNormalization();
var perReplica = strategy.Run(ctx => syncBn.Call(x.Slice(0, starts[ctx.ReplicaId], sizes[ctx.ReplicaId]), training: true).ToArray());
var whole = new BatchNormalization().Call(x, training: true).ToArray();
var joined = Enumerable.Range(0, 4).SelectMany(r => perReplica[r]).ToArray();
double maxDiff = joined.Zip(whole, (a, b) => Math.Abs(a - b)).Max();
Console.WriteLine($"SyncBN on 4 replicas vs one-device BN: max |difference| = {maxDiff:E2}");

// A small CNN trained data-parallel with Fit on 2 replicas, on 2,000 images of the Fashion-MNIST subset in the library.
var data = FashionMnist.Load(subset: true);
var images = data.TrainImages.Slice(0, 0, 2000);
var labels = Tensor.FromArray(data.TrainLabels[..2000].Select(l => (float)l).ToArray());
using var two = new MirroredStrategy(2);
Sequential model;
using (two.Scope())
{
    model = new Sequential([new Flatten(), new Dense(64, useBias: false), new SyncBatchNormalization(), new ReLU(), new Dense(10)], inputShape: [28, 28, 1]);
    model.Compile(new Adam(learningRate: 0.003f), new SparseCategoricalCrossentropy(fromLogits: true), ["accuracy"]);
}
var history = model.Fit(images, labels, batchSize: 64, epochs: 3, validationSplit: 0.2f, verbose: 0, seed: 0);
for (int e = 0; e < history.Epochs.Count; e++)
    Console.WriteLine($"epoch {e + 1}: loss {history["loss"][e]:F4}, accuracy {history["accuracy"][e]:P1}, val_accuracy {history["val_accuracy"][e]:P1}");
bool ok = maxDiff < 1e-4 && history["val_accuracy"][^1] > 0.5;
Console.WriteLine(ok ? "quickstart: OK" : "quickstart: FAILED");
return ok ? 0 : 1;
