using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(TfSyncBN.Benchmarks.KernelBenchmarks).Assembly).Run(args);
