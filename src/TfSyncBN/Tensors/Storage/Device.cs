using System.Globalization;

namespace TfSyncBN.Tensors;

/// <summary>The kind of a <see cref="Device"/>.</summary>
public enum DeviceKind
{
    /// <summary>The host CPU (name <c>cpu</c>): tensors in managed memory, computed by the SIMD span kernels.</summary>
    Cpu,

    /// <summary>An NVIDIA GPU through CUDA (name <c>cuda:N</c>).</summary>
    Cuda,

    /// <summary>ILGPU's CPU accelerator (name <c>ilgpu-cpu:N</c>), which runs GPU kernels on the host for testing.</summary>
    IlgpuCpu,
}

/// <summary>
/// Where a tensor's elements live and its operations run: a kind and an ordinal, named <c>cpu</c>, <c>cuda:0</c>,
/// <c>ilgpu-cpu:0</c> (as <c>torch.device</c> and TensorFlow's device strings).
/// </summary>
/// <remarks>The default value is <see cref="Cpu"/>. Two devices are equal when their kind and ordinal are.</remarks>
public readonly record struct Device
{
    /// <summary>Creates a device.</summary>
    /// <param name="kind">The kind.</param>
    /// <param name="ordinal">Which device of that kind, from 0; always 0 for <see cref="DeviceKind.Cpu"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="kind"/> is not a <see cref="DeviceKind"/>, or
    /// <paramref name="ordinal"/> is negative, or not 0 for the CPU.</exception>
    public Device(DeviceKind kind, int ordinal = 0)
    {
        if (!Enum.IsDefined(kind))
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "The device kind must be Cpu, Cuda or IlgpuCpu.");
        if (ordinal < 0 || (kind == DeviceKind.Cpu && ordinal != 0))
            throw new ArgumentOutOfRangeException(nameof(ordinal), ordinal,
                kind == DeviceKind.Cpu ? "The CPU device has ordinal 0 only." : "A device ordinal must be >= 0.");
        Kind = kind;
        Ordinal = ordinal;
    }

    /// <summary>The host CPU, <c>cpu</c>.</summary>
    public static Device Cpu => default;

    /// <summary>The kind of device.</summary>
    public DeviceKind Kind { get; }

    /// <summary>Which device of its kind, from 0 (0 for the CPU).</summary>
    public int Ordinal { get; }

    /// <summary>Whether tensors on this device keep their elements in host memory that the CPU kernels read directly.</summary>
    public bool IsHost => Kind == DeviceKind.Cpu;

    /// <summary>
    /// Parses a device name: <c>cpu</c> (or <c>cpu:0</c>), <c>cuda</c> or <c>cuda:N</c>, <c>ilgpu-cpu</c> or
    /// <c>ilgpu-cpu:N</c>, with N a non-negative decimal ordinal (0 when omitted). Case-insensitive.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is not one of those forms.</exception>
    public static Device Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        int colon = name.IndexOf(':');
        string kindName = (colon < 0 ? name : name[..colon]).ToLowerInvariant();
        DeviceKind? kind = kindName switch
        {
            "cpu" => DeviceKind.Cpu,
            "cuda" => DeviceKind.Cuda,
            "ilgpu-cpu" => DeviceKind.IlgpuCpu,
            _ => null,
        };
        int ordinal = 0;
        bool ordinalOk = colon < 0 || (colon + 1 < name.Length && char.IsAsciiDigit(name[colon + 1])
            && int.TryParse(name.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out ordinal));
        if (kind is null || !ordinalOk || (kind == DeviceKind.Cpu && ordinal != 0))
            throw new ArgumentException(
                $"'{name}' is not a device name. Accepted: 'cpu' (or 'cpu:0'), 'cuda' or 'cuda:N', 'ilgpu-cpu' or 'ilgpu-cpu:N', with N a non-negative integer.",
                nameof(name));
        return new Device(kind.Value, ordinal);
    }

    /// <summary>The device's name: <c>cpu</c>, <c>cuda:N</c> or <c>ilgpu-cpu:N</c>; <see cref="Parse"/> reads it back.</summary>
    public override string ToString() => Kind switch
    {
        DeviceKind.Cpu => "cpu",
        DeviceKind.Cuda => $"cuda:{Ordinal.ToString(CultureInfo.InvariantCulture)}",
        _ => $"ilgpu-cpu:{Ordinal.ToString(CultureInfo.InvariantCulture)}",
    };
}
