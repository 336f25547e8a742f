using System.Reflection;

namespace TfSyncBN.NotebookRunner;

/// <summary>
/// What .NET Interactive shows for a value, found the way it finds it: a <c>TypeFormatterSourceAttribute</c>
/// recognized by name on the value's type, whose source's <c>CreateTypeFormatters()</c> yields formatters with
/// <c>MimeType</c> and <c>bool Format(object, TextWriter)</c>. No reference to the formatting package.
/// </summary>
public static class Formatting
{
    /// <summary>The value as text/html through its type's formatter source, or null when it has none for HTML.</summary>
    public static string? Html(object? value)
    {
        if (value is null) return null;
        foreach (var attribute in value.GetType().GetCustomAttributes(inherit: true))
        {
            var at = attribute.GetType();
            if (at.Name != "TypeFormatterSourceAttribute") continue;
            if (at.GetProperty("FormatterSourceType")?.GetValue(attribute) is not Type sourceType) continue;
            var source = Activator.CreateInstance(sourceType, nonPublic: true);
            var create = sourceType.GetMethod("CreateTypeFormatters", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance);
            if (create?.Invoke(source, null) is not System.Collections.IEnumerable formatters) continue;
            foreach (var formatter in formatters)
            {
                var ft = formatter.GetType();
                if (ft.GetProperty("MimeType")?.GetValue(formatter) as string != "text/html") continue;
                var format = ft.GetMethod("Format", [typeof(object), typeof(TextWriter)]);
                using var writer = new StringWriter();
                if (format?.Invoke(formatter, [value, writer]) is true) return writer.ToString();
            }
        }
        return null;
    }

    /// <summary>The value's text/plain form (<c>ToString()</c>, "null" for null).</summary>
    public static string Plain(object? value) => value?.ToString() ?? "null";
}
