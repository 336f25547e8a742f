namespace TfSyncBN.Display;

/// <summary>
/// Names the formatter source of a type for .NET Interactive (Polyglot / Jupyter notebooks). .NET Interactive recognizes
/// this attribute by its name and shape, not by its assembly, so TfSyncBN renders as HTML in notebooks without
/// referencing Microsoft.DotNet.Interactive.Formatting (the "TypeFormatterSourceAttribute" convention of its docs).
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Struct, AllowMultiple = false, Inherited = true)]
internal sealed class TypeFormatterSourceAttribute(Type formatterSourceType) : Attribute
{
    /// <summary>The type whose <c>CreateTypeFormatters()</c> yields the formatters.</summary>
    public Type FormatterSourceType { get; } = formatterSourceType;

    /// <summary>The MIME types the notebook should prefer for this type, best first.</summary>
    public string[] PreferredMimeTypes { get; set; } = [];
}
