using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using TfSyncBN.Keras;

namespace TfSyncBN.Tests.Keras.Datasets;

/// <summary>
/// FashionMnist.Load's search order and its download, against an HTTP server on the loopback interface that serves
/// small synthetic files (good, truncated, corrupted, slow, missing). No real network address is contacted.
/// </summary>
[TestClass]
public sealed class FashionMnistDownloadTests
{
    private string root = "";
    private string Cache => Path.Combine(root, "keras", "datasets", "fashion-mnist");
    private string System => Path.Combine(root, "usr-share");

    /// <summary>The four files as served: gzipped IDX, 3 training and 2 test images.</summary>
    private static readonly Dictionary<string, byte[]> Files = new()
    {
        ["train-images-idx3-ubyte.gz"] = IdxTests.Gzip(IdxTests.IdxBytes(0x08, [3, 28, 28], Pixels(3, 1))),
        ["train-labels-idx1-ubyte.gz"] = IdxTests.Gzip(IdxTests.IdxBytes(0x08, [3], [4, 0, 9])),
        ["t10k-images-idx3-ubyte.gz"] = IdxTests.Gzip(IdxTests.IdxBytes(0x08, [2, 28, 28], Pixels(2, 7))),
        ["t10k-labels-idx1-ubyte.gz"] = IdxTests.Gzip(IdxTests.IdxBytes(0x08, [2], [1, 8])),
    };

    /// <summary>The expected content hashes of <see cref="Files"/>, computed here independently of the library.</summary>
    private static readonly IReadOnlyList<DatasetFile> Specs = Files.Select(kv =>
    {
        var content = Gunzip(kv.Value);
        return new DatasetFile(kv.Key, Convert.ToHexStringLower(SHA256.HashData(content)), content.Length);
    }).ToArray();

    private static byte[] Pixels(int n, int seed) => Enumerable.Range(0, n * 784).Select(i => (byte)((i * 13 + seed) % 256)).ToArray();

    private static byte[] Gunzip(byte[] gz)
    {
        using var output = new MemoryStream();
        using (var g = new GZipStream(new MemoryStream(gz), CompressionMode.Decompress)) g.CopyTo(output);
        return output.ToArray();
    }

