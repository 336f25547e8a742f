using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Keras.Saving;

[TestClass]
public sealed class WeightsFileTests
{
    private string dir = "";

    [TestInitialize]
    public void Setup()
    {
        dir = Path.Combine(Path.GetTempPath(), "tfsyncbn-weights-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
    }

    [TestCleanup]
    public void Cleanup() => Directory.Delete(dir, recursive: true);

    private static Variable Var(string name, int[] shape, float start) =>
        new(Tensor.FromFunction(shape, i => start + i * 0.25f), name);

    private static Variable[] Model(float start = 1f) => [Var("dense/kernel", [2, 3], start), Var("dense/bias", [3], start + 10), Var("bn/moving_mean", [], start + 20)];

    private static float[][] Values(IEnumerable<Variable> vars) => vars.Select(v => v.Value.ToArray()).ToArray();

    private static void AssertValues(float[][] expected, IEnumerable<Variable> vars)
    {
        var actual = Values(vars);
        Assert.HasCount(expected.Length, actual);
        for (int i = 0; i < expected.Length; i++) CollectionAssert.AreEqual(expected[i], actual[i], $"variable {i}");
    }

    private string PathOf(string name) => Path.Combine(dir, name);

    [TestMethod]
    public void FileLayout_MatchesTheDocumentedFormat()
    {
        var path = PathOf("w.bin");
        WeightsFile.Save(path, [Var("ab", [2], 1.5f)]);
        // Built independently from the documented layout.
        var expected = new List<byte>();
        expected.AddRange("TFSBNWTS"u8.ToArray());
        void Int(int v) { var b = new byte[4]; BinaryPrimitives.WriteInt32LittleEndian(b, v); expected.AddRange(b); }
        void Float(float v) { var b = new byte[4]; BinaryPrimitives.WriteSingleLittleEndian(b, v); expected.AddRange(b); }
        Int(1); Int(1); Int(2); expected.AddRange(Encoding.UTF8.GetBytes("ab")); Int(1); Int(2); Float(1.5f); Float(1.75f);
        expected.AddRange(SHA256.HashData(expected.ToArray()));
        CollectionAssert.AreEqual(expected.ToArray(), File.ReadAllBytes(path));
    }

    [TestMethod]
    public void RoundTrip_RestoresEveryValueBitwise()
    {
        var path = PathOf("w.bin");
        var source = Model(1f);
        // Values that float text formats mangle: negative zero, subnormals, NaN payload, infinities.
        source[1].Assign(Tensor.FromArray([-0f, float.Epsilon, BitConverter.Int32BitsToSingle(0x7FC00123)]));
        WeightsFile.Save(path, source);
        var target = Model(-5f);
        WeightsFile.Load(path, target);
        for (int i = 0; i < source.Length; i++)
        {
            var a = source[i].Value.ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();
            var b = target[i].Value.ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();
            CollectionAssert.AreEqual(a, b, $"variable {i}");
        }
        var read = WeightsFile.Read(path);
        CollectionAssert.AreEqual(new[] { "dense/kernel", "dense/bias", "bn/moving_mean" }, read.Select(r => r.Name).ToArray());
        CollectionAssert.AreEqual(new[] { 2, 3 }, read[0].Shape.ToArray());
        Assert.AreEqual(0, read[2].Shape.Count);
    }

    [TestMethod]
    public void Save_ReplacesAnExistingFile_AndLeavesNoTemporaryFiles()
    {
        var path = PathOf("w.bin");
        WeightsFile.Save(path, Model(1f));
        WeightsFile.Save(path, Model(2f));
        var target = Model(0f);
        WeightsFile.Load(path, target);
        AssertValues(Values(Model(2f)), target);
        CollectionAssert.AreEqual(new[] { "w.bin" }, Directory.GetFiles(dir).Select(Path.GetFileName).ToArray());
    }

    /// <summary>A stream that accepts <c>limit</c> bytes, then fails like a full disk.</summary>
    private sealed class FailingStream(Stream inner, long limit) : Stream
    {
        private long written;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => written;
        public override long Position { get => written; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (written + buffer.Length > limit) throw new IOException("No space left on device (simulated).");
            inner.Write(buffer);
            written += buffer.Length;
        }
        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }

    [TestMethod]
    public void FailingSave_KeepsThePreviousFile_AndRemovesTheTemporaryFile()
    {
        var path = PathOf("w.bin");
        WeightsFile.Save(path, Model(1f));
        var before = File.ReadAllBytes(path);
        string? tmpSeen = null;
        var e = Assert.ThrowsExactly<IOException>(() => WeightsFile.Save(path, Model(7f), tmp =>
        {
            tmpSeen = tmp;
            return new FailingStream(new FileStream(tmp, FileMode.CreateNew), limit: 40);
        }));
        StringAssert.Contains(e.Message, "simulated");
        Assert.IsNotNull(tmpSeen);
        Assert.AreEqual(dir, Path.GetDirectoryName(tmpSeen), "the temporary file must be in the target's directory (same file system, atomic rename)");
        Assert.IsFalse(File.Exists(tmpSeen), "the temporary file was left behind");
        CollectionAssert.AreEqual(before, File.ReadAllBytes(path), "the previous weights file was damaged");
        var target = Model(0f);
        WeightsFile.Load(path, target);
        AssertValues(Values(Model(1f)), target);
    }

    [TestMethod]
    public void Save_MissingDirectory()
    {
        var path = Path.Combine(dir, "absent", "w.bin");
        var e = Assert.ThrowsExactly<DirectoryNotFoundException>(() => WeightsFile.Save(path, Model()));
        StringAssert.Contains(e.Message, "does not exist");
    }

    [TestMethod]
    public void Save_PathIsADirectory()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => WeightsFile.Save(dir, Model()));
        Assert.AreEqual("path", e.ParamName);
    }

    private void AssertLoadFails(byte[] bytes, string fragment)
    {
        var path = PathOf("bad.bin");
        File.WriteAllBytes(path, bytes);
        var target = Model(3f);
        var before = Values(target);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => WeightsFile.Load(path, target));
        StringAssert.Contains(e.Message, "bad.bin");
        StringAssert.Contains(e.Message, fragment);
        AssertValues(before, target);
    }

    private byte[] ValidBytes()
    {
        var path = PathOf("good.bin");
        WeightsFile.Save(path, Model(1f));
        return File.ReadAllBytes(path);
    }

    [TestMethod]
    public void WrongMagic_ChangesNothing()
    {
        var bytes = ValidBytes();
        bytes[0] = (byte)'X';
        AssertLoadFails(bytes, "wrong magic number: not a TfSyncBN weights file");
    }

    [TestMethod]
    public void EmptyFile_IsWrongMagic() => AssertLoadFails([], "wrong magic number");

    [TestMethod]
    public void UnsupportedVersion()
    {
        var bytes = ValidBytes();
        bytes[8] = 2;
        AssertLoadFails(bytes, "format version 2 is not supported");
    }

    [TestMethod]
    public void Truncated_ChangesNothing()
    {
        var bytes = ValidBytes();
        // Every proper prefix past the magic is rejected as truncated.
        foreach (int length in new[] { 10, 20, 40, bytes.Length - 33, bytes.Length - 1 })
            AssertLoadFails(bytes[..length], "truncated");
    }

    [TestMethod]
    public void CorruptedElement_FailsTheChecksum_ChangesNothing()
    {
        var bytes = ValidBytes();
        bytes[bytes.Length - 33] ^= 0x01; // a bit of the last variable's (scalar) value, just before the checksum
        AssertLoadFails(bytes, "checksum mismatch: the file is corrupted");
    }

    [TestMethod]
    public void CorruptedChecksum()
    {
        var bytes = ValidBytes();
        bytes[^1] ^= 0x80;
        AssertLoadFails(bytes, "checksum mismatch");
    }

    [TestMethod]
    public void TrailingBytes()
    {
        var bytes = ValidBytes();
        AssertLoadFails([.. bytes, 0, 0, 0, 0], "4 unexpected bytes");
    }

    [TestMethod]
    public void HugeDeclaredShape_IsTruncatedNotAllocated()
    {
        // A valid header and one variable that declares 2^31-1 x 2^31-1 elements.
        var b = new List<byte>("TFSBNWTS"u8.ToArray());
        void Int(int v) { var x = new byte[4]; BinaryPrimitives.WriteInt32LittleEndian(x, v); b.AddRange(x); }
        Int(1); Int(3); Int(1); b.Add((byte)'k'); Int(2); Int(int.MaxValue); Int(int.MaxValue);
        b.AddRange(new byte[64]);
        AssertLoadFails([.. b], "truncated: the file ends (before its checksum) inside variable 0 'k's [2147483647, 2147483647] elements");
    }

    [TestMethod]
    public void ShapeMismatch_NamesBoth_ChangesNothing()
    {
        var path = PathOf("w.bin");
        WeightsFile.Save(path, [Var("a", [2, 3], 0), Var("b", [4], 0), Var("c", [], 0)]);
        var target = Model(3f);
        var before = Values(target);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => WeightsFile.Load(path, target));
        StringAssert.Contains(e.Message, "variable 1 'b' has shape [4], but 'dense/bias' has shape [3]. No weights were changed.");
        AssertValues(before, target); // variable 0 fitted, yet was not assigned
    }

    [TestMethod]
    public void CountMismatch_ChangesNothing()
    {
        var path = PathOf("w.bin");
        WeightsFile.Save(path, Model(1f)[..2]);
        var target = Model(3f);
        var before = Values(target);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => WeightsFile.Load(path, target));
        StringAssert.Contains(e.Message, "holds 2 variables, but 3 were given");
        AssertValues(before, target);
    }

    [TestMethod]
    public void MissingFile()
    {
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => WeightsFile.Load(PathOf("none.bin"), Model()));
        StringAssert.Contains(e.Message, "none.bin");
    }

    [TestMethod]
    [Timeout(10000, CooperativeCancellation = true)]
    public void Mirrored_SavesReplicaZero_LoadsEveryCopy()
    {
        using var strategy = new MirroredStrategy(2);
        Variable v;
        using (strategy.Scope()) v = new Variable(Tensor.FromArray([0f, 0f]), "m", trainable: false, aggregation: VariableAggregation.Mean);
        // Different copies: replica 0 holds [1, 2], replica 1 holds [3, 4]; the cross-replica (mean) read would be [2, 3].
        strategy.Run(ctx => { v.Assign(Tensor.FromArray(ctx.ReplicaId == 0 ? [1f, 2f] : [3f, 4f])); return 0; });
        var path = PathOf("m.bin");
        WeightsFile.Save(path, [v]);
        CollectionAssert.AreEqual(new[] { 1f, 2f }, WeightsFile.Read(path)[0].Values);

        strategy.Run(ctx => { v.Assign(Tensor.FromArray([9f, 9f])); return 0; });
        WeightsFile.Load(path, [v]);
        CollectionAssert.AreEqual(new[] { 1f, 2f }, v.Replicas[0].ToArray());
        CollectionAssert.AreEqual(new[] { 1f, 2f }, v.Replicas[1].ToArray());

        var e = Assert.ThrowsExactly<InvalidOperationException>(() => strategy.Run(ctx => { WeightsFile.Load(path, [v]); return 0; }));
        StringAssert.Contains(e.Message, "Load weights in cross-replica code");
        e = Assert.ThrowsExactly<InvalidOperationException>(() => strategy.Run(ctx => { WeightsFile.Save(PathOf("inside.bin"), [v]); return 0; }));
        StringAssert.Contains(e.Message, "Save weights in cross-replica code");
        Assert.IsFalse(File.Exists(PathOf("inside.bin")));
    }
}
