// SyncBatchNormalization over several replicas equals BatchNormalization over the whole batch.
//
// A global batch of 32 NHWC images (8x8, 16 channels) is split unevenly over the replicas (4 by default: 10/8/8/6).
// Each replica runs one training-mode forward and backward pass on its slice. With synchronized statistics, the
// concatenated outputs and input gradients, the summed γ/β gradients and the moving statistics match plain batch
// normalization on all 32 images at once. Plain BatchNormalization on the same replicas (local statistics) is the
// negative control.
//
// Usage: dotnet run -- [--device cpu|ilgpu-cpu|cuda] [--replicas N]
//   cpu        replicas are host threads (the default)
//   ilgpu-cpu  replica r runs on ilgpu-cpu:r, ILGPU's CPU accelerator r (the GPU kernels, simulated on the host)
//   cuda       every replica runs on cuda:0, the first NVIDIA GPU (replicas share it)
using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

string device = "cpu";
int replicas = 4;
for (int i = 0; i < args.Length; i++)
{
    string? value = i + 1 < args.Length ? args[i + 1] : null;
    if (args[i] == "--device" && value is "cpu" or "ilgpu-cpu" or "cuda") device = args[++i];
    else if (args[i] == "--replicas" && int.TryParse(value, out int r) && r is >= 1 and <= 32) { replicas = r; i++; }
    else
    {
        Console.Error.WriteLine($"Unknown or invalid argument '{args[i]}'. Usage: --device cpu|ilgpu-cpu|cuda --replicas N (1 to 32).");
        return 2;
    }
}

const int N = 32, H = 8, W = 8, C = 16;
// Uneven on purpose (the global statistics are weighted by each replica's count): an even split, then two images
// moved from the last replica to the first.
var sizes = Enumerable.Range(0, replicas).Select(r => N / replicas + (r < N % replicas ? 1 : 0)).ToArray();
if (replicas >= 2 && sizes[^1] >= 2) { sizes[0] += 2; sizes[^1] -= 2; }
var starts = new int[replicas];
for (int r = 1; r < replicas; r++) starts[r] = starts[r - 1] + sizes[r - 1];
const double Tolerance = 1e-4;

// Seeded data. Each image gets its own offset, so the replicas' slices have visibly different statistics,
// as with an unshuffled or non-i.i.d. input pipeline; that is where per-replica batch norm goes wrong.
var rng = new Random(42);
var x = Tensor.FromFunction([N, H, W, C], i => Normal(rng) * 2f + 0.15f * (i / (H * W * C)));
var dy = Tensor.FromFunction([N, H, W, C], _ => Normal(rng));   // an upstream gradient dL/dy

// Reference: the same layer class with no strategy is plain batch normalization over all 32 images.
var reference = new SyncBatchNormalization(momentum: 0.9f);
var expected = TrainStep(reference, x, dy);

MirroredStrategy opened;
try
{
    opened = device switch
    {
        "ilgpu-cpu" => new MirroredStrategy(devices: [.. Enumerable.Range(0, replicas).Select(r => $"ilgpu-cpu:{r}")]),
        "cuda" => new MirroredStrategy(devices: [.. Enumerable.Repeat("cuda:0", replicas)]),
        _ => new MirroredStrategy(replicas),
    };
}
catch (InvalidOperationException e)
{
    Console.Error.WriteLine($"FAIL: device '{device}' cannot be opened: {e.Message}");
    return 1;
}
using var strategy = opened;
Console.WriteLine($"Replica devices: {string.Join(", ", strategy.Devices)}");
Console.WriteLine();
BatchNormalization synced, local;
using (strategy.Scope())
{
    // Weights created inside the scope are mirrored: one copy per replica, on the replica's device.
    synced = new SyncBatchNormalization(momentum: 0.9f);
    local = new BatchNormalization(momentum: 0.9f);   // negative control: per-replica statistics
}

