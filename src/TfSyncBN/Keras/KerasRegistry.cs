namespace TfSyncBN.Keras;

/// <summary>
/// The names under which one family of Keras objects (initializers, regularizers, constraints) is found, and the shared
/// logic of their <c>Get</c>, <c>FromConfig</c> and <c>Serialize</c> façades.
/// </summary>
/// <remarks>Names are matched case-sensitively, like Keras: each class answers to its class name and its snake_case names.</remarks>
internal sealed class KerasRegistry<T> where T : class, IKerasObject
{
    /// <summary>One class: its Keras class name, its other names, and how to build it from a config.</summary>
    internal sealed record Entry(string ClassName, string[] Aliases, Func<IReadOnlyDictionary<string, object?>, T> FromConfig);

    private static readonly IReadOnlyDictionary<string, object?> EmptyConfig = new Dictionary<string, object?>();

    private readonly string kind;
    private readonly Dictionary<string, Entry> byName = new(StringComparer.Ordinal);

    public KerasRegistry(string kind, params Entry[] entries)
    {
        this.kind = kind;
        foreach (var entry in entries)
        {
            byName.Add(entry.ClassName, entry);
            foreach (var alias in entry.Aliases) byName.Add(alias, entry);
        }
        Names = [.. entries.SelectMany(e => e.Aliases.Prepend(e.ClassName))];
    }

    /// <summary>Every accepted name: for each class, its class name and then its aliases.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>A new object with default arguments, by class name or alias.</summary>
    public T Get(string identifier, string paramName)
    {
        ArgumentNullException.ThrowIfNull(identifier, paramName);
        return Find(identifier, paramName).FromConfig(EmptyConfig);
    }

    /// <summary>A new object from <c>{"class_name": name, "config": {...}}</c>; a missing <c>config</c> means defaults.</summary>
    public T FromConfig(IReadOnlyDictionary<string, object?> config, string paramName)
    {
        ArgumentNullException.ThrowIfNull(config, paramName);
        var className = config.TryGetValue("class_name", out var v) && v is string s
            ? s
            : throw new ArgumentException($"A serialized {kind} needs a string 'class_name' entry, but {paramName} has {(v is null ? "none" : $"'{v}'")}.", paramName);
        var entry = Find(className, paramName);
        var inner = KerasConfig.GetDictionary(config, "config") ?? EmptyConfig;
        var defaults = entry.FromConfig(EmptyConfig).GetConfig();
        foreach (var key in inner.Keys)
        {
            if (!defaults.ContainsKey(key))
            {
                throw new ArgumentException(
                    $"The config of {entry.ClassName} has an unknown key '{key}'; accepted keys: {(defaults.Count > 0 ? string.Join(", ", defaults.Keys) : "none")}.", paramName);
            }
        }
        try
        {
            return entry.FromConfig(inner);
        }
        catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException)
        {
            // KerasConfig converts any IConvertible, so a string such as "wide" for a number fails inside Convert.
            throw new ArgumentException($"The config of {entry.ClassName} has a value of the wrong type: {e.Message}", paramName, e);
        }
    }

    /// <summary><c>{"class_name": value.ClassName, "config": value.GetConfig()}</c>.</summary>
    public static IReadOnlyDictionary<string, object?> Serialize(T value, string paramName)
    {
        ArgumentNullException.ThrowIfNull(value, paramName);
        return KerasConfig.Serialize(value)!;
    }

    /// <summary>The entry registered under a class name or alias.</summary>
    /// <exception cref="ArgumentException">No class has that name; the message lists the accepted names.</exception>
    internal Entry Find(string name, string paramName) => byName.TryGetValue(name, out var entry)
        ? entry
        : throw new ArgumentException($"Unknown {kind} '{name}'. Accepted names: {string.Join(", ", Names)}.", paramName);
}
