using System.Diagnostics;

namespace TfSyncBN.Gpu.Tests;

/// <summary>The GPU check program (tools/gpu/check.sh runs its publish) fails clearly where no CUDA device exists.</summary>
[TestClass]
public sealed class GpuCheckProgramTests
{
    private static (int Code, string Output) Run(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "TfSyncBN.GpuCheck.dll"));
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail("TfSyncBN.GpuCheck did not exit within 2 minutes");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    [TestMethod]
    public void NoCudaDeviceExitsWithStatus2AndSaysWhy()
    {
        var (code, output) = Run("--device", "cuda:0");
        Assert.AreEqual(2, code, output);
        StringAssert.Contains(output, "FAIL open device cuda:0: No CUDA device 0");
    }

    [TestMethod]
    public void UnknownArgumentsExitWithStatus2()
    {
        var (code, output) = Run("--devise", "cuda:0");
        Assert.AreEqual(2, code, output);
        StringAssert.Contains(output, "unknown argument '--devise'");
    }
}
