using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Perfolizer.Horology;

// dotnet run -c Release --project benchmarks/TfSyncBN.Benchmarks -- [BenchmarkDotNet arguments, e.g. --filter '*BatchNorm*']
// dotnet run -c Release --project benchmarks/TfSyncBN.Benchmarks -- alloc OUT.json   (exact bytes allocated per call)
// dotnet run -c Release --project benchmarks/TfSyncBN.Benchmarks -- syncstep OUT.json [BATCHES] [STEPS]   (SyncBN vs local BN step, interleaved)
// dotnet run -c Release --project benchmarks/TfSyncBN.Benchmarks -- scaling OUT.json [ROUNDS] [STEPS]   (CNN step, 1 vs 2 replicas, interleaved)
// dotnet run -c Release --project benchmarks/TfSyncBN.Benchmarks -- bnrelu-copies OUT.json [ROUNDS] [CALLS]   (fused BN+ReLU fwd+bwd in copies, paired; each case in a child process)
// dotnet run -c Release --project benchmarks/TfSyncBN.Benchmarks -- gemm OUT.json [SECONDS]   (GEMM beside OpenBLAS sgemm, SECONDS per variant and case)
// dotnet run -c Release --project benchmarks/TfSyncBN.Benchmarks -- probe [SHAPE] [NHWC|NCHW] [THREADS]   (per-pass minimums)
// dotnet run -c Release --project benchmarks/TfSyncBN.Benchmarks -- probe-conv [BATCH] [THREADS] [LAYER]   (a conv of the CNN: direct / implicit GEMM vs im2col)
// dotnet run -c Release --project benchmarks/TfSyncBN.Benchmarks -- probe-pool [BATCH]   (the CNN's first max pooling, forward and backward)
// dotnet run -c Release --project benchmarks/TfSyncBN.Benchmarks -- probe-bnpool [BATCH] [THREADS]   (the CNN's BN + ReLU + max pooling blocks, fused vs separate)
// dotnet run -c Release --project benchmarks/TfSyncBN.Benchmarks -- probe-seq [SHAPE] [NHWC|NCHW] [THREADS] [SECONDS]   (fused BN+ReLU's passes in step order)
// dotnet run -c Release --project benchmarks/TfSyncBN.Benchmarks -- probe-loop fwd|fwdbwd|relu-fwd|relu-fwdbwd [SHAPE] [NHWC|NCHW] [THREADS] [SECONDS]   (one layer call repeated, for perf)
// dotnet run -c Release --project benchmarks/TfSyncBN.Benchmarks -- probe-gemm M N K N|T N|T   (the managed GEMM at one shape)
// dotnet run -c Release --project benchmarks/TfSyncBN.Benchmarks -- probe-phases [SECONDS]   (FMA rate, in-cache GEMM, memory read and CNN step, sampled in turn)
// dotnet run -c Release --project benchmarks/TfSyncBN.Benchmarks -- probe-stream [SECONDS]   (one read + one write stream from memory, stored in different ways)
// dotnet run -c Release --project benchmarks/TfSyncBN.Benchmarks -- serve FIGURE SHAPE NHWC|NCHW THREADS [WARMUP_S]   (a figure timed on request, for benchmarks/pytorch/paired.py)
// dotnet run -c Release --project benchmarks/TfSyncBN.Benchmarks -- probe-fixed FIGURE [SHAPE] [NHWC|NCHW] [THREADS] [WARMUP] [CALLS]   (fixed work, see FixedProbe)
if (args.Length >= 1 && args[0] == "alloc")
{
    TfSyncBN.Benchmarks.Allocations.Write(args.Length > 1 ? args[1] : "allocations.json");
    return 0;
}

if (args.Length >= 1 && args[0] == "syncstep")
{
    TfSyncBN.Benchmarks.SyncStep.Write(args.Length > 1 ? args[1] : "syncstep.json",
        args.Length > 2 ? int.Parse(args[2]) : 20, args.Length > 3 ? int.Parse(args[3]) : 20);
    return 0;
}

if (args.Length >= 1 && args[0] == "scaling")
{
    TfSyncBN.Benchmarks.ReplicaScaling.Write(args.Length > 1 ? args[1] : "scaling.json",
        args.Length > 2 ? int.Parse(args[2]) : 20, args.Length > 3 ? int.Parse(args[3]) : 10);
    return 0;
}

if (args.Length >= 1 && args[0] == "bnrelu-copies")
{
    TfSyncBN.Benchmarks.PairedCopies.Write(args.Length > 1 ? args[1] : "bnrelu-copies.json",
        args.Length > 2 ? int.Parse(args[2]) : 15, args.Length > 3 ? int.Parse(args[3]) : 9);
    return 0;
}

if (args.Length == 5 && args[0] == "bnrelu-copies-case")
{
    TfSyncBN.Benchmarks.PairedCopies.Case(args[1], int.Parse(args[2]), int.Parse(args[3]), int.Parse(args[4]));
    return 0;
}

