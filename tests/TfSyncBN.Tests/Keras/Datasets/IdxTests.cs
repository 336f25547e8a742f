using System.Buffers.Binary;
using System.IO.Compression;
using TfSyncBN.Keras;

namespace TfSyncBN.Tests.Keras.Datasets;

[TestClass]
public sealed class IdxTests
{
    private string dir = "";

    [TestInitialize]
    public void Setup()
    {
        dir = Path.Combine(Path.GetTempPath(), "tfsyncbn-idx-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
    }

    [TestCleanup]
    public void Cleanup() => Directory.Delete(dir, recursive: true);

    /// <summary>An IDX file built byte by byte from the format definition (independent of the reader).</summary>
    internal static byte[] IdxBytes(byte dtype, uint[] dims, byte[] data, byte zero0 = 0, byte zero1 = 0)
    {
        var bytes = new byte[4 + 4 * dims.Length + data.Length];
        bytes[0] = zero0;
        bytes[1] = zero1;
        bytes[2] = dtype;
        bytes[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        data.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    internal static byte[] Gzip(byte[] bytes)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(bytes);
        return ms.ToArray();
    }

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] Sequence(int n) => Enumerable.Range(0, n).Select(i => (byte)(i * 7 % 256)).ToArray();

    private static void AssertInvalid(string path, string expectedFragment)
    {
        var e = Assert.ThrowsExactly<InvalidDataException>(() => Idx.Read(path));
        StringAssert.Contains(e.Message, Path.GetFileName(path));
        StringAssert.Contains(e.Message, expectedFragment);
    }

    [TestMethod]
    public void ReadsRawRank3()
    {
        var data = Sequence(2 * 3 * 4);
        var path = Write("a-idx3-ubyte", IdxBytes(0x08, [2, 3, 4], data));
        var idx = Idx.Read(path, expectedRank: 3);
        CollectionAssert.AreEqual(new[] { 2, 3, 4 }, idx.Shape.ToArray());
        CollectionAssert.AreEqual(data, idx.Data);
    }

    [TestMethod]
    public void ReadsGzippedRank1_DetectedByContentNotName()
    {
        var data = Sequence(5);
        var path = Write("labels-no-extension", Gzip(IdxBytes(0x08, [5], data)));
        var idx = Idx.Read(path, expectedRank: 1);
        CollectionAssert.AreEqual(new[] { 5 }, idx.Shape.ToArray());
        CollectionAssert.AreEqual(data, idx.Data);
    }

    [TestMethod]
    public void ReadsEmptyArray()
    {
        var idx = Idx.Read(Write("empty", IdxBytes(0x08, [0, 28, 28], [])));
        CollectionAssert.AreEqual(new[] { 0, 28, 28 }, idx.Shape.ToArray());
        Assert.AreEqual(0, idx.Data.Length);
    }

    [TestMethod]
    public void BadMagic() => AssertInvalid(Write("bad-magic", IdxBytes(0x08, [2], [1, 2], zero0: 0x12)), "bad magic number 0x12000801");

    [TestMethod]
    public void UnsupportedDtype_NamesTheType() => AssertInvalid(Write("float", IdxBytes(0x0D, [1], [0, 0, 0, 0])), "dtype code 0x0D (float32) is not supported");

    [TestMethod]
    public void UnknownDtype() => AssertInvalid(Write("dtype", IdxBytes(0x42, [1], [0])), "unknown dtype code 0x42");

    [TestMethod]
    public void RankZero() => AssertInvalid(Write("rank0", IdxBytes(0x08, [], [])), "rank 0");

    [TestMethod]
    public void WrongRank()
    {
        var path = Write("rank2", IdxBytes(0x08, [1, 1], [3]));
        var e = Assert.ThrowsExactly<InvalidDataException>(() => Idx.Read(path, expectedRank: 3));
        StringAssert.Contains(e.Message, "rank 2, but 3 was expected");
    }

    [TestMethod]
    public void TruncatedMagic() => AssertInvalid(Write("short", [0, 0, 8]), "truncated header: 3 bytes");

    [TestMethod]
    public void TruncatedDimensions() => AssertInvalid(Write("dims", IdxBytes(0x08, [4, 4, 4], [])[..10]), "truncated header: rank 3 needs 12 bytes of dimensions, but only 6 follow");

    [TestMethod]
    public void TruncatedData_Raw() => AssertInvalid(Write("trunc", IdxBytes(0x08, [3, 4], Sequence(11))), "truncated data: shape [3, 4] declares 12 bytes of elements, but only 11 follow");

    [TestMethod]
    public void TruncatedData_Gzip() => AssertInvalid(Write("trunc.gz", Gzip(IdxBytes(0x08, [3, 4], Sequence(7)))), "truncated data: shape [3, 4] declares 12 bytes of elements, but only 7 follow");

    [TestMethod]
    public void TruncatedGzipFile()
    {
        var gz = Gzip(IdxBytes(0x08, [50, 50], Sequence(2500)));
        var path = Write("cut.gz", gz[..(gz.Length / 2)]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => Idx.Read(path));
        StringAssert.Contains(e.Message, "cut.gz");
        StringAssert.Contains(e.Message, "truncated");
    }

    [TestMethod]
    public void TrailingData() => AssertInvalid(Write("extra", IdxBytes(0x08, [2], Sequence(5))), "3 bytes follow the 2 elements");

    [TestMethod]
    public void TrailingData_Gzip() => AssertInvalid(Write("extra.gz", Gzip(IdxBytes(0x08, [2], Sequence(5)))), "data follows the 2 elements");

    [TestMethod]
    [Timeout(5000, CooperativeCancellation = true)]
    public void HugeDeclaredSize_Raw_FailsWithoutAllocating()
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        AssertInvalid(Write("huge", IdxBytes(0x08, [60000, 60000, 60000], Sequence(100))), "truncated data: shape [60000, 60000, 60000] declares more than");
        Assert.IsLessThan(10_000_000L, GC.GetAllocatedBytesForCurrentThread() - before, "the reader allocated the declared size");
    }

    [TestMethod]
    [Timeout(5000, CooperativeCancellation = true)]
    public void HugeDeclaredSize_Gzip_FailsWithoutAllocating()
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        AssertInvalid(Write("huge.gz", Gzip(IdxBytes(0x08, [1_000_000, 1000], Sequence(100)))), "truncated data: shape [1000000, 1000] declares 1000000000 bytes of elements, but only 100 follow");
        Assert.IsLessThan(10_000_000L, GC.GetAllocatedBytesForCurrentThread() - before, "the reader allocated the declared size");
    }

    [TestMethod]
    public void HugeDeclaredSize_BeyondArrays_Gzip() =>
        AssertInvalid(Write("beyond.gz", Gzip(IdxBytes(0x08, [int.MaxValue, 2], Sequence(4)))), "declares more elements than an array can hold");

    [TestMethod]
    public void DimensionAboveIntMax() => AssertInvalid(Write("dim", IdxBytes(0x08, [0x8000_0000u], [])), "dimension 0 is 2147483648");

    [TestMethod]
    public void CorruptGzip()
    {
        var gz = Gzip(IdxBytes(0x08, [64], Sequence(64)));
        for (int i = 10; i < gz.Length - 8; i++) gz[i] ^= 0x5A;
        var path = Write("corrupt.gz", gz);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => Idx.Read(path));
        StringAssert.Contains(e.Message, "corrupt.gz");
    }

    [TestMethod]
    public void MissingFile()
    {
        var path = Path.Combine(dir, "nope");
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => Idx.Read(path));
        Assert.AreEqual(path, e.FileName);
    }
}
