namespace TfSyncBN.Gpu.Kernels;

/// <summary>A tensor viewed as [Outer, Channels, Inner] with the channels on the middle axis (NHWC: Inner = 1; NCHW: Outer = N).</summary>
internal struct ChannelLayout
{
    public int Outer;
    public int Channels;
    public int Inner;

    public ChannelLayout(int outer, int channels, int inner)
    {
        Outer = outer;
        Channels = channels;
        Inner = inner;
    }

    /// <summary>Elements per channel.</summary>
    public readonly long Count => (long)Outer * Inner;
}

/// <summary>C[M, N] = op(A)·op(B) with op(A) [M, K] and op(B) [K, N]; a flag of 1 means the operand is stored transposed.</summary>
internal struct GemmShape
{
    public int M;
    public int N;
    public int K;
    public int TransposeA;
    public int TransposeB;
}

/// <summary>A 2-D window (convolution or pooling) over an NHWC input [N, H, W, C] giving [N, OH, OW, ·]; PT/PL padding before.</summary>
internal struct WindowShape
{
    public int N, H, W, C;
    public int KH, KW, SH, SW;
    public int PadTop, PadLeft;
    public int OH, OW;

    /// <summary>TensorFlow's rule: "valid" O = ⌊(I − K)/S⌋ + 1; "same" O = ⌈I/S⌉ with max((O − 1)·S + K − I, 0) padding, ⌊·/2⌋ before.</summary>
    public static WindowShape Create(int n, int h, int w, int c, int kh, int kw, int sh, int sw, bool same)
    {
        int oh = same ? (h + sh - 1) / sh : (h - kh) / sh + 1;
        int ow = same ? (w + sw - 1) / sw : (w - kw) / sw + 1;
        int pt = same ? Math.Max((oh - 1) * sh + kh - h, 0) / 2 : 0;
        int pl = same ? Math.Max((ow - 1) * sw + kw - w, 0) / 2 : 0;
        return new WindowShape { N = n, H = h, W = w, C = c, KH = kh, KW = kw, SH = sh, SW = sw, PadTop = pt, PadLeft = pl, OH = oh, OW = ow };
    }
}

/// <summary>Scalars of the fused optimizer updates.</summary>
internal struct OptimizerParameters
{
    public float LearningRate;
    public float Momentum;
    public int Nesterov;
    public float Alpha;
    public float Beta1;
    public float Beta2;
    public float Epsilon;
}
