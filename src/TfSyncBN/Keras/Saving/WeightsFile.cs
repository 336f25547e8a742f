using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using TfSyncBN.Distribute;
using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>One variable as stored in a weights file.</summary>
/// <param name="Name">The variable's name when it was saved (e.g. <c>dense/kernel</c>).</param>
/// <param name="Shape">Its shape.</param>
/// <param name="Values">Its elements in row-major order.</param>
public sealed record SavedWeight(string Name, IReadOnlyList<int> Shape, float[] Values);

/// <summary>
/// Saves and loads the values of a list of variables (a model's weights) in the TfSyncBN weights format, atomically and
/// all-or-nothing.
/// </summary>
/// <remarks>
/// <para><b>Format, version 1.</b> All integers are little-endian:</para>
/// <code>
/// offset  size       field
/// 0       8          magic: the ASCII bytes "TFSBNWTS"
/// 8       4          format version: uint32 = 1
/// 12      4          variable count V: uint32
/// then V records, in the order of the list:
///         4          name length L in bytes: uint32
///         L          name: UTF-8
///         4          rank R: uint32
///         4·R        dimensions: int32 each, &gt;= 0
///         4·∏dims    elements: float32 IEEE 754, row-major
/// end     32         SHA-256 of every preceding byte of the file
/// </code>
/// <para><b>Saving</b> writes to a temporary file in the target's directory, flushes it to disk, then renames it over
/// the target (<see cref="File.Move(string, string, bool)"/>, atomic on one file system), so an interrupted or failing
/// save leaves any previous file intact (the temporary file is deleted on failure). A process killed during a save
/// leaves its temporary file (<c>.{name}.{32 hex digits}.tmp</c> beside the target) behind; the next save to the same
/// target deletes such files, except any that another save still holds open. Mirrored variables are saved from
/// replica 0's copy (all copies are equal after synchronized training; moving statistics of synchronized batch
/// normalization are identical on every replica).</para>
/// <para><b>Loading</b> reads and validates the whole file first: magic, version, structure, checksum, then that it holds
/// exactly as many variables as the list with the same shapes, in the same order (names are recorded for diagnostics and
/// not compared, as Keras matches weights by position). Only when everything is valid are the variables assigned,
/// every mirrored copy of each; any problem raises an exception and changes no variable.</para>
/// </remarks>
public static class WeightsFile
{
    /// <summary>The first 8 bytes of a weights file.</summary>
    public static ReadOnlySpan<byte> Magic => "TFSBNWTS"u8;

    /// <summary>The format version this code writes and reads.</summary>
    public const int FormatVersion = 1;

    private const int ChecksumLength = 32;

