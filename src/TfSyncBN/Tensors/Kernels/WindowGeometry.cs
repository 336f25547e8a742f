namespace TfSyncBN.Tensors.Kernels;

/// <summary>
/// The geometry of a 2-D sliding window over an NHWC input (convolution or pooling): input [N, H, W, C], window
/// KH×KW, strides SH×SW, dilations DH×DW, output [N, OH, OW, ·], and the zero rows/columns before the input
/// (PadTop, PadLeft). Window tap (ky, kx) of output (oy, ox) reads input row <c>oy·SH − PadTop + ky·DH</c> and column
/// <c>ox·SW − PadLeft + kx·DW</c>.
/// </summary>
/// <remarks>
/// TensorFlow's rules, with the dilated window size <c>K' = (K − 1)·D + 1</c>: "valid" uses no padding,
/// <c>O = ⌊(I − K')/S⌋ + 1</c>; "same" gives <c>O = ⌈I/S⌉</c> and pads <c>P = max((O − 1)·S + K' − I, 0)</c> in total,
/// <c>⌊P/2⌋</c> before and the rest after.
/// </remarks>
internal readonly record struct WindowGeometry(int N, int H, int W, int C, int KH, int KW, int SH, int SW, int OH, int OW, int PadTop, int PadLeft,
    int DH = 1, int DW = 1)
{
    /// <summary>Output pixels per image.</summary>
    public int Pixels => OH * OW;

    /// <summary>Elements of one im2col row: KH·KW·C.</summary>
    public int Patch => KH * KW * C;

    /// <summary>
    /// The window positions of output pixel (oy, ox) of image n that lie inside the input, in row-major (ky, kx) order:
    /// for each, <paramref name="position"/> gets ky·KW + kx and <paramref name="offset"/> the offset of input element
    /// x[n, iy, ix, 0] (iy = oy·SH − PadTop + ky·DH, ix = ox·SW − PadLeft + kx·DW). Returns how many there are (at most KH·KW).
    /// </summary>
    public int InsidePositions(int n, int oy, int ox, Span<int> position, Span<int> offset)
    {
        int count = 0;
        for (int ky = 0; ky < KH; ky++)
        {
            int iy = oy * SH - PadTop + ky * DH;
            if ((uint)iy >= (uint)H) continue;
            for (int kx = 0; kx < KW; kx++)
            {
                int ix = ox * SW - PadLeft + kx * DW;
                if ((uint)ix >= (uint)W) continue;
                position[count] = ky * KW + kx;
                offset[count++] = ((n * H + iy) * W + ix) * C;
            }
        }
        return count;
    }

    public static WindowGeometry Create(int[] inputShape, int kh, int kw, int sh, int sw, bool same, int dh = 1, int dw = 1)
    {
        int n = inputShape[0], h = inputShape[1], w = inputShape[2], c = inputShape[3];
        int eh = (kh - 1) * dh + 1, ew = (kw - 1) * dw + 1;
        int oh, ow, padTop = 0, padLeft = 0;
        if (same)
        {
            oh = (h + sh - 1) / sh;
            ow = (w + sw - 1) / sw;
            padTop = Math.Max((oh - 1) * sh + eh - h, 0) / 2;
            padLeft = Math.Max((ow - 1) * sw + ew - w, 0) / 2;
        }
        else
        {
            oh = h >= eh ? (h - eh) / sh + 1 : 0;
            ow = w >= ew ? (w - ew) / sw + 1 : 0;
        }
        return new WindowGeometry(n, h, w, c, kh, kw, sh, sw, oh, ow, padTop, padLeft, dh, dw);
    }
}
