using System.Reflection;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace TfSyncBN.Gpu;

/// <summary>
/// One ILGPU accelerator with its kernels and its <see cref="DevicePool"/>: <c>cuda:N</c> (an NVIDIA GPU through the
/// CUDA driver) or <c>ilgpu-cpu:N</c> (ILGPU's CPU accelerator, a SIMT simulator that runs the same kernels on the host).
/// The ops (one method each) enqueue kernels on the device's default stream; <see cref="GpuTensor.ToArray"/> waits.
/// Not thread-safe: use one device per thread, or lock around ops.
/// </summary>
public sealed partial class IlgpuDevice : IDisposable
{
    static IlgpuDevice()
    {
        // ILGPU asks for the driver by name; some systems ship only the versioned libcuda.so.1.
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(Context).Assembly, (name, assembly, path) =>
                name.Contains("cuda", StringComparison.OrdinalIgnoreCase)
                && (NativeLibrary.TryLoad("libcuda.so.1", out var h) || NativeLibrary.TryLoad("libcuda.so", out h)) ? h : IntPtr.Zero);
        }
        catch (InvalidOperationException)
        {
            // A resolver was already set for ILGPU's assembly: keep it.
        }
    }

    private readonly Context context;
    private bool disposed;

    private IlgpuDevice(string name, Context context, Accelerator accelerator)
    {
        Name = name;
        this.context = context;
        Accelerator = accelerator;
        Pool = new DevicePool(accelerator);
        GemmTile = Math.Min(Kernels.GemmKernels.MaxTile, (int)Math.Sqrt(accelerator.MaxNumThreadsPerGroup));
    }

    /// <summary>
    /// Opens a device by name: <c>"cuda:N"</c> (the N-th CUDA GPU) or <c>"ilgpu-cpu:N"</c> (a new ILGPU CPU accelerator
    /// with its own context and pool, simulating groups of up to 4 threads in warps of 2, so that barrier-heavy kernels
    /// stay cheap on a few cores; every call, and every N, makes a separate accelerator).
    /// </summary>
    /// <param name="device">The device name.</param>
    /// <exception cref="ArgumentException">The name is not <c>cuda:N</c> or <c>ilgpu-cpu:N</c>.</exception>
    /// <exception cref="InvalidOperationException">No CUDA device N exists (no NVIDIA driver or GPU), or CUDA failed to start.</exception>
    public static IlgpuDevice Create(string device = "ilgpu-cpu:0")
    {
        ArgumentNullException.ThrowIfNull(device);
        var parts = device.Split(':');
        if (parts.Length != 2 || !int.TryParse(parts[1], out int ordinal) || ordinal < 0
            || parts[0] is not ("cuda" or "ilgpu-cpu"))
            throw new ArgumentException($"device must be \"cuda:N\" or \"ilgpu-cpu:N\" (N >= 0), but is \"{device}\".", nameof(device));
        if (parts[0] == "ilgpu-cpu")
        {
            var cpuContext = Context.Create(b => b.CPU(new CPUDevice(2, 2, 1)).EnableAlgorithms());
            return new IlgpuDevice(device, cpuContext, cpuContext.CreateCPUAccelerator(0));
        }
        Context? ctx = null;
        try
        {
            ctx = Context.Create(b => b.Cuda().EnableAlgorithms());
            int count = ctx.GetCudaDevices().Count;
            if (ordinal >= count)
                throw new InvalidOperationException($"No CUDA device {ordinal}: ILGPU found {count} CUDA device(s). A CUDA device needs an NVIDIA GPU and its driver (libcuda.so).");
            return new IlgpuDevice(device, ctx, ctx.CreateCudaAccelerator(ordinal));
        }
        catch (Exception e) when (e is not InvalidOperationException)
        {
            ctx?.Dispose();
            throw new InvalidOperationException($"CUDA device {ordinal} could not be opened: {e.Message}. A CUDA device needs an NVIDIA GPU and its driver (libcuda.so).", e);
        }
        catch
        {
            ctx?.Dispose();
            throw;
        }
    }

    /// <summary>The name the device was opened with.</summary>
    public string Name { get; }

    /// <summary>The accelerator's own description (GPU model, or CPU accelerator).</summary>
    public string Description => Accelerator.Name;

    /// <summary>Whether this is a CUDA GPU (not ILGPU's CPU accelerator).</summary>
    public bool IsCuda => Accelerator.AcceleratorType == AcceleratorType.Cuda;

    /// <summary>The device's buffer pool.</summary>
    public DevicePool Pool { get; }

    internal Accelerator Accelerator { get; }

    /// <summary>The edge T of the GEMM tiles (T×T threads per group): 16 on GPUs, 2 on the CPU accelerator. Results do not
    /// depend on it; long CPU-accelerator runs set 1, where group barriers cost least.</summary>
    internal int GemmTile { get; set; }

    /// <summary>Waits until every enqueued kernel has finished.</summary>
    public void Synchronize() => Accelerator.Synchronize();

    /// <summary>Copies host values to a new pooled tensor (it joins the current <see cref="DeviceScope"/>).</summary>
    /// <param name="values">The values, row-major.</param>
    /// <param name="shape">The shape; its element count must equal the number of values.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">A dimension is negative, or the counts differ.</exception>
    public GpuTensor Upload(IReadOnlyList<float> values, IReadOnlyList<int> shape) => Fill(new GpuTensor(this, CheckShape(values, shape), pooled: true), values);

    /// <summary>Copies host values to a new variable: memory of its own, outside every pool and scope, freed by Dispose.</summary>
    /// <param name="values">The values, row-major.</param>
    /// <param name="shape">The shape; its element count must equal the number of values.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">A dimension is negative, or the counts differ.</exception>
    public GpuTensor CreateVariable(IReadOnlyList<float> values, IReadOnlyList<int> shape) => Fill(new GpuTensor(this, CheckShape(values, shape), pooled: false), values);

    /// <summary>A new pooled tensor of zeros.</summary>
    /// <param name="shape">The shape.</param>
    /// <exception cref="ArgumentException">A dimension is negative.</exception>
    public GpuTensor Zeros(IReadOnlyList<int> shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var t = new GpuTensor(this, [.. shape], pooled: true);
        if (t.Length > 0) t.View.MemSetToZero();
        return t;
    }

    /// <summary>Unregisters the device from the tensor core (<see cref="AttachToTensors"/>), then frees the pool, the kernels
    /// and the accelerator. Tensors of this device must not be used afterwards. Idempotent.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        Detach();
        Pool.Trim();
        Accelerator.Dispose();
        context.Dispose();
    }

    private static int[] CheckShape(IReadOnlyList<float> values, IReadOnlyList<int> shape)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(shape);
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"Dimensions must be >= 0, but the shape is [{string.Join(", ", shape)}].", nameof(shape));
            n *= d;
        }
        if (n != values.Count)
            throw new ArgumentException($"The shape [{string.Join(", ", shape)}] holds {n} elements, but {values.Count} values were given.", nameof(values));
        return [.. shape];
    }

    private static GpuTensor Fill(GpuTensor t, IReadOnlyList<float> values)
    {
        if (t.Length > 0) t.View.CopyFromCPU(values as float[] ?? [.. values]);
        return t;
    }

    private GpuTensor New(int[] shape) => new(this, shape, pooled: true);

    private void SameDevice(GpuTensor t, string name)
    {
        ArgumentNullException.ThrowIfNull(t, name);
        if (t.Device != this) throw new ArgumentException($"{name} lives on device {t.Device.Name}, not on {Name}.", name);
        if (t.IsDisposed) throw new ObjectDisposedException(name, $"{name} was disposed.");
    }

    private static string ShapeString(IReadOnlyList<int> s) => $"[{string.Join(", ", s)}]";

    /// <summary>Every kernel of the library: each public static void method of the classes in <c>TfSyncBN.Gpu.Kernels</c>.
    /// A kernel whose first parameter is <see cref="Index1D"/> is implicitly grouped; the others are explicitly grouped.</summary>
    internal static IReadOnlyList<MethodInfo> AllKernels() =>
        [.. typeof(IlgpuDevice).Assembly.GetTypes()
            .Where(t => t.Namespace == "TfSyncBN.Gpu.Kernels" && t.IsAbstract && t.IsSealed)
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(m => m.ReturnType == typeof(void))
            .OrderBy(m => m.DeclaringType!.Name).ThenBy(m => m.Name)];
}
