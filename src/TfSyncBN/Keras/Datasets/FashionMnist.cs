using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>The Fashion-MNIST images and labels as <see cref="FashionMnist.Load"/> returns them.</summary>
/// <param name="TrainImages">Training images, float32 [N, 28, 28, 1] (channels last), pixel / 255 in [0, 1].</param>
/// <param name="TrainLabels">Training labels, N class indices in 0..9 (see <see cref="FashionMnist.ClassNames"/>).</param>
/// <param name="TestImages">Test images, float32 [M, 28, 28, 1], pixel / 255.</param>
/// <param name="TestLabels">Test labels, M class indices in 0..9.</param>
/// <param name="Directory">The full path of the directory the files were read from, or <see cref="FashionMnist.EmbeddedSubset"/> for the subset inside the library.</param>
/// <param name="IsSubset">Whether this is a subset (fewer than 60,000 training images), such as the one inside the library, rather than the full data set.</param>
public sealed record FashionMnistData(Tensor TrainImages, int[] TrainLabels, Tensor TestImages, int[] TestLabels, string Directory, bool IsSubset);

/// <summary>
/// The Fashion-MNIST data set (Zalando, MIT licence): 28×28 grayscale images of 10 classes of clothing, as
/// <c>keras.datasets.fashion_mnist.load_data()</c> finds it: local files first, else a verified download into Keras's cache.
/// </summary>
/// <remarks>
/// <para>A directory holds the four files <c>train-images-idx3-ubyte</c>, <c>train-labels-idx1-ubyte</c>,
/// <c>t10k-images-idx3-ubyte</c>, <c>t10k-labels-idx1-ubyte</c>, each gzipped (<c>.gz</c>, preferred) or raw.</para>
/// <para>Without a directory, <see cref="Load"/> uses the first of: <see cref="KerasCacheDirectory"/> (Keras's own cache,
/// <c>~/.keras/datasets/fashion-mnist</c>); <see cref="SystemDirectory"/> (Debian package <c>dataset-fashion-mnist</c>);
/// a download into <see cref="KerasCacheDirectory"/> (see <see cref="Download"/>).</para>
/// <para>A class-balanced subset (8,000 training and 2,000 test images, 4.2 MB) is embedded in the library:
/// <c>Load(subset: true)</c> reads it without any file or network access.</para>
/// </remarks>
public static class FashionMnist
{
    /// <summary>Where the Debian package <c>dataset-fashion-mnist</c> installs the full data set.</summary>
    public const string SystemDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>The standard location of the four <c>.gz</c> files, the one Keras downloads from.</summary>
    public const string DefaultBaseUrl = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/";

    /// <summary>The value of <see cref="FashionMnistData.Directory"/> for the subset embedded in the library.</summary>
    public const string EmbeddedSubset = "embedded:fashion-mnist-subset";

