using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>The Fashion-MNIST images and labels as <see cref="FashionMnist.Load"/> returns them.</summary>
/// <param name="TrainImages">Training images, float32 [N, 28, 28, 1] (channels last), pixel / 255 in [0, 1].</param>
/// <param name="TrainLabels">Training labels, N class indices in 0..9 (see <see cref="FashionMnist.ClassNames"/>).</param>
/// <param name="TestImages">Test images, float32 [M, 28, 28, 1], pixel / 255.</param>
/// <param name="TestLabels">Test labels, M class indices in 0..9.</param>
/// <param name="Directory">The directory the files were read from.</param>
/// <param name="IsSubset">Whether this is the small subset shipped in the repository rather than the full data set.</param>
public sealed record FashionMnistData(Tensor TrainImages, int[] TrainLabels, Tensor TestImages, int[] TestLabels, string Directory, bool IsSubset);

/// <summary>
/// The Fashion-MNIST data set (Zalando, MIT licence): 28×28 grayscale images of 10 classes of clothing
/// (<c>keras.datasets.fashion_mnist.load_data</c>, read from local files; nothing is downloaded).
/// </summary>
/// <remarks>
/// <para>A directory holds the four files <c>train-images-idx3-ubyte</c>, <c>train-labels-idx1-ubyte</c>,
/// <c>t10k-images-idx3-ubyte</c>, <c>t10k-labels-idx1-ubyte</c>, each gzipped (<c>.gz</c>, preferred) or raw.</para>
/// <para>Without a directory, <see cref="Load"/> looks in <see cref="SystemDirectory"/> (Debian package
/// <c>dataset-fashion-mnist</c>, 60,000 + 10,000 images), then for the subset shipped in the repository
/// (<c>data/fashion-mnist-subset/</c>: 8,000 training and 2,000 test images, class-balanced), found by walking up from
/// the application's base directory and then from the current directory.</para>
/// </remarks>
public static class FashionMnist
{
    /// <summary>Where the Debian package <c>dataset-fashion-mnist</c> installs the full data set.</summary>
    public const string SystemDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>The subset's path relative to the repository root (or to an example's output directory).</summary>
    public const string SubsetRelativePath = "data/fashion-mnist-subset";

    /// <summary>The class names, by label.</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    private static readonly string[] FileStems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

    /// <summary>
    /// Loads the training and test sets: images as float32 [N, 28, 28, 1] equal to <c>pixel / 255</c>, labels as class indices.
    /// </summary>
    /// <param name="dataDirectory">A directory holding the four files; when null, <see cref="SystemDirectory"/> and then the
    /// shipped subset are tried (see the remarks of <see cref="FashionMnist"/>).</param>
    /// <param name="subset">Load the shipped subset even if the full data set is installed (ignored when <paramref name="dataDirectory"/> is given).</param>
    /// <exception cref="DirectoryNotFoundException"><paramref name="dataDirectory"/> does not exist, or no data set was found
    /// (the message lists the places searched).</exception>
    /// <exception cref="FileNotFoundException">The directory lacks one of the four files (the message names it).</exception>
    /// <exception cref="InvalidDataException">A file is not valid IDX (see <see cref="Idx.Read"/>), the images are not
    /// N×28×28, the image and label counts differ, or a label is outside 0..9; the message names the file.</exception>
    public static FashionMnistData Load(string? dataDirectory = null, bool subset = false)
    {
        string directory;
        if (dataDirectory is not null)
        {
            if (!System.IO.Directory.Exists(dataDirectory))
                throw new DirectoryNotFoundException($"The Fashion-MNIST directory '{dataDirectory}' does not exist.");
            directory = dataDirectory;
        }
        else
        {
            directory = (!subset && HasFiles(SystemDirectory) ? SystemDirectory : FindSubset())
                ?? throw new DirectoryNotFoundException(
                    $"No Fashion-MNIST data found: {(subset ? "" : $"'{SystemDirectory}' (apt-get install dataset-fashion-mnist) does not hold the files, and ")}" +
                    $"no '{SubsetRelativePath}' folder was found above '{AppContext.BaseDirectory}' or '{Environment.CurrentDirectory}'. Pass the data directory explicitly.");
        }
        var paths = FileStems.Select(stem => FindFile(directory, stem)).ToArray();
        var trainImages = ReadImages(paths[0]);
        var trainLabels = ReadLabels(paths[1], trainImages.Shape[0], paths[0]);
        var testImages = ReadImages(paths[2]);
        var testLabels = ReadLabels(paths[3], testImages.Shape[0], paths[2]);
        bool isSubset = trainImages.Shape[0] < 60000;
        return new FashionMnistData(trainImages, trainLabels, testImages, testLabels, Path.GetFullPath(directory), isSubset);
    }

    /// <summary>The shipped subset's directory: the first <see cref="SubsetRelativePath"/> above the base or current directory, or null.</summary>
    public static string? FindSubset()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, SubsetRelativePath);
                if (HasFiles(candidate)) return candidate;
            }
        }
        return null;
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

    private static Tensor ReadImages(string path)
    {
        var idx = Idx.Read(path, expectedRank: 3);
        if (idx.Shape[1] != 28 || idx.Shape[2] != 28)
            throw new InvalidDataException($"IDX file '{path}': images of {idx.Shape[1]}x{idx.Shape[2]} pixels, but Fashion-MNIST images are 28x28.");
        var pixels = GC.AllocateUninitializedArray<float>(idx.Data.Length);
        TensorPrimitives.ConvertChecked<byte, float>(idx.Data, pixels);
        TensorPrimitives.Divide(pixels, 255f, pixels);
        return new Tensor(pixels, [idx.Shape[0], 28, 28, 1]); // no copy: 60,000 images are 188 MB
    }

    private static int[] ReadLabels(string path, int imageCount, string imagePath)
    {
        var idx = Idx.Read(path, expectedRank: 1);
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
