using System.Globalization;
using TfSyncBN.Gpu;
using TfSyncBN.GpuCheck;

// Runs the GPU checks on one device and prints one summary line per check:
//   PASS|FAIL <check>: <detail>   and   BENCH <name>: <ms> (timings, never a failure).
// Exit code: 0 all passed, 1 a check failed, 2 the device could not be opened or the arguments are wrong.
// Usage: TfSyncBN.GpuCheck [--device cuda:0|ilgpu-cpu:0] [--quick] [--no-bench]
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
string deviceName = "cuda:0";
bool quick = false, bench = true;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--device" when i + 1 < args.Length: deviceName = args[++i]; break;
        case "--quick": quick = true; break;
        case "--no-bench": bench = false; break;
        default:
            Console.Error.WriteLine($"unknown argument '{args[i]}'. Usage: TfSyncBN.GpuCheck [--device cuda:0|ilgpu-cpu:0] [--quick] [--no-bench]");
            return 2;
    }
}

IlgpuDevice device;
try
{
    device = IlgpuDevice.Create(deviceName);
}
catch (Exception e) when (e is InvalidOperationException or ArgumentException)
{
    Console.WriteLine($"FAIL open device {deviceName}: {e.Message}");
    return 2;
}

int failures = 0;
void Report(CaseResult r)
{
    if (!r.Passed) failures++;
    Console.WriteLine($"{(r.Passed ? "PASS" : "FAIL")} {r.Name}: max error {r.MaxError:G3} (bound {r.Bound:G3})");
}
void Guard(string name, Action action)
{
    try { action(); }
    catch (Exception e)
    {
        failures++;
        Console.WriteLine($"FAIL {name}: {e.GetType().Name}: {e.Message}");
    }
}

using (device)
{
    Console.WriteLine($"device {device.Name}: {device.Description}");
    foreach (var (name, run) in Conformance.Cases)
        Guard("conformance " + name, () => { foreach (var r in run(device)) Report(r with { Name = "conformance " + r.Name }); });
    Guard("determinism", () => Report(Checks.Determinism(device, quick ? [64, 8] : [64, 32, 32, 16])));
    foreach (int replicas in new[] { 1, 2, 3, 4 })
        Guard($"SyncBN {replicas} replicas", () => { foreach (var r in Checks.SyncBatchNorm(deviceName, replicas, quick ? [13, 3, 2, 5] : [32, 16, 16, 32])) Report(r); });
    foreach (int replicas in new[] { 1, 2, 3 })
        Guard($"SyncBatchNormalization layer {replicas} replicas", () => { foreach (var r in PlacementCheck.SyncBatchNormLayer(deviceName, replicas, quick ? [13, 3, 2, 5] : [32, 16, 16, 32])) Report(r); });
    Guard("CNN training", () =>
    {
        // On ILGPU's CPU accelerator, GEMM tiles of 1 (same results, see DeterminismTests) keep the simulated barriers cheap.
        if (!device.IsCuda) device.GemmTile = 1;
        var (result, ms) = Checks.TrainCnn(device, quick ? 8 : 64, quick ? 40 : 200, quick ? 8 : 28, quick ? 4 : 16);
        Report(result);
        Console.WriteLine($"BENCH cnn-step batch {(quick ? 8 : 64)}: {ms:F3} ms (includes the host loss read-back each step)");
    });
    if (bench && device.IsCuda)
        Guard("benchmark", () => Benchmarks.Run(device, deviceName));
}
Console.WriteLine(failures == 0 ? "ALL PASSED" : $"{failures} FAILED");
return failures == 0 ? 0 : 1;
