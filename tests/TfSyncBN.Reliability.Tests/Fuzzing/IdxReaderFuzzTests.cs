using System.Buffers.Binary;
using System.IO.Compression;
using TfSyncBN.Keras;
using TfSyncBN.Reliability.Tests.Util;

namespace TfSyncBN.Reliability.Tests.Fuzzing;

/// <summary>
/// The IDX reader under truncated, bit-flipped and hand-crafted files, raw and gzipped: every input either reads (a
/// shape whose product is the data length) or throws <see cref="InvalidDataException"/> naming the file, without
/// allocating what a corrupt header declares.
/// </summary>
[TestClass]
public sealed class IdxReaderFuzzTests
{
    public const int MaxInputs = 6000;
    public static readonly TimeSpan Budget = TimeSpan.FromSeconds(12);
    private const string Name = "fuzzed-images-idx3-ubyte";

    private static byte[] Idx(byte dtype, params int[] dims)
    {
        var header = new byte[4 + 4 * dims.Length];
        header[2] = dtype;
        header[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4 + 4 * i), dims[i]);
        long size = dims.Aggregate(1L, (p, d) => Math.Min(p * Math.Max(d, 0), 1 << 20));
        var data = new byte[Math.Min(size, 256)];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(i * 37);
        return [.. header, .. data];
    }

    private static byte[] Gzip(byte[] raw)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(raw);
        return ms.ToArray();
    }

    [TestMethod]
    [Timeout(60_000, CooperativeCancellation = true)]
    public void IdxReader_FuzzedFiles_ReadOrThrowInvalidData()
    {
        byte[] images = Idx(0x08, 3, 4, 5), labels = Idx(0x08, 7);
        int[] boundary = [0, 1, -1, int.MaxValue, int.MinValue, 0x40000000, 0x7FFFFFC7, 65536, 1 << 24, 3];
        var report = Fuzzer.Run("IDX reader", seed: 202, MaxInputs, Budget, minInputs: 1500,
            (rng, i) => (i % 8) switch
            {
                0 or 1 or 2 => Fuzzer.Mutate(rng, rng.Next(2) == 0 ? images : labels),
                3 or 4 => Gzip(Fuzzer.Mutate(rng, rng.Next(2) == 0 ? images : labels)),
                5 => Fuzzer.Mutate(rng, Gzip(rng.Next(2) == 0 ? images : labels)),
                _ => (rng.Next(2) == 0 ? (Func<byte[], byte[]>)Gzip : b => b)(
                    Idx(rng.Next(4) == 0 ? (byte)rng.Next(256) : (byte)0x08,
                        Enumerable.Range(0, rng.Next(5)).Select(_ => rng.Next(2) == 0 ? boundary[rng.Next(boundary.Length)] : rng.Next(6)).ToArray())),
            },
            input =>
            {
                var array = Keras.Idx.ReadStream(new MemoryStream(input, writable: false), Name, expectedRank: input.Length % 3 == 0 ? 3 : null);
                long size = array.Shape.Aggregate(1L, (p, d) => p * d);
                Assert.AreEqual(size, array.Data.LongLength, "data length is the product of the shape");
            },
            e => e is InvalidDataException && e.Message.Contains(Name, StringComparison.Ordinal));
        Assert.IsTrue(report.Rejected > report.Inputs / 2, report.ToString());
        Assert.IsTrue(report.Accepted > 0, report.ToString());
    }

    [TestMethod]
    [Timeout(20_000, CooperativeCancellation = true)]
    public void IdxReader_FilesOnDisk_HugeDeclaredSizes_ThrowInvalidDataWithoutAllocating()
    {
        var dir = Directory.CreateTempSubdirectory("tfsyncbn-fuzz-idx-");
        try
        {
            foreach (var (bytes, what) in new[]
            {
                (Idx(0x08, 60000, 28, 28), "raw, 47 MB declared, 256 bytes present"),
                (Gzip(Idx(0x08, 60000, 28, 28)), "gzip, 47 MB declared"),
                (Gzip(Idx(0x08, 0x7FFFFFC7)), "gzip, Array.MaxLength declared"),
                (Gzip(Idx(0x08, 65536, 65536)), "gzip, 4 GiB declared"),
                (Idx(0x08, -1, 28, 28), "a dimension of 0xFFFFFFFF"),
                (Idx(0x0D, 2, 2), "float32 dtype"),
                ([0x1F, 0x8B, 0x08], "a gzip header cut short"),
                ([], "an empty file"),
            })
            {
                string path = Path.Combine(dir.FullName, "t10k-images-idx3-ubyte" + (bytes.Length > 1 && bytes[0] == 0x1F ? ".gz" : ""));
                File.WriteAllBytes(path, bytes);
                long before = GC.GetAllocatedBytesForCurrentThread();
                var e = Assert.ThrowsExactly<InvalidDataException>(() => Keras.Idx.Read(path), what);
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                StringAssert.Contains(e.Message, path, what);
                Assert.IsTrue(allocated < 8 << 20, $"{what}: allocated {allocated} bytes");
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