bool ok = true;
foreach (var (layer, title, isSync) in new[]
{
    (synced, $"SyncBatchNormalization, {replicas} replicas vs BatchNormalization on the whole batch", true),
    (local, $"Negative control: plain BatchNormalization, {replicas} replicas (local statistics)", false),
})
{
    // Run calls the function once per replica, each on its own thread with its own ReplicaContext. The slices move to
    // the replica's device, and the results back to the host for the comparison.
    var perReplica = strategy.Run(ctx =>
    {
        int r = ctx.ReplicaId;
        var (y, dx, dg, db) = TrainStep(layer, x.Slice(0, starts[r], sizes[r]).To(ctx.Device), dy.Slice(0, starts[r], sizes[r]).To(ctx.Device));
        return (Y: y.To(Device.Cpu), Dx: dx.To(Device.Cpu), DGamma: dg.To(Device.Cpu), DBeta: db.To(Device.Cpu));
    });

    // Outputs and input gradients concatenate back to the global batch. γ/β gradients stay local to each replica
    // (an optimizer's cross-replica gradient sum adds them up), so they are summed here.
    var rows = new (string Name, IEnumerable<Tensor> Actual, Tensor Expected)[]
    {
        ("outputs y", [Tensor.Concat(perReplica.Select(p => p.Y).ToArray(), 0)], expected.Y),
        ("input gradients dL/dx", [Tensor.Concat(perReplica.Select(p => p.Dx).ToArray(), 0)], expected.Dx),
        ("gamma gradient (summed)", [perReplica.Select(p => p.DGamma).Aggregate((a, b) => a + b)], expected.DGamma),
        // β's gradient is Σ dy: it does not depend on the statistics, so it matches in the control too.
        ("beta gradient (summed)", [perReplica.Select(p => p.DBeta).Aggregate((a, b) => a + b)], expected.DBeta),
        // Every replica's copy of the moving statistics is compared, not just their average.
        ("moving mean (every copy)", layer.MovingMean!.Replicas.Select(t => t.To(Device.Cpu)), reference.MovingMean!.Value),
        ("moving variance (every copy)", layer.MovingVariance!.Replicas.Select(t => t.To(Device.Cpu)), reference.MovingVariance!.Value),
    };

    Console.WriteLine($"{title}, split {string.Join("/", sizes)}:");
    if (!isSync && sizes.Count(n => n > 0) < 2) Console.WriteLine("  (one non-empty replica: local statistics are the global ones)");
    foreach (var (name, actual, want) in rows)
    {
        double diff = actual.Max(t => MaxAbsDiff(t, want));
        double scale = MaxAbs(want);
        Console.WriteLine($"  {name,-30} max |diff| = {diff:E2}   (largest |value| {scale,7:F3})");
        // float32 sums over the 2048 pixels of a channel round at ~1e-6 relative (the γ gradient reaches ~60), so the
        // 1e-4 bound is absolute for values up to 1 and relative above.
        if (isSync && !(diff < Tolerance * Math.Max(1, scale))) ok = false;
    }
    Console.WriteLine();
}

Console.WriteLine(ok
    ? $"OK: SyncBatchNormalization matches whole-batch BatchNormalization (every difference < {Tolerance:E0} x max(1, |value|))."
    : $"FAIL: a SyncBatchNormalization difference is >= {Tolerance:E0} x max(1, |value|).");
return ok ? 0 : 1;

// One training step: forward in training mode, then dL/dx, dL/dγ, dL/dβ for the given upstream gradient.
static (Tensor Y, Tensor Dx, Tensor DGamma, Tensor DBeta) TrainStep(BatchNormalization layer, Tensor x, Tensor dy)
{
    using var tape = new GradientTape();
    tape.Watch(x);   // plain tensors must be watched; trainable variables (γ, β) are watched when read
    var y = layer.Call(x, training: true);
    var g = tape.Gradient(y, [x, layer.Gamma!, layer.Beta!], dy);
    return (y, g[0]!, g[1]!, g[2]!);
}

static double MaxAbsDiff(Tensor a, Tensor b) => MaxAbs(a - b);

static double MaxAbs(Tensor t)
{
    double max = 0;
    foreach (float v in t.AsSpan()) max = Math.Max(max, Math.Abs(v));
    return max;
}

// Standard normal sample (Box-Muller).
static float Normal(Random rng) =>
    (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