    [TestInitialize]
    public void Setup()
    {
        root = Path.Combine(Path.GetTempPath(), "tfsyncbn-fmnist-dl-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
    }

    [TestCleanup]
    public void Cleanup() => Directory.Delete(root, recursive: true);

    private FashionMnistData LoadVia(LoopbackServer server, TimeSpan? timeout = null) =>
        FashionMnist.LoadFrom(null, false, server.BaseUrl, timeout ?? TimeSpan.FromSeconds(30), Cache, System, Specs);

    private static void AssertIsServedData(FashionMnistData d)
    {
        CollectionAssert.AreEqual(new[] { 3, 28, 28, 1 }, d.TrainImages.Shape.ToArray());
        CollectionAssert.AreEqual(new[] { 4, 0, 9 }, d.TrainLabels);
        CollectionAssert.AreEqual(new[] { 1, 8 }, d.TestLabels);
        var px = d.TestImages.ToArray();
        var expected = Pixels(2, 7);
        for (int i = 0; i < expected.Length; i++) Assert.AreEqual(expected[i] / 255f, px[i], $"test pixel {i}");
    }

    /// <summary>The failed file is not in the cache, and no temporary file is left behind.</summary>
    private void AssertNotCached(string name)
    {
        Assert.IsFalse(CacheFiles().Contains(name), $"{name} must not reach the cache");
        Assert.IsFalse(CacheFiles().Any(f => f.EndsWith(".part")), "no temporary file may remain: " + string.Join(", ", CacheFiles()));
    }

    private string[] CacheFiles() => Directory.Exists(Cache) ? Directory.GetFiles(Cache).Select(f => Path.GetFileName(f)!).Order().ToArray() : [];

    [TestMethod]
    public void NoLocalCopy_DownloadsIntoKerasCache_ThenUsesIt()
    {
        using var server = new LoopbackServer(Files);
        var d = LoadVia(server);
        AssertIsServedData(d);
        Assert.AreEqual(Path.GetFullPath(Cache), d.Directory);
        CollectionAssert.AreEqual(Files.Keys.Order().ToArray(), CacheFiles());
        foreach (var (name, bytes) in Files) CollectionAssert.AreEqual(bytes, File.ReadAllBytes(Path.Combine(Cache, name)), name);
        Assert.AreEqual(4, server.Requests.Count);

        var again = LoadVia(server);
        AssertIsServedData(again);
        Assert.AreEqual(4, server.Requests.Count, "the second load must come from the cache");
    }

    [TestMethod]
    public void SearchOrder_ExplicitThenCacheThenSystem_NoDownloadWhenLocal()
    {
        using var server = new LoopbackServer(Files);
        void Write(string dir, byte[] trainLabels)
        {
            Directory.CreateDirectory(dir);
            foreach (var (name, bytes) in Files) File.WriteAllBytes(Path.Combine(dir, name), bytes);
            File.WriteAllBytes(Path.Combine(dir, "train-labels-idx1-ubyte.gz"), IdxTests.Gzip(IdxTests.IdxBytes(0x08, [3], trainLabels)));
        }
        string explicitDir = Path.Combine(root, "explicit");
        Write(explicitDir, [1, 1, 1]);
        Write(System, [2, 2, 2]);
        CollectionAssert.AreEqual(new[] { 2, 2, 2 }, LoadVia(server).TrainLabels, "system directory when the cache is empty");
        Write(Cache, [3, 3, 3]);
        CollectionAssert.AreEqual(new[] { 3, 3, 3 }, LoadVia(server).TrainLabels, "Keras's cache before the system directory");
        var d = FashionMnist.LoadFrom(explicitDir, false, server.BaseUrl, null, Cache, System, Specs);
        CollectionAssert.AreEqual(new[] { 1, 1, 1 }, d.TrainLabels, "an explicit directory first");
        Assert.AreEqual(0, server.Requests.Count);
    }

    [TestMethod]
    public void PartialCache_DownloadsOnlyTheMissingFiles()
    {
        Directory.CreateDirectory(Cache);
        File.WriteAllBytes(Path.Combine(Cache, "train-images-idx3-ubyte.gz"), Files["train-images-idx3-ubyte.gz"]);
        File.WriteAllBytes(Path.Combine(Cache, "t10k-labels-idx1-ubyte.gz"), Files["t10k-labels-idx1-ubyte.gz"]);
        using var server = new LoopbackServer(Files);
        AssertIsServedData(LoadVia(server));
        CollectionAssert.AreEquivalent(new[] { "/train-labels-idx1-ubyte.gz", "/t10k-images-idx3-ubyte.gz" }, server.Requests.ToArray());
    }

    [TestMethod]
    public void TruncatedResponse_LeavesNothing_AndALaterGoodDownloadWorks()
    {
        using (var bad = new LoopbackServer(Files, truncate: "train-images-idx3-ubyte.gz"))
        {
            var e = Assert.ThrowsExactly<InvalidDataException>(() => LoadVia(bad));
            StringAssert.Contains(e.Message, "train-images-idx3-ubyte.gz");
            StringAssert.Contains(e.Message, "nothing was saved");
            StringAssert.Contains(e.Message, Cache);
            AssertNotCached("train-images-idx3-ubyte.gz");
        }
        using var good = new LoopbackServer(Files);
        AssertIsServedData(LoadVia(good));
    }

    [TestMethod]
    public void TruncatedGzipWithMatchingLength_IsRejected()
    {
        // The server announces and sends exactly the short body: only the content check can catch it.
        var files = new Dictionary<string, byte[]>(Files) { ["t10k-images-idx3-ubyte.gz"] = Files["t10k-images-idx3-ubyte.gz"][..^100] };
        using var server = new LoopbackServer(files);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => LoadVia(server));
        StringAssert.Contains(e.Message, "t10k-images-idx3-ubyte.gz");
        AssertNotCached("t10k-images-idx3-ubyte.gz");
    }

