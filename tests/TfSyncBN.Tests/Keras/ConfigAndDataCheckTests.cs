using System.IO.Compression;
using TfSyncBN.Keras;
using TfSyncBN.Tests.Keras.Datasets;

namespace TfSyncBN.Tests.Keras;

/// <summary>
/// Issue #16, item 7: a model JSON with two layers of one name is rejected (Keras requires unique names), and a gzipped
/// IDX file must end with a gzip trailer whose CRC-32 and size match what was decompressed.
/// </summary>
[TestClass]
public sealed class ConfigAndDataCheckTests
{
    [TestMethod]
    public void ModelJson_DuplicateLayerNames_AreRejectedNamingTheLayer()
    {
        var model = new Sequential([new Dense(4, name: "d1"), new Dense(2, name: "d2")], [3]);
        string json = model.ToJson();
        Assert.AreEqual(json, Sequential.FromJson(json).ToJson(), "unique names read back");
        string duplicate = json.Replace("\"d2\"", "\"d1\"", StringComparison.Ordinal);
        Assert.AreNotEqual(json, duplicate);
        var e = Assert.ThrowsExactly<ArgumentException>(() => Sequential.FromJson(duplicate));
        Assert.AreEqual("json", e.ParamName);
        StringAssert.Contains(e.Message, "named 'd1'");
        StringAssert.Contains(e.Message, "unique names");
    }

    private static readonly byte[] Labels = [.. Enumerable.Range(0, 400).Select(i => (byte)(i * 7919 % 10))];

    private static byte[] GzippedLabels() => IdxTests.Gzip(IdxTests.IdxBytes(0x08, [400], Labels));

    private static IdxArray Read(byte[] file) => Idx.ReadStream(new MemoryStream(file), "labels.gz", 1);

    /// <summary>What a plain gzip decompressor makes of the bytes: the content, or null when it rejects them.</summary>
    private static byte[]? PlainGunzip(byte[] file)
    {
        try
        {
            using var gz = new GZipStream(new MemoryStream(file), CompressionMode.Decompress);
            using var ms = new MemoryStream();
            gz.CopyTo(ms);
            return ms.ToArray();
        }
        catch (InvalidDataException)
        {
            return null;
        }
    }

    [TestMethod]
    public void GzipIdx_ValidFile_Reads()
    {
        CollectionAssert.AreEqual(Labels, Read(GzippedLabels()).Data);
    }

    [TestMethod]
    public void GzipIdx_MissingOrCutTrailer_Throws()
    {
        var file = GzippedLabels();
        for (int cut = 1; cut <= 8; cut++)
        {
            var e = Assert.ThrowsExactly<InvalidDataException>(() => Read(file[..^cut]), $"{cut} trailer bytes missing");
            StringAssert.Contains(e.Message, "labels.gz");
        }
        Assert.IsNotNull(PlainGunzip(file[..^8]), "control: the decompressor alone accepts a file without its trailer");
    }

    [TestMethod]
    public void GzipIdx_WrongCrcOrSizeInTrailer_Throws()
    {
        var file = GzippedLabels();
        for (int i = 1; i <= 8; i++)
        {
            var bad = (byte[])file.Clone();
            bad[^i] ^= 0x10;
            var e = Assert.ThrowsExactly<InvalidDataException>(() => Read(bad), $"trailer byte -{i} flipped");
            StringAssert.Contains(e.Message, "labels.gz");
        }
    }

    [TestMethod]
    public void GzipIdx_FlippedBitWithoutTrailer_NeverReadsWrongLabels()
    {
        // Every single-bit flip in the compressed data of a file whose trailer is missing: the reader must throw; the
        // control counts the flips that a plain decompressor turns silently into a full-length IDX with wrong bytes.
        var file = GzippedLabels()[..^8];
        var good = IdxTests.IdxBytes(0x08, [400], Labels);
        int silentlyWrong = 0, flips = 0;
        for (int at = 10; at < file.Length; at++) // after the 10-byte gzip header
        {
            for (int bit = 0; bit < 8; bit++)
            {
                var bad = (byte[])file.Clone();
                bad[at] ^= (byte)(1 << bit);
                flips++;
                if (PlainGunzip(bad) is { } plain && plain.Length == good.Length && !plain.AsSpan().SequenceEqual(good)) silentlyWrong++;
                Assert.ThrowsExactly<InvalidDataException>(() => Read(bad), $"bit {bit} of byte {at} flipped, no trailer");
            }
        }
        Assert.IsTrue(silentlyWrong > 0, $"control: some of the {flips} flips decompress silently to wrong labels ({silentlyWrong})");
    }
}
