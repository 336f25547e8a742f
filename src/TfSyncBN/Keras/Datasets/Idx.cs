using System.Buffers.Binary;
using System.IO.Compression;

namespace TfSyncBN.Keras;

/// <summary>An array read from an IDX file: its dimensions and its unsigned-byte elements in row-major order.</summary>
/// <param name="Shape">The dimensions, outermost first, as declared in the file.</param>
/// <param name="Data">The elements in row-major order; its length is the product of <paramref name="Shape"/>.</param>
public sealed record IdxArray(IReadOnlyList<int> Shape, byte[] Data);

/// <summary>
/// Reads IDX files, the format of MNIST and Fashion-MNIST, raw or gzip-compressed.
/// </summary>
/// <remarks>
/// <para>An IDX file is: two zero bytes; a dtype code byte; a rank byte r; r big-endian uint32 dimensions; then the
/// elements in row-major order, big-endian. Only the dtype code <c>0x08</c> (unsigned byte, the one MNIST and
/// Fashion-MNIST use) is supported. A file whose first two bytes are the gzip magic <c>1F 8B</c> is decompressed first,
/// whatever its name; it must be one gzip member ending with its trailer (RFC 1952), whose CRC-32 and size are checked
/// against the decompressed bytes.</para>
/// <para>Everything is validated before the element array is allocated: a declared size larger than the data actually
/// present is reported as truncated without allocating it (raw files are checked against their length; gzip streams
/// are read in chunks and never allocate beyond what they really hold).</para>
/// </remarks>
public static class Idx
{
    /// <summary>The IDX dtype codes, for messages.</summary>
    private static readonly Dictionary<byte, string> DtypeNames = new()
    {
        [0x08] = "unsigned byte", [0x09] = "signed byte", [0x0B] = "int16", [0x0C] = "int32", [0x0D] = "float32", [0x0E] = "float64",
    };