if (args.Length >= 1 && args[0] == "gemm")
{
    TfSyncBN.Benchmarks.GemmBench.Write(args.Length > 1 ? args[1] : "gemm.json", args.Length > 2 ? double.Parse(args[2]) : 1.0);
    return 0;
}

if (args.Length >= 1 && args[0] == "probe")
{
    TfSyncBN.Benchmarks.Probe.Run(args.Length > 1 ? args[1] : "128x32x32x64", args.Length > 2 ? args[2] : "NHWC", args.Length > 3 ? int.Parse(args[3]) : 1);
    return 0;
}

if (args.Length >= 1 && args[0] == "probe-loop")
{
    TfSyncBN.Benchmarks.Probe.Loop(args[1], args.Length > 2 ? args[2] : "128x32x32x64", args.Length > 3 ? args[3] : "NHWC",
        args.Length > 4 ? int.Parse(args[4]) : 1, args.Length > 5 ? double.Parse(args[5]) : 10);
    return 0;
}

if (args.Length >= 1 && args[0] == "probe-seq")
{
    TfSyncBN.Benchmarks.Probe.Sequence(args.Length > 1 ? args[1] : "128x32x32x64", args.Length > 2 ? args[2] : "NHWC",
        args.Length > 3 ? int.Parse(args[3]) : 1, args.Length > 4 ? double.Parse(args[4]) : 5);
    return 0;
}

if (args.Length >= 1 && args[0] == "probe-fixed")
{
    TfSyncBN.Benchmarks.FixedProbe.Run(args[1], args.Length > 2 ? args[2] : "128x32x32x64", args.Length > 3 ? args[3] : "NHWC",
        args.Length > 4 ? int.Parse(args[4]) : 1, args.Length > 5 ? int.Parse(args[5]) : 60, args.Length > 6 ? int.Parse(args[6]) : 100);
    return 0;
}

if (args.Length >= 5 && args[0] == "serve")
{
    TfSyncBN.Benchmarks.PeerServer.Run(args[1], args[2], args[3], int.Parse(args[4]), args.Length > 5 ? double.Parse(args[5], System.Globalization.CultureInfo.InvariantCulture) : 2);
    return 0;
}

if (args.Length >= 1 && args[0] == "probe-stream")
{
    TfSyncBN.Benchmarks.StreamProbe.Run(args.Length > 1 ? double.Parse(args[1]) : 30);
    return 0;
}

if (args.Length >= 1 && args[0] == "probe-phases")
{
    TfSyncBN.Benchmarks.PhaseProbe.Run(args.Length > 1 ? double.Parse(args[1]) : 120);
    return 0;
}

if (args.Length >= 1 && args[0] == "probe-gemm")
{
    TfSyncBN.Benchmarks.Probe.Gemm(int.Parse(args[1]), int.Parse(args[2]), int.Parse(args[3]), args[4] == "T", args[5] == "T");
    return 0;
}

if (args.Length >= 1 && args[0] == "probe-pool")
{
    TfSyncBN.Benchmarks.Probe.Pool(args.Length > 1 ? int.Parse(args[1]) : 128);
    return 0;
}

if (args.Length >= 1 && args[0] == "probe-bnpool")
{
    TfSyncBN.Benchmarks.Probe.BnPool(args.Length > 1 ? int.Parse(args[1]) : 128, args.Length > 2 ? int.Parse(args[2]) : 1);
    return 0;
}

if (args.Length >= 1 && args[0] == "probe-conv")
{
    TfSyncBN.Benchmarks.Probe.Conv(args.Length > 1 ? int.Parse(args[1]) : 128, args.Length > 2 ? int.Parse(args[2]) : 1, args.Length > 3 ? int.Parse(args[3]) : 2);
    return 0;
}

if (args.Length >= 1 && args[0] == "probe-cnn")
{
    TfSyncBN.Benchmarks.Probe.Cnn(args.Length > 1 ? double.Parse(args[1]) : 10, args.Length > 2 ? int.Parse(args[2]) : 1);
    return 0;
}

// A short in-process job: a time-based warm-up long enough for tiered JIT to promote the kernels (TensorPrimitives
// and the hand-written loops run several times slower at tier 0), then 9 measured iterations of ~120 ms each.
var job = Job.Default
    .WithToolchain(InProcessEmitToolchain.Instance)
    .WithLaunchCount(1)
    .WithWarmupCount(6)
    .WithIterationCount(9)
    .WithIterationTime(TimeInterval.FromMilliseconds(120));
var config = ManualConfig.CreateEmpty()
    .AddJob(job)
    .AddDiagnoser(MemoryDiagnoser.Default)
    .AddExporter(JsonExporter.Full, MarkdownExporter.GitHub)
    .AddLogger(ConsoleLogger.Default)
    .AddColumnProvider(DefaultColumnProviders.Instance)
    .WithOption(ConfigOptions.JoinSummary, false);
var summaries = BenchmarkSwitcher.FromAssembly(typeof(TfSyncBN.Benchmarks.BatchNormBenchmarks).Assembly).Run(args, config);
return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
