using System.Reflection;
using System.Text;

namespace TfSyncBN.Tooling.Tests;

/// <summary>
/// The public API surface of an assembly as stable, sorted text: one line per public (or protected, on an
/// unsealed public type) type and member, with parameter names, default values, <c>params</c>, nullability and
/// the base type and interfaces. The text only changes when the surface does.
/// </summary>
internal static class PublicApi
{
    private static readonly NullabilityInfoContext Nullability = new();

    public static string Describe(Assembly assembly)
    {
        var lines = new List<string>();
        foreach (var type in assembly.GetExportedTypes().OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            lines.Add(TypeLine(type));
            var members = new List<string>();
            const BindingFlags flags = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
            foreach (var m in type.GetMembers(flags))
            {
                var line = MemberLine(type, m);
                if (line is not null) members.Add("  " + line);
            }
            members.Sort(StringComparer.Ordinal);
            lines.AddRange(members);
        }
        return string.Join("\n", lines) + "\n";
    }

    private static string TypeLine(Type t)
    {
        string kind = t.IsEnum ? "enum" : t.IsInterface ? "interface" : t.IsValueType ? (IsRecord(t) ? "record struct" : "struct")
            : typeof(Delegate).IsAssignableFrom(t.BaseType) ? "delegate" : IsRecord(t) ? "record" : "class";
        string mods = t.IsInterface || t.IsEnum || t.IsValueType ? ""
            : t.IsAbstract && t.IsSealed ? "static " : t.IsAbstract ? "abstract " : t.IsSealed ? "sealed " : "";
        var bases = new List<string>();
        if (t.BaseType is { } b && b != typeof(object) && b != typeof(ValueType) && b != typeof(Enum) && !typeof(Delegate).IsAssignableFrom(t.BaseType)) bases.Add(Name(b));
        if (t.IsEnum) bases.Add(Name(Enum.GetUnderlyingType(t)));
        bases.AddRange(t.GetInterfaces().Except(t.BaseType?.GetInterfaces() ?? []).Where(i => i.IsPublic || i.IsNestedPublic).Select(Name).Where(n => !n.StartsWith("System.IEquatable<", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
        return $"{mods}{kind} {Name(t)}{(bases.Count > 0 ? " : " + string.Join(", ", bases) : "")}";
    }

    private static bool IsRecord(Type t) => t.GetMethod("<Clone>$") is not null || t.GetMethod("PrintMembers", BindingFlags.NonPublic | BindingFlags.Instance) is not null && t.IsValueType;

    private static bool Visible(MethodBase? m, Type owner) => m is not null && (m.IsPublic || ((m.IsFamily || m.IsFamilyOrAssembly) && !owner.IsSealed));

    private static string Access(MethodBase m) => m.IsPublic ? "" : "protected ";

    private static string? MemberLine(Type owner, MemberInfo m)
    {
        switch (m)
        {
            case ConstructorInfo c when Visible(c, owner) && !c.IsStatic:
                return $"{Access(c)}ctor({Parameters(c)})";
            case MethodInfo mi when Visible(mi, owner) && !mi.IsSpecialName && !IsCompilerGenerated(mi):
                {
                    string mods = (mi.IsStatic ? "static " : "") + (owner.IsInterface ? "" : mi.IsAbstract ? "abstract " : mi.GetBaseDefinition() != mi ? "override " : mi.IsVirtual && !mi.IsFinal ? "virtual " : "");
                    string generic = mi.IsGenericMethodDefinition ? "<" + string.Join(", ", mi.GetGenericArguments().Select(a => a.Name)) + ">" : "";
                    bool ext = mi.IsDefined(typeof(System.Runtime.CompilerServices.ExtensionAttribute));
                    return $"{Access(mi)}{mods}method {TypeWithNullability(mi.ReturnType, Nullability.Create(mi.ReturnParameter))} {mi.Name}{generic}({(ext ? "this " : "")}{Parameters(mi)})";
                }
            case MethodInfo op when Visible(op, owner) && op.IsSpecialName && op.Name.StartsWith("op_", StringComparison.Ordinal):
                return $"static operator {Name(op.ReturnType)} {op.Name}({Parameters(op)})";
            case PropertyInfo p:
                {
                    var get = p.GetMethod is { } g && Visible(g, owner) ? g : null;
                    var set = p.SetMethod is { } s && Visible(s, owner) ? s : null;
                    if (get is null && set is null) return null;
                    var any = get ?? set!;
                    bool init = set?.ReturnParameter.GetRequiredCustomModifiers().Any(x => x.FullName == "System.Runtime.CompilerServices.IsExternalInit") == true;
                    string mods = (any.IsStatic ? "static " : "") + (owner.IsInterface ? "" : any.IsAbstract ? "abstract " : any.GetBaseDefinition() != any ? "override " : any.IsVirtual && !any.IsFinal ? "virtual " : "");
                    string index = p.GetIndexParameters().Length > 0 ? "[" + string.Join(", ", p.GetIndexParameters().Select(Parameter)) + "]" : "";
                    return $"{Access(any)}{mods}property {TypeWithNullability(p.PropertyType, Nullability.Create(p))} {p.Name}{index} {{ {(get is not null ? "get; " : "")}{(set is not null ? (init ? "init; " : "set; ") : "")}}}";
                }
            case FieldInfo f when (f.IsPublic || ((f.IsFamily || f.IsFamilyOrAssembly) && !owner.IsSealed)) && !f.IsSpecialName:
                if (owner.IsEnum) return $"value {f.Name} = {Convert.ToInt64(f.GetRawConstantValue(), System.Globalization.CultureInfo.InvariantCulture)}";
                return $"{(f.IsFamily || f.IsFamilyOrAssembly ? "protected " : "")}{(f.IsLiteral ? "const " : f.IsStatic ? "static " : "")}{(f.IsInitOnly ? "readonly " : "")}field {TypeWithNullability(f.FieldType, Nullability.Create(f))} {f.Name}{(f.IsLiteral ? " = " + Literal(f.GetRawConstantValue()) : "")}";
            case EventInfo e when e.AddMethod is { } add && Visible(add, owner):
                return $"event {Name(e.EventHandlerType!)} {e.Name}";
            case Type nested when nested.IsNestedPublic:
                return null; // listed as its own type
            default:
                return null;
        }
    }

    private static bool IsCompilerGenerated(MethodInfo m) =>
        m.Name is "<Clone>$" or "Deconstruct" && m.DeclaringType?.GetMethod("<Clone>$") is not null ? m.Name == "<Clone>$" : m.Name.Contains('<');

    private static string Parameters(MethodBase m) => string.Join(", ", m.GetParameters().Select(Parameter));

    private static string Parameter(ParameterInfo p)
    {
        var sb = new StringBuilder();
        if (p.IsDefined(typeof(ParamArrayAttribute))) sb.Append("params ");
        if (p.IsOut) sb.Append("out ");
        else if (p.ParameterType.IsByRef) sb.Append(p.IsIn ? "in " : "ref ");
        var type = p.ParameterType.IsByRef ? p.ParameterType.GetElementType()! : p.ParameterType;
        sb.Append(TypeWithNullability(type, Nullability.Create(p))).Append(' ').Append(p.Name);
        if (p.HasDefaultValue) sb.Append(" = ").Append(Literal(p.RawDefaultValue));
        return sb.ToString();
    }

    private static string Literal(object? v) => v switch
    {
        null => "null",
        string s => "\"" + s + "\"",
        bool b => b ? "true" : "false",
        float f => f.ToString("R", System.Globalization.CultureInfo.InvariantCulture) + "f",
        double d => d.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    private static string TypeWithNullability(Type t, NullabilityInfo info)
    {
        if (Nullable.GetUnderlyingType(t) is { } u) return Name(u) + "?";
        string name = t.IsGenericType && info.GenericTypeArguments.Length == t.GetGenericArguments().Length
            ? GenericName(t) + "<" + string.Join(", ", t.GetGenericArguments().Select((a, i) => TypeWithNullability(a, info.GenericTypeArguments[i]))) + ">"
            : t.IsArray && info.ElementType is { } el ? TypeWithNullability(t.GetElementType()!, el) + "[]"
            : Name(t);
        return name + (!t.IsValueType && info.ReadState == NullabilityState.Nullable ? "?" : "");
    }

    private static string GenericName(Type t)
    {
        var n = (t.IsNested ? Name(t.DeclaringType!) + "." : t.Namespace is null ? "" : t.Namespace + ".") + t.Name;
        int tick = n.IndexOf('`');
        return tick < 0 ? n : n[..tick];
    }

    internal static string Name(Type t)
    {
        if (t.IsGenericParameter) return t.Name;
        if (t.IsByRef) return Name(t.GetElementType()!) + "&";
        if (t.IsArray) return Name(t.GetElementType()!) + "[" + new string(',', t.GetArrayRank() - 1) + "]";
        if (Nullable.GetUnderlyingType(t) is { } u) return Name(u) + "?";
        string? alias = Type.GetTypeCode(t) switch
        {
            TypeCode.Boolean => "bool", TypeCode.Int32 => "int", TypeCode.Int64 => "long", TypeCode.Single => "float",
            TypeCode.Double => "double", TypeCode.String => "string", TypeCode.Byte => "byte", TypeCode.Int16 => "short",
            TypeCode.UInt32 => "uint", TypeCode.UInt64 => "ulong", TypeCode.Char => "char", TypeCode.Decimal => "decimal",
            _ => t == typeof(object) ? "object" : t == typeof(void) ? "void" : null,
        };
        if (alias is not null && !t.IsEnum) return alias;
        if (t.IsGenericType) return GenericName(t) + "<" + string.Join(", ", t.GetGenericArguments().Select(Name)) + ">";
        return t.IsNested ? Name(t.DeclaringType!) + "." + t.Name : t.FullName ?? t.Name;
    }
}
