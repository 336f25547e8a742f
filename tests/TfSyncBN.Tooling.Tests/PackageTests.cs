using System.IO.Compression;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Xml.Linq;

namespace TfSyncBN.Tooling.Tests;

/// <summary>
/// `dotnet pack` of every packable project under src/ gives a package with its README, licence expression,
/// repository metadata, XML docs and a deterministic assembly, plus a symbol package; and a fresh console project
/// that references the packages from a local folder feed restores, builds and runs against them. Offline: the
/// feed and the packages already in the NuGet cache are the only sources; the packages get a version unique to the run,
/// so what the machine's NuGet cache holds (an earlier TfSyncBN of the same version) cannot be used instead.
/// The README's quickstart (examples/quickstart.cs) then runs as a file-based app outside the repository, its
/// <c>#:project</c> line replaced by <c>#:package TfSyncBN@&lt;version&gt;</c> as README's Install section shows.
/// </summary>
[TestClass]
public sealed class PackageTests
{
    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public void PackagesPackAndAFreshConsoleProjectRunsAgainstThem()
    {
        using var temp = new Repo.TempDirectory();
        string feed = Directory.CreateDirectory(Path.Combine(temp.Path, "feed")).FullName;
        var packed = new List<(string Id, string Version)>();
        // A version no NuGet cache can hold: a package of the same id and version already in the machine's cache (e.g.
        // after following README's Install route) would otherwise be used instead of the one packed here.
        string uniqueVersion = $"0.0.1-test.g{Guid.NewGuid():N}";
        foreach (var project in Repo.SourceProjects())
        {
            // The libraries were built by this test run's build (same configuration): pack them as they are.
            var (code, output) = Repo.Dotnet(Repo.Root, TimeSpan.FromSeconds(90), null,
                "pack", project, "-c", Repo.Configuration, "--no-build", "-o", feed, "-p:ContinuousIntegrationBuild=true",
                $"-p:PackageVersion={uniqueVersion}");
            Assert.AreEqual(0, code, output);
            string id = Path.GetFileNameWithoutExtension(project);
            var nupkg = Directory.GetFiles(feed, id + ".*.nupkg").Where(f => !f.EndsWith(".snupkg", StringComparison.Ordinal))
                .Single(f => System.Text.RegularExpressions.Regex.IsMatch(Path.GetFileName(f), $@"^{System.Text.RegularExpressions.Regex.Escape(id)}\.\d"));
            string version = Path.GetFileNameWithoutExtension(nupkg)[(id.Length + 1)..];
            Assert.AreEqual(uniqueVersion, version, $"{id} is packed with this run's unique version");
            CheckPackage(nupkg, id, version);
            Assert.IsTrue(File.Exists(Path.Combine(feed, $"{id}.{version}.snupkg")), $"no symbol package for {id}");
            using (var symbols = ZipFile.OpenRead(Path.Combine(feed, $"{id}.{version}.snupkg")))
                Assert.IsTrue(symbols.Entries.Any(e => e.FullName == $"lib/net10.0/{id}.pdb"), $"{id}.snupkg holds no lib/net10.0/{id}.pdb");
            packed.Add((id, version));
        }
        Assert.IsTrue(packed.Any(p => p.Id == "TfSyncBN"), "TfSyncBN was not packed");

        // A fresh console project outside the repository (no Directory.Build.props or central versions apply),
        // restoring from the feed into its own package folder, with the machine's NuGet cache as a fallback folder.
        string app = Directory.CreateDirectory(Path.Combine(temp.Path, "app")).FullName;
        string globalPackages = Repo.GlobalPackagesFolder;
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources><clear /><add key="local" value="{feed}" /></packageSources>
              <fallbackPackageFolders><add key="cache" value="{globalPackages}" /></fallbackPackageFolders>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "App.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <RestorePackagesPath>{Path.Combine(temp.Path, "packages")}</RestorePackagesPath>
                <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally>
              </PropertyGroup>
              <ItemGroup>
            {string.Join("\n", packed.Select(p => $"    <PackageReference Include=\"{p.Id}\" Version=\"{p.Version}\" />"))}
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using TfSyncBN.Distribute;
            using TfSyncBN.Keras;
            using TfSyncBN.Tensors;

            // SyncBN over 2 replicas against one-device BN of the whole batch, then two Fit epochs.
            var x = Tensor.FromFunction([8, 3], i => MathF.Sin(i * 0.7f) * 3f + 1f);
            using var strategy = new MirroredStrategy(2);
            SyncBatchNormalization sync;
            using (strategy.Scope()) sync = new SyncBatchNormalization();
            var parts = Model.Split(x, 2);
            var outputs = strategy.Run(ctx => sync.Call(parts[ctx.ReplicaId], training: true));
            var expected = new BatchNormalization().Call(x, training: true).ToArray();
            var actual = Tensor.Concat(outputs, 0).ToArray();
            double diff = expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
            Sequential model;
            using (strategy.Scope())
            {
                model = new Sequential([new Dense(4), new SyncBatchNormalization(), new Dense(2)], inputShape: [3]);
                model.Compile(new SGD(0.1f), new SparseCategoricalCrossentropy(fromLogits: true));
            }
            var history = model.Fit(x, Tensor.FromArray([0f, 1f, 0f, 1f, 1f, 0f, 1f, 0f]), batchSize: 8, epochs: 2, verbose: 0);
            Console.WriteLine($"max difference {diff:E1}; epochs {history["loss"].Count}");
            return diff < 1e-5 && history["loss"].Count == 2 ? 0 : 1;
            """);
        var env = new Dictionary<string, string> { ["NUGET_PACKAGES"] = Path.Combine(temp.Path, "packages") };
        var (runCode, runOutput) = Repo.Dotnet(app, TimeSpan.FromSeconds(120), env, "run", "-c", "Release");
        Assert.AreEqual(0, runCode, runOutput);
        StringAssert.Contains(runOutput, "epochs 2");
        // The package came from the feed (this run's pack), not from the repository or from the machine's NuGet cache.
        Assert.IsTrue(Directory.Exists(Path.Combine(temp.Path, "packages", "tfsyncbn", uniqueVersion)), "TfSyncBN was not restored from the feed");
        Assert.IsFalse(Directory.Exists(Path.Combine(globalPackages, "tfsyncbn", uniqueVersion)), "the machine's NuGet cache was not written");
        StringAssert.Contains(File.ReadAllText(Path.Combine(app, "obj", "project.assets.json")), $"\"TfSyncBN/{uniqueVersion}\"");

        // The quickstart as a file-based app next to the same nuget.config, with #:package in place of #:project. Its
        // build caches go to folders of this test (XDG_DATA_HOME holds the SDK's runfile cache on Linux).
        string quickstart = Directory.CreateDirectory(Path.Combine(temp.Path, "quickstart")).FullName;
        File.Copy(Path.Combine(app, "nuget.config"), Path.Combine(quickstart, "nuget.config"));
        var lines = File.ReadAllLines(Path.Combine(Repo.Root, "examples", "quickstart.cs"));
        Assert.AreEqual(1, lines.Count(l => l.StartsWith("#:project ", StringComparison.Ordinal)), "quickstart.cs has one #:project line");
        File.WriteAllLines(Path.Combine(quickstart, "quickstart.cs"),
            lines.Select(l => l.StartsWith("#:project ", StringComparison.Ordinal) ? $"#:package TfSyncBN@{uniqueVersion}" : l));
        env["XDG_DATA_HOME"] = Directory.CreateDirectory(Path.Combine(temp.Path, "xdg")).FullName;
        var (quickCode, quickOutput) = Repo.Dotnet(quickstart, TimeSpan.FromSeconds(150), env,
            "run", "quickstart.cs", "--artifacts-path", Path.Combine(temp.Path, "quickstart-artifacts"));
        Assert.AreEqual(0, quickCode, quickOutput);
        StringAssert.Contains(quickOutput, "quickstart: OK");
        string quickAssets = File.ReadAllText(Path.Combine(temp.Path, "quickstart-artifacts", "obj", "project.assets.json"));
        StringAssert.Contains(quickAssets, $"\"TfSyncBN/{uniqueVersion}\"");
        // Opted out of native AOT (the file-based default), so restoring needs no ILCompiler or runtime packs: with
        // them, an offline restore fails on a machine whose NuGet cache has never held them.
        Assert.IsFalse(quickAssets.Contains("ILCompiler", StringComparison.Ordinal), "the quickstart's restore asked for the native-AOT compiler");
        Assert.IsTrue(Directory.Exists(Path.Combine(temp.Path, "xdg", "dotnet", "runfile")), "the SDK's runfile cache is not in the test's folder");
        Assert.IsFalse(Directory.Exists(Path.Combine(globalPackages, "tfsyncbn", uniqueVersion)), "the machine's NuGet cache was not written");
    }

    private static void CheckPackage(string nupkg, string id, string version)
    {
        using var zip = ZipFile.OpenRead(nupkg);
        var names = zip.Entries.Select(e => e.FullName).ToHashSet();
        foreach (var required in new[] { "README.md", "LICENSE", $"lib/net10.0/{id}.dll", $"lib/net10.0/{id}.xml" })
            Assert.IsTrue(names.Contains(required), $"{Path.GetFileName(nupkg)} lacks {required}: {string.Join(", ", names)}");
        // Only the library and its docs under lib/: dependencies come from their own packages.
        CollectionAssert.AreEquivalent(new[] { $"lib/net10.0/{id}.dll", $"lib/net10.0/{id}.xml" }, names.Where(n => n.StartsWith("lib/", StringComparison.Ordinal)).ToArray());
        XNamespace ns = "http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd";
        XDocument nuspec;
        using (var s = zip.GetEntry($"{id}.nuspec")!.Open()) nuspec = XDocument.Load(s);
        var metadata = nuspec.Root!.Element(ns + "metadata")!;
        Assert.AreEqual(id, metadata.Element(ns + "id")!.Value);
        Assert.AreEqual(version, metadata.Element(ns + "version")!.Value);
        var license = metadata.Element(ns + "license")!;
        Assert.AreEqual("expression", license.Attribute("type")!.Value);
        Assert.AreEqual("MIT", license.Value);
        Assert.AreEqual("README.md", metadata.Element(ns + "readme")!.Value);
        Assert.IsFalse(string.IsNullOrWhiteSpace(metadata.Element(ns + "description")?.Value), "no description");
        var repository = metadata.Element(ns + "repository")!;
        Assert.AreEqual("git", repository.Attribute("type")!.Value);
        StringAssert.StartsWith(repository.Attribute("url")!.Value, "https://");
        // A deterministic build records a Reproducible debug directory entry instead of a time stamp.
        using var dll = new MemoryStream();
        using (var s = zip.GetEntry($"lib/net10.0/{id}.dll")!.Open()) s.CopyTo(dll);
        dll.Position = 0;
        using var pe = new PEReader(dll);
        Assert.IsTrue(pe.ReadDebugDirectory().Any(d => d.Type == DebugDirectoryEntryType.Reproducible), $"{id}.dll is not deterministic");
        // The XML docs are the compiler's, for this assembly.
        using var docs = zip.GetEntry($"lib/net10.0/{id}.xml")!.Open();
        Assert.AreEqual(id, XDocument.Load(docs).Root!.Element("assembly")!.Element("name")!.Value);
    }
}
