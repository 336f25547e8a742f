using TfSyncBN.Display;

// The notebook formatting hooks of the displayable types, kept here so the types' own files stay about their behavior.

namespace TfSyncBN.Tensors
{
    [TypeFormatterSource(typeof(FormatterSource), PreferredMimeTypes = ["text/html"])]
    public sealed partial class Tensor;
}

namespace TfSyncBN.Keras
{
    [TypeFormatterSource(typeof(FormatterSource), PreferredMimeTypes = ["text/html"])]
    public abstract partial class Model;

    [TypeFormatterSource(typeof(FormatterSource), PreferredMimeTypes = ["text/html"])]
    public sealed partial class Sequential;
}

namespace TfSyncBN.Keras
{
    [TypeFormatterSource(typeof(FormatterSource), PreferredMimeTypes = ["text/html"])]
    public sealed partial class History;
}