    [TestMethod]
    public void OtherContent_FailsTheSha256Check()
    {
        // Valid gzip of a valid IDX file of the same length, one pixel changed: only the hash tells them apart.
        var pixels = Pixels(3, 1);
        pixels[1000] ^= 0x40;
        var files = new Dictionary<string, byte[]>(Files) { ["train-images-idx3-ubyte.gz"] = IdxTests.Gzip(IdxTests.IdxBytes(0x08, [3, 28, 28], pixels)) };
        using var server = new LoopbackServer(files);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => LoadVia(server));
        StringAssert.Contains(e.Message, "SHA-256");
        StringAssert.Contains(e.Message, Specs.Single(s => s.Name == "train-images-idx3-ubyte.gz").ContentSha256);
        AssertNotCached("train-images-idx3-ubyte.gz");
    }

    [TestMethod]
    public void CorruptedBytes_AreRejected()
    {
        var corrupt = (byte[])Files["train-labels-idx1-ubyte.gz"].Clone();
        for (int i = 12; i < corrupt.Length - 8; i++) corrupt[i] ^= 0x5A;
        var files = new Dictionary<string, byte[]>(Files) { ["train-labels-idx1-ubyte.gz"] = corrupt };
        using var server = new LoopbackServer(files);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => LoadVia(server));
        StringAssert.Contains(e.Message, "train-labels-idx1-ubyte.gz");
        AssertNotCached("train-labels-idx1-ubyte.gz");
    }

    [TestMethod]
    public void SlowResponse_TimesOutPromptly_AndLeavesNothing()
    {
        using var server = new LoopbackServer(Files, slow: "t10k-images-idx3-ubyte.gz");
        var clock = Stopwatch.StartNew();
        var e = Assert.ThrowsExactly<TimeoutException>(() => LoadVia(server, TimeSpan.FromSeconds(1)));
        Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}");
        StringAssert.Contains(e.Message, "t10k-images-idx3-ubyte.gz");
        StringAssert.Contains(e.Message, "longer than 1 s");
        AssertNotCached("t10k-images-idx3-ubyte.gz");
    }

    [TestMethod]
    public void MissingFileOnServer_IsAnHttpErrorNamingThePlacesSearched()
    {
        var files = new Dictionary<string, byte[]>(Files);
        files.Remove("t10k-labels-idx1-ubyte.gz");
        using var server = new LoopbackServer(files);
        var e = Assert.ThrowsExactly<HttpRequestException>(() => LoadVia(server));
        Assert.AreEqual(HttpStatusCode.NotFound, e.StatusCode);
        StringAssert.Contains(e.Message, "HTTP 404");
        StringAssert.Contains(e.Message, server.BaseUrl + "t10k-labels-idx1-ubyte.gz");
        StringAssert.Contains(e.Message, Cache);
        StringAssert.Contains(e.Message, System);
        StringAssert.Contains(e.Message, "Load(subset: true)");
    }

    [TestMethod]
    public void BadArguments_NameTheParameter()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => FashionMnist.Load(baseUrl: "ftp://example.invalid/"));
        Assert.AreEqual("baseUrl", e.ParamName);
        StringAssert.Contains(e.Message, "http or https");
        e = Assert.ThrowsExactly<ArgumentException>(() => FashionMnist.Download(Path.Combine(root, "d"), baseUrl: "not a url"));
        Assert.AreEqual("baseUrl", e.ParamName);
        e = Assert.ThrowsExactly<ArgumentException>(() => FashionMnist.Load(downloadTimeout: TimeSpan.Zero));
        Assert.AreEqual("downloadTimeout", e.ParamName);
        e = Assert.ThrowsExactly<ArgumentException>(() => FashionMnist.Download(Path.Combine(root, "d"), timeout: TimeSpan.FromSeconds(-1)));
        Assert.AreEqual("timeout", e.ParamName);
        Assert.IsFalse(Directory.Exists(Path.Combine(root, "d")), "nothing is created on bad arguments");
    }

    [TestMethod]
    public void KerasCacheDirectory_FollowsKerasHome()
    {
        // KERAS_HOME is read each time; this test only reads the property with the variable as the process has it.
        string? home = Environment.GetEnvironmentVariable("KERAS_HOME");
        string expected = home is { Length: > 0 }
            ? Path.Combine(home, "datasets", "fashion-mnist")
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".keras", "datasets", "fashion-mnist");
        Assert.AreEqual(expected, FashionMnist.KerasCacheDirectory);
    }

    /// <summary>
    /// The built-in hashes are those of the real files: Debian's copies (dataset-fashion-mnist, which .ci/run installs)
    /// hashed here independently. Their sizes are the upstream sizes (29,515 / 26,421,880 / 5,148 / 4,422,102 bytes, as
    /// Keras reports when downloading) less the gzip header's stored file name plus its terminating zero.
    /// </summary>
    [TestMethod]
    public void StandardHashes_MatchDebiansFiles()
    {
        Assert.IsTrue(Directory.Exists(FashionMnist.SystemDirectory), "install the Debian package dataset-fashion-mnist (.ci/run does)");
        var upstreamSizes = new Dictionary<string, long>
        {
            ["train-labels-idx1-ubyte.gz"] = 29515, ["train-images-idx3-ubyte.gz"] = 26421880,
            ["t10k-labels-idx1-ubyte.gz"] = 5148, ["t10k-images-idx3-ubyte.gz"] = 4422102,
        };
        foreach (var spec in FashionMnist.StandardFiles)
        {
            string path = Path.Combine(FashionMnist.SystemDirectory, spec.Name);
            var content = Gunzip(File.ReadAllBytes(path));
            Assert.AreEqual(spec.ContentLength, content.Length, spec.Name);
            Assert.AreEqual(spec.ContentSha256, Convert.ToHexStringLower(SHA256.HashData(content)), spec.Name);
            long storedName = spec.Name.Length - ".gz".Length + 1;
            Assert.AreEqual(upstreamSizes[spec.Name] - storedName, new FileInfo(path).Length, spec.Name);
        }
    }

    /// <summary>An HTTP/1.1 server on 127.0.0.1 with an ephemeral port; one response per connection.</summary>
    private sealed class LoopbackServer : IDisposable
    {
        private readonly TcpListener listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource stop = new();
        private readonly IReadOnlyDictionary<string, byte[]> files;
        private readonly string? truncate, slow;

        public ConcurrentQueue<string> Requests { get; } = new();
        public string BaseUrl { get; }

        public LoopbackServer(IReadOnlyDictionary<string, byte[]> files, string? truncate = null, string? slow = null)
        {
            this.files = files;
            this.truncate = truncate;
            this.slow = slow;
            listener.Start();
            BaseUrl = $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/";
            _ = Task.Run(AcceptLoop);
        }

        private async Task AcceptLoop()
        {
            while (!stop.IsCancellationRequested)
            {
                TcpClient client;
                try { client = await listener.AcceptTcpClientAsync(stop.Token); }
                catch { return; }
                _ = Task.Run(() => Serve(client));
            }
        }

        private async Task Serve(TcpClient client)
        {
            using (client)
            {
                try
                {
                    var stream = client.GetStream();
                    var reader = new StreamReader(stream, Encoding.ASCII);
                    string? requestLine = await reader.ReadLineAsync(stop.Token);
                    while (!string.IsNullOrEmpty(await reader.ReadLineAsync(stop.Token))) { }
                    string path = requestLine?.Split(' ')[1] ?? "/";
                    Requests.Enqueue(path);
                    string name = path.TrimStart('/');
                    if (!files.TryGetValue(name, out var body))
                    {
                        await Write(stream, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                        return;
                    }
                    await Write(stream, $"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
                    if (name == truncate)
                    {
                        await stream.WriteAsync(body.AsMemory(0, body.Length / 2), stop.Token);
                        return; // closes the connection short of Content-Length
                    }
                    if (name == slow)
                    {
                        for (int i = 0; i < body.Length && !stop.IsCancellationRequested; i++)
                        {
                            await stream.WriteAsync(body.AsMemory(i, 1), stop.Token);
                            await Task.Delay(200, stop.Token);
                        }
                        return;
                    }
                    await stream.WriteAsync(body, stop.Token);
                }
                catch (Exception) when (stop.IsCancellationRequested) { }
                catch (IOException) { }
            }
        }

        private Task Write(NetworkStream stream, string text) => stream.WriteAsync(Encoding.ASCII.GetBytes(text), stop.Token).AsTask();

        public void Dispose()
        {
            stop.Cancel();
            listener.Stop();
        }
    }
}
