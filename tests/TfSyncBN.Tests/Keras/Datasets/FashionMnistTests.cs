using TfSyncBN.Keras;

namespace TfSyncBN.Tests.Keras.Datasets;

[TestClass]
public sealed class FashionMnistTests
{
    private string dir = "";

    [TestInitialize]
    public void Setup()
    {
        dir = Path.Combine(Path.GetTempPath(), "tfsyncbn-fmnist-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
    }

    [TestCleanup]
    public void Cleanup() => Directory.Delete(dir, recursive: true);

    private static byte[] Pixels(int n, int seed) => Enumerable.Range(0, n * 28 * 28).Select(i => (byte)((i * 31 + seed) % 256)).ToArray();

    /// <summary>Writes the four files: training images gzipped, the rest raw, so both forms are exercised.</summary>
    private void WriteSet(int train, int test, byte[]? trainLabels = null, uint rows = 28)
    {
        File.WriteAllBytes(Path.Combine(dir, "train-images-idx3-ubyte.gz"), IdxTests.Gzip(IdxTests.IdxBytes(0x08, [(uint)train, rows, 28], Pixels(train, 1)[..(int)(train * rows * 28)])));
        File.WriteAllBytes(Path.Combine(dir, "train-labels-idx1-ubyte"), IdxTests.IdxBytes(0x08, [(uint)(trainLabels?.Length ?? train)], trainLabels ?? Enumerable.Range(0, train).Select(i => (byte)(i % 10)).ToArray()));
        File.WriteAllBytes(Path.Combine(dir, "t10k-images-idx3-ubyte"), IdxTests.IdxBytes(0x08, [(uint)test, 28, 28], Pixels(test, 5)));
        File.WriteAllBytes(Path.Combine(dir, "t10k-labels-idx1-ubyte.gz"), IdxTests.Gzip(IdxTests.IdxBytes(0x08, [(uint)test], Enumerable.Range(0, test).Select(i => (byte)(9 - i % 10)).ToArray())));
    }

    [TestMethod]
    public void LoadsImagesScaledToUnitRangeAndLabels()
    {
        WriteSet(3, 2);
        var d = FashionMnist.Load(dir);
        CollectionAssert.AreEqual(new[] { 3, 28, 28, 1 }, d.TrainImages.Shape.ToArray());
        CollectionAssert.AreEqual(new[] { 2, 28, 28, 1 }, d.TestImages.Shape.ToArray());
        var expected = Pixels(3, 1);
        var actual = d.TrainImages.AsSpan();
        for (int i = 0; i < expected.Length; i++) Assert.AreEqual((float)(expected[i] / 255.0), actual[i], $"pixel {i}");
        Assert.AreEqual(Pixels(2, 5)[100] / 255f, d.TestImages.AsSpan()[100]);
        CollectionAssert.AreEqual(new[] { 0, 1, 2 }, d.TrainLabels);
        CollectionAssert.AreEqual(new[] { 9, 8 }, d.TestLabels);
        Assert.AreEqual(Path.GetFullPath(dir), d.Directory);
        Assert.IsTrue(d.IsSubset);
    }

    [TestMethod]
    public void LabelOutOfRange()
    {
        WriteSet(2, 1, trainLabels: [3, 10]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => FashionMnist.Load(dir));
        StringAssert.Contains(e.Message, "train-labels-idx1-ubyte': label 10 at index 1 is not a Fashion-MNIST class (0..9)");
    }

    [TestMethod]
    public void LabelCountMismatch()
    {
        WriteSet(2, 1, trainLabels: [3, 4, 5]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => FashionMnist.Load(dir));
        StringAssert.Contains(e.Message, "3 labels, but");
        StringAssert.Contains(e.Message, "has 2 images");
    }

    [TestMethod]
    public void WrongImageSize()
    {
        WriteSet(2, 1, rows: 27);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => FashionMnist.Load(dir));
        StringAssert.Contains(e.Message, "train-images-idx3-ubyte.gz': images of 27x28 pixels, but Fashion-MNIST images are 28x28");
    }

    [TestMethod]
    public void MissingFile_NamesIt()
    {
        WriteSet(1, 1);
        File.Delete(Path.Combine(dir, "t10k-images-idx3-ubyte"));
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => FashionMnist.Load(dir));
        StringAssert.Contains(e.Message, "neither 't10k-images-idx3-ubyte.gz' nor 't10k-images-idx3-ubyte'");
    }

    [TestMethod]
    public void MissingDirectory()
    {
        var missing = Path.Combine(dir, "absent");
        var e = Assert.ThrowsExactly<DirectoryNotFoundException>(() => FashionMnist.Load(missing));
        StringAssert.Contains(e.Message, missing);
    }

    [TestMethod]
    public void EmbeddedSubset_IsTheShippedFilesAndClassBalanced()
    {
        var d = FashionMnist.Load(subset: true);
        Assert.IsTrue(d.IsSubset);
        Assert.AreEqual(FashionMnist.EmbeddedSubset, d.Directory);
        CollectionAssert.AreEqual(new[] { 8000, 28, 28, 1 }, d.TrainImages.Shape.ToArray());
        CollectionAssert.AreEqual(new[] { 2000, 28, 28, 1 }, d.TestImages.Shape.ToArray());
        for (int c = 0; c < 10; c++)
        {
            Assert.AreEqual(800, d.TrainLabels.Count(l => l == c), $"training class {c}");
            Assert.AreEqual(200, d.TestLabels.Count(l => l == c), $"test class {c}");
        }
        var pixels = d.TrainImages.ToArray();
        Assert.AreEqual(0f, pixels.Min());
        Assert.AreEqual(1f, pixels.Max());
        // The resources are the files in data/fashion-mnist-subset, read here through the file path.
        string? files = null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null && files is null; dir = dir.Parent)
            if (Directory.Exists(Path.Combine(dir.FullName, "data", "fashion-mnist-subset"))) files = Path.Combine(dir.FullName, "data", "fashion-mnist-subset");
        Assert.IsNotNull(files, "data/fashion-mnist-subset not found above the test's base directory");
        var fromFiles = FashionMnist.Load(files);
        CollectionAssert.AreEqual(fromFiles.TrainLabels, d.TrainLabels);
        CollectionAssert.AreEqual(fromFiles.TestLabels, d.TestLabels);
        CollectionAssert.AreEqual(fromFiles.TrainImages.ToArray(), pixels);
        CollectionAssert.AreEqual(fromFiles.TestImages.ToArray(), d.TestImages.ToArray());
    }
}