    /// <summary>The longest <see cref="Download"/> waits for one file unless told otherwise: 10 minutes.</summary>
    public static readonly TimeSpan DefaultDownloadTimeout = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Keras's cache directory for this data set: <c>$KERAS_HOME/datasets/fashion-mnist</c> when the environment variable
    /// <c>KERAS_HOME</c> is set, else <c>~/.keras/datasets/fashion-mnist</c> (read each time).
    /// </summary>
    public static string KerasCacheDirectory =>
        Path.Combine(Environment.GetEnvironmentVariable("KERAS_HOME") is { Length: > 0 } home
            ? home
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".keras"), "datasets", "fashion-mnist");

    /// <summary>The class names, by label.</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    private static readonly string[] FileStems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

    /// <summary>
    /// The four standard files with the SHA-256 and length of their decompressed content. The content hash is used
    /// because repackaged copies keep the data but rewrite the gzip header: Debian's files are the upstream ones without
    /// the stored file name and with another time stamp (each exactly that many bytes shorter), so their <c>.gz</c>
    /// bytes differ from upstream while the content is the same.
    /// </summary>
    internal static readonly IReadOnlyList<DatasetFile> StandardFiles =
    [
        new("train-images-idx3-ubyte.gz", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016),
        new("train-labels-idx1-ubyte.gz", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60008),
        new("t10k-images-idx3-ubyte.gz", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7840016),
        new("t10k-labels-idx1-ubyte.gz", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10008),
    ];

    /// <summary>
    /// Loads the training and test sets: images as float32 [N, 28, 28, 1] equal to <c>pixel / 255</c>, labels as class indices.
    /// </summary>
    /// <param name="dataDirectory">A directory holding the four files; when null, the places listed in the remarks of
    /// <see cref="FashionMnist"/> are tried in order, downloading as a last resort.</param>
    /// <param name="subset">Load the subset embedded in the library (8,000 training and 2,000 test images, 800 and 200 per
    /// class, the first of each class in the original order) instead; ignored when <paramref name="dataDirectory"/> is given.</param>
    /// <param name="baseUrl">Where to download from when no local copy is found (default <see cref="DefaultBaseUrl"/>);
    /// an absolute http or https URL.</param>
    /// <param name="downloadTimeout">The longest one file's download may take (default <see cref="DefaultDownloadTimeout"/>); positive.</param>
    /// <exception cref="ArgumentException"><paramref name="baseUrl"/> is not an absolute http(s) URL, or
    /// <paramref name="downloadTimeout"/> is not positive.</exception>
    /// <exception cref="DirectoryNotFoundException"><paramref name="dataDirectory"/> does not exist.</exception>
    /// <exception cref="FileNotFoundException">The directory lacks one of the four files (the message names it).</exception>
    /// <exception cref="InvalidDataException">A file is not valid IDX (see <see cref="Idx.Read"/>), the images are not
    /// N×28×28, the image and label counts differ, or a label is outside 0..9 (the message names the file); or a download
    /// arrived truncated or with the wrong content.</exception>
    /// <exception cref="HttpRequestException">No local copy was found and the download failed (the message lists the places searched).</exception>
    /// <exception cref="TimeoutException">No local copy was found and a file's download took longer than <paramref name="downloadTimeout"/>.</exception>
    public static FashionMnistData Load(string? dataDirectory = null, bool subset = false, string? baseUrl = null, TimeSpan? downloadTimeout = null) =>
        LoadFrom(dataDirectory, subset, baseUrl, downloadTimeout, KerasCacheDirectory, SystemDirectory, StandardFiles);

    internal static FashionMnistData LoadFrom(string? dataDirectory, bool subset, string? baseUrl, TimeSpan? downloadTimeout,
        string cacheDirectory, string systemDirectory, IReadOnlyList<DatasetFile> files)
    {
        var url = CheckBaseUrl(baseUrl);
        var timeout = CheckTimeout(downloadTimeout, nameof(downloadTimeout));
        if (dataDirectory is not null)
        {
            if (!System.IO.Directory.Exists(dataDirectory))
                throw new DirectoryNotFoundException($"The Fashion-MNIST directory '{dataDirectory}' does not exist.");
            return LoadDirectory(dataDirectory);
        }
        if (subset) return LoadEmbeddedSubset();
        if (HasFiles(cacheDirectory)) return LoadDirectory(cacheDirectory);
        if (HasFiles(systemDirectory)) return LoadDirectory(systemDirectory);
        try
        {
            DatasetDownload.Run(cacheDirectory, url, files, timeout);
        }
        catch (Exception e) when (e is HttpRequestException or TimeoutException or InvalidDataException)
        {
            string where = $"Fashion-MNIST is neither in Keras's cache '{cacheDirectory}' nor in '{systemDirectory}' (apt-get install dataset-fashion-mnist), and the download failed: {e.Message} " +
                "Pass a data directory, or use Load(subset: true) for the subset inside the library.";
            throw e switch
            {
                HttpRequestException h => new HttpRequestException(where, h, h.StatusCode),
                TimeoutException => new TimeoutException(where, e),
                _ => new InvalidDataException(where, e),
            };
        }
        return LoadDirectory(cacheDirectory);
    }

    /// <summary>
    /// Downloads the four files from <paramref name="baseUrl"/> into <paramref name="directory"/> (default
    /// <see cref="KerasCacheDirectory"/>), skipping those already there, and returns the directory's full path. Each file
    /// streams into a temporary file in that directory and is renamed into place only after its decompressed content
    /// matched the known length and SHA-256, so a failed, truncated or corrupted download leaves no file behind.
    /// </summary>
    /// <param name="directory">The target directory, created if missing.</param>
    /// <param name="baseUrl">An absolute http or https URL; each file is fetched from <c>baseUrl + name</c> (default <see cref="DefaultBaseUrl"/>).</param>
    /// <param name="timeout">The longest one file may take, connection included (default <see cref="DefaultDownloadTimeout"/>); positive.</param>
    /// <exception cref="ArgumentException"><paramref name="baseUrl"/> is not an absolute http(s) URL, or <paramref name="timeout"/> is not positive.</exception>
    /// <exception cref="HttpRequestException">The server could not be reached or answered with an error status.</exception>
    /// <exception cref="TimeoutException">A file took longer than <paramref name="timeout"/>.</exception>
    /// <exception cref="InvalidDataException">A file arrived truncated, not gzip, or with other content than expected.</exception>
    public static string Download(string? directory = null, string? baseUrl = null, TimeSpan? timeout = null)
    {
        var url = CheckBaseUrl(baseUrl);
        var limit = CheckTimeout(timeout, nameof(timeout));
        string target = Path.GetFullPath(directory ?? KerasCacheDirectory);
        DatasetDownload.Run(target, url, StandardFiles, limit);
        return target;
    }

    private static Uri CheckBaseUrl(string? baseUrl)
    {
        string text = baseUrl ?? DefaultBaseUrl;
        if (!Uri.TryCreate(text.EndsWith('/') ? text : text + "/", UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
            throw new ArgumentException($"baseUrl '{baseUrl}' is not an absolute http or https URL (such as '{DefaultBaseUrl}').", nameof(baseUrl));
        return url;
    }

    private static TimeSpan CheckTimeout(TimeSpan? timeout, string name)
    {
        var value = timeout ?? DefaultDownloadTimeout;
        if (value <= TimeSpan.Zero) throw new ArgumentException($"{name} must be a positive time span; got {value}.", name);
        return value;
    }

    private static FashionMnistData LoadDirectory(string directory)
    {
        var paths = FileStems.Select(stem => FindFile(directory, stem)).ToArray();
        var arrays = paths.Select((p, i) => Idx.Read(p, expectedRank: i % 2 == 0 ? 3 : 1)).ToArray();
        return Build(arrays, paths, Path.GetFullPath(directory));
    }

    /// <summary>The subset embedded in the library as resources <c>TfSyncBN.Datasets.fashion-mnist-subset.*.gz</c>.</summary>
    private static FashionMnistData LoadEmbeddedSubset()
    {
        var assembly = typeof(FashionMnist).Assembly;
        var names = FileStems.Select(stem => $"TfSyncBN.Datasets.fashion-mnist-subset.{stem}.gz").ToArray();
        var arrays = names.Select((name, i) =>
        {
            using var stream = assembly.GetManifestResourceStream(name)
                ?? throw new InvalidOperationException($"The library lacks its embedded resource '{name}' (a broken build).");
            return Idx.ReadStream(stream, EmbeddedSubset + "/" + name, expectedRank: i % 2 == 0 ? 3 : 1);
        }).ToArray();
        return Build(arrays, names.Select(n => EmbeddedSubset + "/" + n).ToArray(), EmbeddedSubset);
    }

    private static FashionMnistData Build(IdxArray[] arrays, string[] names, string directory)
    {
        var trainImages = Images(arrays[0], names[0]);
        var trainLabels = Labels(arrays[1], names[1], trainImages.Shape[0], names[0]);
        var testImages = Images(arrays[2], names[2]);
        var testLabels = Labels(arrays[3], names[3], testImages.Shape[0], names[2]);
        return new FashionMnistData(trainImages, trainLabels, testImages, testLabels, directory, trainImages.Shape[0] < 60000);
    }

    private static bool HasFiles(string directory) =>
        FileStems.All(stem => File.Exists(Path.Combine(directory, stem + ".gz")) || File.Exists(Path.Combine(directory, stem)));

    private static string FindFile(string directory, string stem)
    {
        var gz = Path.Combine(directory, stem + ".gz");
        if (File.Exists(gz)) return gz;
        var raw = Path.Combine(directory, stem);
        if (File.Exists(raw)) return raw;
        throw new FileNotFoundException($"The Fashion-MNIST directory '{directory}' has neither '{stem}.gz' nor '{stem}'.", gz);
    }

    private static Tensor Images(IdxArray idx, string path)
    {
        if (idx.Shape[1] != 28 || idx.Shape[2] != 28)
            throw new InvalidDataException($"IDX file '{path}': images of {idx.Shape[1]}x{idx.Shape[2]} pixels, but Fashion-MNIST images are 28x28.");
        var pixels = GC.AllocateUninitializedArray<float>(idx.Data.Length);
        TensorPrimitives.ConvertChecked<byte, float>(idx.Data, pixels);
        TensorPrimitives.Divide(pixels, 255f, pixels);
        return new Tensor(pixels, [idx.Shape[0], 28, 28, 1]); // no copy: 60,000 images are 188 MB
    }

    private static int[] Labels(IdxArray idx, string path, int imageCount, string imagePath)
    {
        if (idx.Shape[0] != imageCount)
            throw new InvalidDataException($"IDX file '{path}': {idx.Shape[0]} labels, but '{imagePath}' has {imageCount} images.");
        var labels = new int[idx.Data.Length];
        for (int i = 0; i < labels.Length; i++)
        {
            labels[i] = idx.Data[i];
            if (labels[i] > 9) throw new InvalidDataException($"IDX file '{path}': label {labels[i]} at index {i} is not a Fashion-MNIST class (0..9).");
        }
        return labels;
    }
}
