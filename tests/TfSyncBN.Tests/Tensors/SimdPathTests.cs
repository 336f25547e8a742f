using System.Runtime.Intrinsics;

namespace TfSyncBN.Tests.Tensors;

/// <summary>
/// The CI runs of the kernel tests with <c>DOTNET_EnableAVX512=0</c> and <c>DOTNET_EnableAVX2=0</c> (see .ci/run) only
/// test the narrower vector paths if the runtime honours those switches; this fails when a switch is set but the
/// wider path is still taken (as <c>DOTNET_EnableAVX512F=0</c> is ignored by .NET 10).
/// </summary>
[TestClass]
public sealed class SimdPathTests
{
    [TestMethod]
    public void DisabledInstructionSets_SelectTheNarrowerKernelPath()
    {
        bool avx512Off = Environment.GetEnvironmentVariable("DOTNET_EnableAVX512") == "0"
            || Environment.GetEnvironmentVariable("DOTNET_EnableAVX512F") == "0";
        bool avx2Off = Environment.GetEnvironmentVariable("DOTNET_EnableAVX2") == "0";
        Console.WriteLine($"Vector512 {Vector512.IsHardwareAccelerated}, Vector256 {Vector256.IsHardwareAccelerated}, Vector128 {Vector128.IsHardwareAccelerated}");
        if (avx512Off || avx2Off) Assert.IsFalse(Vector512.IsHardwareAccelerated, "the 512-bit kernels must be off");
        if (avx2Off) Assert.IsFalse(Vector256.IsHardwareAccelerated, "the 256-bit kernels must be off");
        if (!avx512Off && !avx2Off) Assert.IsTrue(Vector128.IsHardwareAccelerated || !System.Runtime.Intrinsics.X86.Sse.IsSupported, "x86 always has 128-bit vectors");
    }
}