    /// <summary>Writes the values of <paramref name="variables"/> to <paramref name="path"/> atomically (see the remarks of <see cref="WeightsFile"/>).</summary>
    /// <param name="path">The file; it is replaced if it exists. Its directory must exist.</param>
    /// <param name="variables">The variables, in the order a later <see cref="Load"/> must list them.</param>
    /// <exception cref="ArgumentNullException">An argument or an element of <paramref name="variables"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty or names a directory.</exception>
    /// <exception cref="DirectoryNotFoundException">The directory of <paramref name="path"/> does not exist.</exception>
    /// <exception cref="IOException">Writing or renaming failed; the previous file, if any, is unchanged.</exception>
    /// <exception cref="UnauthorizedAccessException">The directory or the file is not writable; the previous file is unchanged.</exception>
    /// <exception cref="InvalidOperationException">Called inside a replica function of a multi-replica strategy (save in
    /// cross-replica code, so that the file is written once).</exception>
    public static void Save(string path, IReadOnlyList<Variable> variables) => Save(path, variables, tmp => new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None));

    /// <summary><see cref="Save(string, IReadOnlyList{Variable})"/> with the temporary file opened by <paramref name="openTemporary"/> (tests inject failures there).</summary>
    internal static void Save(string path, IReadOnlyList<Variable> variables, Func<string, Stream> openTemporary)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(variables);
        if (path.Length == 0) throw new ArgumentException("The weights path is empty.", nameof(path));
        if (Directory.Exists(path)) throw new ArgumentException($"The weights path '{path}' is a directory.", nameof(path));
        for (int i = 0; i < variables.Count; i++)
            if (variables[i] is null) throw new ArgumentNullException(nameof(variables), $"variables[{i}] is null.");
        if (ReplicaContext.Current is { IsDistributed: true } ctx)
            throw new InvalidOperationException($"Save weights in cross-replica code, not inside strategy.Run (called from replica {ctx.ReplicaId} of {ctx.NumReplicasInSync}).");
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"Cannot save weights to '{path}': the directory '{directory}' does not exist.");

        RemoveStaleTemporaries(directory, Path.GetFileName(full));
        var tmp = Path.Combine(directory, TemporaryPrefix(Path.GetFileName(full)) + $"{Guid.NewGuid():N}.tmp");
        try
        {
            var stream = openTemporary(tmp);
            try
            {
                WriteTo(stream, variables);
                if (stream is FileStream fs) fs.Flush(flushToDisk: true);
                // Where the OS allows renaming an open file, keep it open (and so locked) until it is renamed: another
                // save's clean-up never takes a temporary file that is still being written for a stale one.
                if (!OperatingSystem.IsWindows()) File.Move(tmp, full, overwrite: true);
            }
            finally
            {
                stream.Dispose();
            }
            if (OperatingSystem.IsWindows()) File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    /// <summary>The start of the names of the temporary files of saves to <paramref name="fileName"/>: <c>.{fileName}.</c></summary>
    private static string TemporaryPrefix(string fileName) => $".{fileName}.";

    /// <summary>
    /// Deletes the temporary files that earlier saves to <paramref name="fileName"/> left behind when their process was
    /// killed (<c>.{fileName}.{32 hex digits}.tmp</c>). A temporary file that another save still holds open is locked
    /// (opened with <see cref="FileShare.None"/>) and left alone; a file that cannot be deleted is left for a later save.
    /// </summary>
    private static void RemoveStaleTemporaries(string directory, string fileName)
    {
        string prefix = TemporaryPrefix(fileName);
        string[] candidates;
        try
        {
            candidates = Directory.GetFiles(directory, prefix + "*.tmp");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return;
        }
        foreach (var candidate in candidates)
        {
            var name = Path.GetFileName(candidate);
            var id = name.AsSpan(prefix.Length, name.Length - prefix.Length - ".tmp".Length);
            if (id.Length != 32 || !Guid.TryParseExact(id, "N", out _)) continue; // not one of ours
            try
            {
                using var claim = new FileStream(candidate, FileMode.Open, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Still open in a save in progress (locked), already gone, or not ours to delete: leave it.
            }
        }
    }

    private static void WriteTo(Stream stream, IReadOnlyList<Variable> variables)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Put(ReadOnlySpan<byte> bytes)
        {
            hash.AppendData(bytes);
            stream.Write(bytes);
        }
        var u32 = new byte[4];
        void PutInt(int value)
        {
            BinaryPrimitives.WriteInt32LittleEndian(u32, value);
            Put(u32);
        }

        Put(Magic);
        PutInt(FormatVersion);
        PutInt(variables.Count);
        foreach (var v in variables)
        {
            var name = Encoding.UTF8.GetBytes(v.Name);
            PutInt(name.Length);
            Put(name);
            PutInt(v.Shape.Count);
            foreach (int d in v.Shape) PutInt(d);
            // Replica 0's copy: cross-replica Value would average moving statistics, which is a different number.
            var data = v.Replicas[0].ToArray();
            if (BitConverter.IsLittleEndian)
            {
                Put(MemoryMarshal.AsBytes(data));
            }
            else
            {
                var bytes = new byte[4 * data.Length];
                for (int i = 0; i < data.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), data[i]);
                Put(bytes);
            }
        }
        stream.Write(hash.GetHashAndReset());
    }

    /// <summary>Reads and fully validates a weights file (magic, version, structure, checksum) without assigning anything.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The stored variables, in file order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid weights file; the message names the file and the
    /// problem: wrong magic (not a weights file), unsupported version, truncated, trailing bytes, a negative dimension,
    /// an invalid UTF-8 name, or a checksum mismatch (corrupted).</exception>
    public static IReadOnlyList<SavedWeight> Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"Weights file '{path}' does not exist.", path);
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>
    /// Assigns the values stored in <paramref name="path"/> to <paramref name="variables"/>, all or nothing (see the
    /// remarks of <see cref="WeightsFile"/>): mirrored variables get the value in every replica's copy.
    /// </summary>
    /// <param name="path">The file written by <see cref="Save(string, IReadOnlyList{Variable})"/>.</param>
    /// <param name="variables">The variables, in the order they were saved.</param>
    /// <exception cref="ArgumentNullException">An argument or an element of <paramref name="variables"/> is null.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is invalid (see <see cref="Read"/>), or it holds a different number
    /// of variables or a variable of a different shape than <paramref name="variables"/> (the message names both). No
    /// variable is changed.</exception>
    /// <exception cref="InvalidOperationException">Called inside a replica function of a multi-replica strategy (load in
    /// cross-replica code, so that every copy is written once). No variable is changed.</exception>
    public static void Load(string path, IReadOnlyList<Variable> variables)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(variables);
        for (int i = 0; i < variables.Count; i++)
            if (variables[i] is null) throw new ArgumentNullException(nameof(variables), $"variables[{i}] is null.");
        if (ReplicaContext.Current is { IsDistributed: true } ctx)
            throw new InvalidOperationException($"Load weights in cross-replica code, not inside strategy.Run (called from replica {ctx.ReplicaId} of {ctx.NumReplicasInSync}).");
        var saved = Read(path);
        if (saved.Count != variables.Count)
            throw new InvalidDataException($"Weights file '{path}' holds {saved.Count} variables, but {variables.Count} were given to load into.");
        for (int i = 0; i < saved.Count; i++)
        {
            if (!saved[i].Shape.SequenceEqual(variables[i].Shape))
                throw new InvalidDataException(
                    $"Weights file '{path}': variable {i} '{saved[i].Name}' has shape {Tensor.ShapeString(saved[i].Shape.ToArray())}, " +
                    $"but '{variables[i].Name}' has shape {Tensor.ShapeString(variables[i].Shape.ToArray())}. No weights were changed.");
        }
        // Everything is valid: only now assign (cross-replica Assign writes every mirrored copy).
        for (int i = 0; i < saved.Count; i++) variables[i].Assign(new Tensor(saved[i].Values, saved[i].Shape.ToArray()));
    }

    private static IReadOnlyList<SavedWeight> Parse(byte[] bytes, string path)
    {
        InvalidDataException Bad(string problem) => new($"Weights file '{path}': {problem}.");
        if (bytes.Length < Magic.Length || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw Bad($"wrong magic number: not a TfSyncBN weights file (it must start with the ASCII bytes \"TFSBNWTS\")");
        int body = bytes.Length - ChecksumLength;
        int pos = Magic.Length;
        string Truncated(string what) => $"truncated: the file ends (before its checksum) inside {what}";
        int ReadInt(string what)
        {
            if (pos + 4 > body) throw Bad(Truncated(what));
            int value = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(pos));
            pos += 4;
            return value;
        }
        int version = ReadInt("the header");
        if (version != FormatVersion) throw Bad($"format version {version} is not supported (this library reads version {FormatVersion})");
        int count = ReadInt("the header");
        if (count < 0) throw Bad($"negative variable count {count}");
        var result = new List<SavedWeight>(Math.Min(count, 1024));
        for (int i = 0; i < count; i++)
        {
            string what = $"variable {i}";
            int nameLength = ReadInt(what);
            if (nameLength < 0 || nameLength > body - pos) throw Bad(Truncated(what + "'s name"));
            string name;
            try
            {
                name = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes, pos, nameLength);
            }
            catch (DecoderFallbackException)
            {
                throw Bad($"variable {i}'s name is not valid UTF-8");
            }
            pos += nameLength;
            int rank = ReadInt(what);
            if (rank < 0 || rank > (body - pos) / 4) throw Bad(Truncated($"{what} '{name}'s shape"));
            var shape = new int[rank];
            long size = 1;
            for (int d = 0; d < rank; d++)
            {
                shape[d] = ReadInt(what);
                if (shape[d] < 0) throw Bad($"variable {i} '{name}' has a negative dimension in shape {Tensor.ShapeString(shape.AsSpan(0, d + 1))}");
                size = Math.Min(size * shape[d], long.MaxValue / int.MaxValue); // saturate: compared with the bytes left below
            }
            // Compare with what is left before allocating, so a corrupted size cannot allocate gigabytes.
            if (size > (body - pos) / 4) throw Bad(Truncated($"{what} '{name}'s {Tensor.ShapeString(shape)} elements"));
            var values = new float[size];
            var src = bytes.AsSpan(pos, 4 * (int)size);
            if (BitConverter.IsLittleEndian) src.CopyTo(MemoryMarshal.AsBytes(values.AsSpan()));
            else for (int k = 0; k < values.Length; k++) values[k] = BinaryPrimitives.ReadSingleLittleEndian(src[(4 * k)..]);
            pos += src.Length;
            result.Add(new SavedWeight(name, Array.AsReadOnly(shape), values));
        }
        if (body < pos) throw Bad(Truncated("the checksum"));
        if (body > pos) throw Bad($"{body - pos} unexpected bytes between the last variable and the checksum");
        if (!SHA256.HashData(bytes.AsSpan(0, body)).AsSpan().SequenceEqual(bytes.AsSpan(body)))
            throw Bad("checksum mismatch: the file is corrupted (its SHA-256 does not match the one stored at its end)");
        return result;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // The save already failed; its exception is the one to report.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
