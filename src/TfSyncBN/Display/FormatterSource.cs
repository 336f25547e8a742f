namespace TfSyncBN.Display;

/// <summary>
/// The convention-based formatter source named by <see cref="TypeFormatterSourceAttribute"/>: a parameterless class
/// whose <c>CreateTypeFormatters()</c> returns objects with <c>Type</c>, <c>MimeType</c> and
/// <c>bool Format(object instance, TextWriter writer)</c>, which .NET Interactive (and the repository's notebook runner)
/// call by name.
/// </summary>
internal sealed class FormatterSource
{
    public IEnumerable<object> CreateTypeFormatters() =>
    [
        new HtmlFormatter(typeof(Tensors.Tensor), Html.Tensor),
        new HtmlFormatter(typeof(Keras.Model), Html.Model),
        new HtmlFormatter(typeof(Keras.History), Html.History),
    ];

    /// <summary>One <c>text/html</c> formatter; <c>Format</c> is true when it wrote the instance, false for other types.</summary>
    internal sealed class HtmlFormatter(Type type, Func<object, string> render)
    {
        public Type Type { get; } = type;

        public string MimeType => "text/html";

        public bool Format(object instance, TextWriter writer)
        {
            ArgumentNullException.ThrowIfNull(writer);
            if (instance is null || !Type.IsInstanceOfType(instance)) return false;
            writer.Write(render(instance));
            return true;
        }
    }
}
