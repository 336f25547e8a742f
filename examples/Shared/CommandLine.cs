// The command-line parsing the examples share (linked into each example's project).
using System.Globalization;

/// <summary>
/// Reads <c>--name [value]</c> options one at a time into an example's options record, and on a bad argument (or
/// <c>-h</c>/<c>--help</c>) prints the error and the usage line to stderr.
/// </summary>
sealed class CommandLine
{
    private readonly string[] args;
    private int index = -1;

    private CommandLine(string[] args) => this.args = args;

    /// <summary>The option being read, e.g. <c>--epochs</c>.</summary>
    public string Option => args[index];

    /// <summary>The option's value: the next argument.</summary>
    /// <exception cref="ArgumentException">No argument follows the option.</exception>
    public string Value() => index + 1 < args.Length ? args[++index] : throw new ArgumentException($"{Option} needs a value.");

    /// <summary>An integer value of at least <paramref name="min"/>.</summary>
    /// <exception cref="ArgumentException">The value is below <paramref name="min"/>.</exception>
    /// <exception cref="FormatException">The value is not an integer.</exception>
    public int Int(int min)
    {
        string option = Option;
        return int.Parse(Value(), CultureInfo.InvariantCulture) is var v && v >= min ? v : throw new ArgumentException($"{option} must be >= {min}.");
    }

    /// <summary>A number in [0, 1].</summary>
    /// <exception cref="ArgumentException">The value is outside [0, 1].</exception>
    /// <exception cref="FormatException">The value is not a number.</exception>
    public double Fraction()
    {
        string option = Option;
        return double.Parse(Value(), CultureInfo.InvariantCulture) is var v && v is >= 0 and <= 1 ? v : throw new ArgumentException($"{option} must be in [0, 1].");
    }

    /// <summary>A finite number &gt; 0.</summary>
    /// <exception cref="ArgumentException">The value is not finite or not positive.</exception>
    /// <exception cref="FormatException">The value is not a number.</exception>
    public float Positive()
    {
        string option = Option;
        return float.Parse(Value(), CultureInfo.InvariantCulture) is var v && v > 0 && float.IsFinite(v) ? v : throw new ArgumentException($"{option} must be a positive number.");
    }

    /// <summary>The error for an option the example does not have.</summary>
    public ArgumentException Unknown() => new($"Unknown option '{Option}'.");

    /// <summary>
    /// Applies the options in <paramref name="args"/> to <paramref name="defaults"/>, one at a time, with
    /// <paramref name="apply"/> (which reads the option's value, if any, and throws <see cref="Unknown"/> for an option it
    /// does not have). Returns null after printing <c>error: ...</c> and <paramref name="usage"/> to stderr when an
    /// argument is bad, or only the usage for <c>-h</c>/<c>--help</c>.
    /// </summary>
    public static T? Parse<T>(string[] args, T defaults, string usage, Func<CommandLine, T, T> apply) where T : class
    {
        var line = new CommandLine(args);
        var options = defaults;
        try
        {
            while (++line.index < args.Length)
                options = line.Option is "-h" or "--help" ? throw new ArgumentException("") : apply(line, options);
            return options;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
        {
            if (e.Message.Length > 0) Console.Error.WriteLine($"error: {e.Message}");
            Console.Error.WriteLine(usage);
            return null;
        }
    }
}