    /// <summary>Reads the IDX file at <paramref name="path"/> (raw or gzipped).</summary>
    /// <param name="path">The file.</param>
    /// <param name="expectedRank">When given, the rank the file must declare (3 for images, 1 for labels).</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid unsigned-byte IDX file: the message names the file
    /// and the problem (bad magic number, unsupported or unknown dtype code, rank 0 or not <paramref name="expectedRank"/>,
    /// a dimension above <see cref="int.MaxValue"/>, more elements than an array can hold, truncated header or data,
    /// data after the declared elements, or a corrupt gzip stream, including a gzip trailer that is missing or whose CRC-32
    /// or size does not match the decompressed bytes).</exception>
    public static IdxArray Read(string path, int? expectedRank = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"IDX file '{path}' does not exist.", path);
        using var file = File.OpenRead(path);
        return ReadStream(file, path, expectedRank);
    }

    /// <summary>Reads an IDX array from <paramref name="stream"/>; <paramref name="name"/> is used in messages.</summary>
    internal static IdxArray ReadStream(Stream stream, string name, int? expectedRank = null)
    {
        Span<byte> magic = stackalloc byte[2];
        int got = ReadFully(stream, magic, name);
        bool gzip = got == 2 && magic[0] == 0x1F && magic[1] == 0x8B;
        if (gzip)
        {
            // The two bytes already read belong to the gzip header: replay them in front of the rest.
            using var joined = new PrefixedStream([0x1F, 0x8B], stream);
            using var unzipped = new GZipStream(joined, CompressionMode.Decompress);
            try
            {
                var array = ReadBody(unzipped, [], name, expectedRank, seekable: false);
                CheckGzipTrailer(joined, array, name);
                return array;
            }
            catch (InvalidDataException e) when (!e.Message.Contains(name, StringComparison.Ordinal))
            {
                throw new InvalidDataException($"IDX file '{name}': corrupt gzip stream ({e.Message}).", e);
            }
        }
        return ReadBody(stream, magic[..got].ToArray(), name, expectedRank, stream.CanSeek);
    }

    private static IdxArray ReadBody(Stream stream, byte[] alreadyRead, string name, int? expectedRank, bool seekable)
    {
        var header = new byte[4];
        alreadyRead.CopyTo(header, 0);
        int have = alreadyRead.Length + ReadFully(stream, header.AsSpan(alreadyRead.Length), name);
        if (have < 4) throw Bad(name, $"truncated header: {have} bytes, but the magic number takes 4");
        if (header[0] != 0 || header[1] != 0)
            throw Bad(name, $"bad magic number 0x{BinaryPrimitives.ReadUInt32BigEndian(header):X8}: an IDX file starts with two zero bytes, a dtype code and a rank (0x00000803 for images, 0x00000801 for labels)");
        byte dtype = header[2];
        if (dtype != 0x08)
        {
            throw Bad(name, DtypeNames.TryGetValue(dtype, out var dn)
                ? $"dtype code 0x{dtype:X2} ({dn}) is not supported; only 0x08 (unsigned byte) is"
                : $"unknown dtype code 0x{dtype:X2}; IDX defines 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E and only 0x08 (unsigned byte) is supported");
        }
        int rank = header[3];
        if (rank == 0) throw Bad(name, "rank 0: an IDX array needs at least one dimension");
        if (expectedRank is { } r && rank != r) throw Bad(name, $"rank {rank}, but {r} was expected");

        var dimBytes = new byte[4 * rank];
        int dimsRead = ReadFully(stream, dimBytes, name);
        if (dimsRead < dimBytes.Length) throw Bad(name, $"truncated header: rank {rank} needs {dimBytes.Length} bytes of dimensions, but only {dimsRead} follow");
        var shape = new int[rank];
        long count = 1;
        for (int i = 0; i < rank; i++)
        {
            uint d = BinaryPrimitives.ReadUInt32BigEndian(dimBytes.AsSpan(4 * i));
            if (d > int.MaxValue) throw Bad(name, $"dimension {i} is {d}, above the largest supported {int.MaxValue}");
            shape[i] = (int)d;
            // Stop multiplying once past the limit, so the product cannot overflow.
            if (count <= Array.MaxLength) count *= d;
        }
        if (shape.Contains(0)) count = 0;
        string shapeText = Tensors.Tensor.ShapeString(shape);
        long? remainingLength = seekable ? stream.Length - stream.Position : null;
        if (remainingLength is { } left && left < count)
            throw Bad(name, $"truncated data: shape {shapeText} declares {(count > Array.MaxLength ? "more than " + Array.MaxLength : count.ToString())} bytes of elements, but only {left} follow the header");
        if (count > Array.MaxLength) throw Bad(name, $"shape {shapeText} declares more elements than an array can hold ({Array.MaxLength})");
        if (remainingLength is { } extra && extra > count)
            throw Bad(name, $"{extra - count} bytes follow the {count} elements that shape {shapeText} declares");

        byte[] data;
        if (remainingLength is not null)
        {
            data = GC.AllocateUninitializedArray<byte>((int)count);
            int read = ReadFully(stream, data, name);
            if (read < count) throw Bad(name, $"truncated data: shape {shapeText} declares {count} bytes of elements, but only {read} follow the header");
        }
        else
        {
            data = ReadChunked(stream, (int)count, name, shapeText);
        }
        return new IdxArray(Array.AsReadOnly(shape), data);
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes from a stream of unknown length, growing the buffer only as data arrives.</summary>
    private static byte[] ReadChunked(Stream stream, int count, string name, string shapeText)
    {
        const int Chunk = 1 << 20;
        var buffer = new byte[Math.Min(count, Chunk)];
        int filled = 0;
        while (filled < count)
        {
            if (filled == buffer.Length) Array.Resize(ref buffer, (int)Math.Min(count, (long)buffer.Length * 2));
            int n = stream.Read(buffer, filled, buffer.Length - filled);
            if (n == 0) throw Bad(name, $"truncated data: shape {shapeText} declares {count} bytes of elements, but only {filled} follow the header");
            filled += n;
        }
        Span<byte> probe = stackalloc byte[1];
        if (stream.Read(probe) != 0) throw Bad(name, $"data follows the {count} elements that shape {shapeText} declares");
        return buffer;
    }

    private static int ReadFully(Stream stream, Span<byte> target, string name)
    {
        int total = 0;
        while (total < target.Length)
        {
            int n = stream.Read(target[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    private static InvalidDataException Bad(string name, string problem) => new($"IDX file '{name}': {problem}.");

    /// <summary>
    /// Checks the gzip trailer (RFC 1952: CRC-32 and size modulo 2^32 of the uncompressed bytes, the last 8 bytes of the
    /// file) against the IDX content that was decoded. The decompressor stops at the end of the compressed data without
    /// requiring the trailer, so a file cut short there, or with corrupted bytes and no trailer, would otherwise be read.
    /// </summary>
    private static void CheckGzipTrailer(PrefixedStream compressed, IdxArray array, string name)
    {
        var rest = new byte[81920];
        while (compressed.Read(rest) > 0) { } // whatever the decompressor left unread: the trailer ends the file
        if (!compressed.TryGetTail(out uint storedCrc, out uint storedSize))
            throw Bad(name, "gzip stream too short to hold its 8-byte trailer");
        var header = new byte[4 + 4 * array.Shape.Count];
        header[2] = 0x08;
        header[3] = (byte)array.Shape.Count;
        for (int i = 0; i < array.Shape.Count; i++) BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4 + 4 * i), (uint)array.Shape[i]);
        var crc = new System.IO.Hashing.Crc32();
        crc.Append(header);
        crc.Append(array.Data);
        uint actualCrc = crc.GetCurrentHashAsUInt32();
        uint actualSize = unchecked((uint)(header.Length + (long)array.Data.Length));
        if (storedSize != actualSize)
            throw Bad(name, $"gzip trailer: the stored size {storedSize} differs from the {actualSize} bytes decompressed (the trailer is missing or the file is cut short or corrupt)");
        if (storedCrc != actualCrc)
            throw Bad(name, $"gzip trailer: the stored CRC-32 0x{storedCrc:X8} differs from 0x{actualCrc:X8} of the decompressed bytes (the file is corrupt)");
    }

    /// <summary>A read-only stream that yields <c>prefix</c> and then the rest of <c>inner</c>.</summary>
    private sealed class PrefixedStream(byte[] prefix, Stream inner) : Stream
    {
        private readonly byte[] tail = new byte[8]; // the last 8 bytes read, as a ring
        private long total;
        private int position;

        /// <summary>The gzip trailer fields of the last 8 bytes read (little-endian CRC-32, then size); false if fewer were read.</summary>
        public bool TryGetTail(out uint crc, out uint size)
        {
            Span<byte> last = stackalloc byte[8];
            for (int i = 0; i < 8; i++) last[i] = tail[(int)((total + i) % 8)];
            crc = BinaryPrimitives.ReadUInt32LittleEndian(last);
            size = BinaryPrimitives.ReadUInt32LittleEndian(last[4..]);
            return total >= 8;
        }

        private int Remember(Span<byte> read)
        {
            foreach (byte b in read) tail[(int)(total++ % 8)] = b;
            return read.Length;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (position < prefix.Length)
            {
                int n = Math.Min(buffer.Length, prefix.Length - position);
                prefix.AsSpan(position, n).CopyTo(buffer);
                position += n;
                return Remember(buffer[..n]);
            }
            return Remember(buffer[..inner.Read(buffer)]);
        }
    }
}
