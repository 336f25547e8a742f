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

    /// <summary>
    /// FashionMnist and ResNet read their options with the parser they share (examples/Shared/CommandLine.cs): a bad
    /// argument exits with 2 and prints the error, naming the option and what it accepts, then the example's usage line.
    /// </summary>
    [TestMethod]
    public void Examples_BadOptions_ExitWith2AndNameTheOption()
    {
        foreach (var (example, dll) in new[] { ("FashionMnist", "FashionMnistExample.dll"), ("ResNet", "ResNetExample.dll") })
        {
            string path = Path.Combine(Repo.Root, "examples", example, "bin", Repo.Configuration, "net10.0", dll);
            Assert.IsTrue(File.Exists(path), $"{path} was not built");
            foreach (var (args, error) in new (string[], string)[]
            {
                (["--epochs", "-1"], "error: --epochs must be >= "),
                (["--replicas", "0"], "error: --replicas must be >= 1."),
                (["--lr", "0"], "error: --lr must be a positive number."),
                (["--batch-size", "x"], "error: The input string 'x' was not in a correct format."),
                (["--data"], "error: --data needs a value."),
                (["--bogus"], "error: Unknown option '--bogus'."),
                (["--help"], "[--replicas N (2)] [--epochs N (3)]"),
            })
            {
                var (code, output) = Repo.Dotnet(Repo.Root, TimeSpan.FromSeconds(60), null, [path, .. args]);
                Assert.AreEqual(2, code, $"{example} {string.Join(' ', args)}: {output}");
                StringAssert.Contains(output, error, $"{example} {string.Join(' ', args)}");
                StringAssert.Contains(output, $"usage: {example} [", $"{example} {string.Join(' ', args)}");
                Assert.IsFalse(output.Contains("Unhandled exception", StringComparison.Ordinal), output);
            }
        }
    }
}
