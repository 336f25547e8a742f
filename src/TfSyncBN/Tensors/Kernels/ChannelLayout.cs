namespace TfSyncBN.Tensors.Kernels;

/// <summary>A tensor viewed as [Outer, Channels, Inner]: NHWC is [N·H·W, C, 1], NCHW is [N, C, H·W].</summary>
internal readonly record struct ChannelLayout(int Outer, int Channels, int Inner)
{
    /// <summary>Elements per channel.</summary>
    public long Count => (long)Outer * Inner;
}
