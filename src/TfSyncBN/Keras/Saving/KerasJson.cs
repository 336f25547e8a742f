using System.Collections;
using System.Text.Json;

namespace TfSyncBN.Keras;

/// <summary>
/// Converts Keras config dictionaries (as returned by <c>GetConfig</c> and <see cref="Layers.Serialize"/>) to and from JSON
/// text with System.Text.Json.
/// </summary>
/// <remarks>
/// Writing: null, booleans, strings, numbers (shortest round-trip form), dictionaries as objects (keys in their order) and
/// any other sequence as an array. Reading: objects become <c>Dictionary&lt;string, object?&gt;</c>, arrays
/// <c>List&lt;object?&gt;</c>, integral numbers <see cref="long"/>, other numbers <see cref="double"/>.
/// </remarks>
internal static class KerasJson
{
    public static string Write(IReadOnlyDictionary<string, object?> config, bool indented)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = indented }))
        {
            WriteValue(writer, config);
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteValue(Utf8JsonWriter w, object? value)
    {
        switch (value)
        {
            case null: w.WriteNullValue(); break;
            case bool b: w.WriteBooleanValue(b); break;
            case string s: w.WriteStringValue(s); break;
            case float f: w.WriteNumberValue(KerasConfig.Number(f)); break;
            case double d: w.WriteNumberValue(d); break;
            case int i: w.WriteNumberValue(i); break;
            case long l: w.WriteNumberValue(l); break;
            case IReadOnlyDictionary<string, object?> dict:
                w.WriteStartObject();
                foreach (var (key, v) in dict)
                {
                    w.WritePropertyName(key);
                    WriteValue(w, v);
                }
                w.WriteEndObject();
                break;
            case IEnumerable seq:
                w.WriteStartArray();
                foreach (var v in seq) WriteValue(w, v);
                w.WriteEndArray();
                break;
            case IConvertible c:
                w.WriteNumberValue(Convert.ToDouble(c, System.Globalization.CultureInfo.InvariantCulture));
                break;
            default:
                throw new ArgumentException($"A Keras config holds a value of type {value.GetType().Name}, which has no JSON form.", "config");
        }
    }

    /// <exception cref="ArgumentException">The text is not valid JSON or its top level is not an object.</exception>
    public static IReadOnlyDictionary<string, object?> Read(string json, string paramName)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"The model JSON is not valid JSON: {e.Message}", paramName, e);
        }
        using (doc)
        {
            return ToObject(doc.RootElement) as IReadOnlyDictionary<string, object?>
                ?? throw new ArgumentException($"The model JSON must be an object, but its top level is {doc.RootElement.ValueKind}.", paramName);
        }
    }

    private static object? ToObject(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => e.EnumerateObject().Aggregate(new Dictionary<string, object?>(), (d, p) => { d[p.Name] = ToObject(p.Value); return d; }),
        JsonValueKind.Array => e.EnumerateArray().Select(ToObject).ToList(),
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.TryGetInt64(out var l) ? l : e.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };
}
