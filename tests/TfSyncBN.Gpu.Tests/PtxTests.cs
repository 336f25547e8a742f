using System.Reflection;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace TfSyncBN.Gpu.Tests;

/// <summary>
/// Every kernel of TfSyncBN.Gpu compiles with ILGPU's PTX backend set up for an sm_90 device (H100) and PTX ISA 8.0, no GPU
/// needed. ILGPU 1.5.3 writes <c>.target sm_80</c> into that PTX (its highest emitted target); the CUDA driver JIT-compiles
/// sm_80 PTX for sm_90, so the test accepts sm_80 or sm_90 and requires ISA 8.0, which covers sm_90.
/// </summary>
[TestClass]
public sealed class PtxTests
{
    [TestMethod]
    public void EveryKernelCompilesToPtxForSm90()
    {
        var kernels = IlgpuDevice.AllKernels();
        Assert.IsTrue(kernels.Count >= 25, $"only {kernels.Count} kernels found");
        using var context = Context.Create(b => b.Cuda().EnableAlgorithms());
        using var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_90), CudaArchitecture.SM_90,
            CudaInstructionSet.ISA_80, null);
        Assert.AreEqual(CudaArchitecture.SM_90, backend.Architecture);
        var failures = new List<string>();
        foreach (var kernel in kernels)
        {
            try
            {
                bool implicitlyGrouped = kernel.GetParameters()[0].ParameterType == typeof(Index1D);
                var entry = implicitlyGrouped
                    ? EntryPointDescription.FromImplicitlyGroupedKernel(kernel)
                    : EntryPointDescription.FromExplicitlyGroupedKernel(kernel);
                var compiled = (PTXCompiledKernel)backend.Compile(entry, new KernelSpecialization());
                var lines = compiled.PTXAssembly.Split('\n').Select(l => l.Trim()).ToList();
                string target = lines.FirstOrDefault(l => l.StartsWith(".target", StringComparison.Ordinal)) ?? "";
                string version = lines.FirstOrDefault(l => l.StartsWith(".version", StringComparison.Ordinal)) ?? "";
                if (target is not (".target sm_80" or ".target sm_90") || version != ".version 8.0" || !lines.Any(l => l.Contains(".entry", StringComparison.Ordinal)))
                    failures.Add($"{kernel.DeclaringType!.Name}.{kernel.Name}: '{version}', '{target}', or no .entry");
            }
            catch (Exception e)
            {
                failures.Add($"{kernel.DeclaringType!.Name}.{kernel.Name}: {e.GetType().Name}: {e.Message}");
            }
        }
        Assert.AreEqual(0, failures.Count, string.Join("\n", failures));
    }

    [TestMethod]
    public void TheKernelListHoldsEveryKernelTheDeviceLoads()
    {
        // Every method the ops load is in the list the PTX test compiles (spot-check by name; the list is found by reflection).
        var names = IlgpuDevice.AllKernels().Select(m => m.Name).ToHashSet();
        foreach (var name in new[] { "Gemm", "Im2Col", "Col2Im", "MaxPool", "MaxPoolBackward", "ChannelPartials", "CombinePartials", "Coefficients",
                     "Normalize", "BackwardInput", "ParameterGradients", "SparseSoftmaxCrossEntropy", "SparseSoftmaxCrossEntropyBackward", "Sgd", "Adam",
                     "Dropout", "BiasAdd", "Relu", "ReluBackward", "Sigmoid", "SigmoidBackward", "Tanh", "TanhBackward", "Add", "Multiply", "Scale",
                     "ToSingle", "ToDouble", "ScaleDouble", "Fill" })
            Assert.IsTrue(names.Contains(name), name);
    }
}
