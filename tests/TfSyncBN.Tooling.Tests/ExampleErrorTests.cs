namespace TfSyncBN.Tooling.Tests;

/// <summary>The main example's documented exit codes for bad input (issue #16, item 10).</summary>
[TestClass]
public sealed class ExampleErrorTests
{
    [TestMethod]
    public void FashionMnist_NonexistentDataDirectory_ExitsWith2AndAMessage()
    {
        var missing = Path.Combine(Path.GetTempPath(), "tfsyncbn-missing-" + Guid.NewGuid().ToString("N"));
        var (code, output) = Repo.Dotnet(Repo.Root, TimeSpan.FromMinutes(10), null,
            "run", "--project", Path.Combine("examples", "FashionMnist"), "-c", Repo.Configuration, "--", "--data", missing);
        Assert.AreEqual(2, code, output);
        StringAssert.Contains(output, "error: cannot load Fashion-MNIST");
        StringAssert.Contains(output, missing);
        Assert.IsFalse(output.Contains("Unhandled exception", StringComparison.Ordinal), output);
    }
}
