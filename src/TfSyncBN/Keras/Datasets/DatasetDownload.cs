using System.IO.Compression;
using System.Net;
using System.Net.Http;
using System.Security.Cryptography;

namespace TfSyncBN.Keras;

/// <summary>One gzipped file of a data set: its name and the SHA-256 and length of its decompressed content.</summary>
/// <remarks>The content is hashed rather than the <c>.gz</c> bytes, because repackaged copies (Debian's, for one) keep the
/// compressed data but rewrite the gzip header (time stamp, stored file name).</remarks>
internal sealed record DatasetFile(string Name, string ContentSha256, long ContentLength);

/// <summary>
/// Downloads data-set files into a cache directory: each file streams to a temporary file in that directory, its
/// decompressed content is checked against the expected SHA-256 and length, and only then is it renamed into place,
/// so an interrupted, truncated or corrupted download never leaves a file under the final name.
/// </summary>
internal static class DatasetDownload
{
    /// <summary>The most compressed bytes accepted for one file (the real files compress to at most about 60%).</summary>
    private static long MaxCompressedLength(DatasetFile file) => file.ContentLength + (1 << 20);

    /// <summary>
    /// Downloads every file of <paramref name="files"/> that <paramref name="directory"/> does not already hold
    /// (a held file is trusted: it got there by the same verified rename), from <c>baseUrl + name</c>.
    /// </summary>
    /// <exception cref="TimeoutException">One file took longer than <paramref name="timeout"/>.</exception>
    /// <exception cref="HttpRequestException">The server could not be reached or answered with an error status.</exception>
    /// <exception cref="InvalidDataException">A file arrived truncated, too long, not gzip, or with other content.</exception>
    public static void Run(string directory, Uri baseUrl, IReadOnlyList<DatasetFile> files, TimeSpan timeout)
    {
        Directory.CreateDirectory(directory);
        using var http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = timeout, AutomaticDecompression = DecompressionMethods.None })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        foreach (var file in files)
        {
            string target = Path.Combine(directory, file.Name);
            if (File.Exists(target)) continue;
            // Off the caller's synchronization context (a notebook's, a UI's), so waiting here cannot deadlock.
            Task.Run(() => DownloadOneAsync(http, new Uri(baseUrl, file.Name), target, file, timeout)).GetAwaiter().GetResult();
        }
    }

    private static async Task DownloadOneAsync(HttpClient http, Uri url, string target, DatasetFile file, TimeSpan timeout)
    {
        string temporary = $"{target}.{Guid.NewGuid():N}.part";
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            try
            {
                using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, deadline.Token).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                    throw new HttpRequestException($"Downloading '{url}' failed: HTTP {(int)response.StatusCode} {response.ReasonPhrase}.", null, response.StatusCode);
                await using (var body = await response.Content.ReadAsStreamAsync(deadline.Token).ConfigureAwait(false))
                await using (var output = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
                {
                    var buffer = new byte[1 << 16];
                    long total = 0;
                    int n;
                    while ((n = await body.ReadAsync(buffer, deadline.Token).ConfigureAwait(false)) > 0)
                    {
                        total += n;
                        if (total > MaxCompressedLength(file))
                            throw new InvalidDataException($"Downloading '{url}': more than {MaxCompressedLength(file)} bytes arrived, far more than the file's content needs; nothing was saved.");
                        await output.WriteAsync(buffer.AsMemory(0, n), deadline.Token).ConfigureAwait(false);
                    }
                    await output.FlushAsync(deadline.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested)
            {
                throw new TimeoutException($"Downloading '{url}' took longer than {timeout.TotalSeconds:0.###} s; nothing was saved.");
            }
            catch (HttpIOException e)
            {
                throw new InvalidDataException($"Downloading '{url}' failed: the response was cut off ({e.Message}); nothing was saved.", e);
            }
            Verify(temporary, url, file);
            File.Move(temporary, target, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    /// <summary>Checks that <paramref name="path"/> is gzip whose decompressed content has the expected length and SHA-256.</summary>
    private static void Verify(string path, Uri url, DatasetFile file)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long length = 0;
        try
        {
            using var input = File.OpenRead(path);
            using var gzip = new GZipStream(input, CompressionMode.Decompress);
            var buffer = new byte[1 << 16];
            int n;
            while ((n = gzip.Read(buffer)) > 0)
            {
                length += n;
                if (length > file.ContentLength) break;
                sha.AppendData(buffer, 0, n);
            }
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"Downloading '{url}': the file is not valid gzip ({e.Message}); nothing was saved.", e);
        }
        if (length != file.ContentLength)
            throw new InvalidDataException($"Downloading '{url}': the decompressed content is {(length > file.ContentLength ? "longer than" : length + " bytes, not")} the expected {file.ContentLength} bytes (truncated or wrong file); nothing was saved.");
        string actual = Convert.ToHexStringLower(sha.GetHashAndReset());
        if (actual != file.ContentSha256)
            throw new InvalidDataException($"Downloading '{url}': SHA-256 of the content is {actual}, expected {file.ContentSha256} (corrupted or wrong file); nothing was saved.");
    }
}
