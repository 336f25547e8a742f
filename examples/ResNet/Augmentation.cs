/// <summary>Training-image augmentation for the example (host arrays, seeded, deterministic).</summary>
internal static class Augmentation
{
    /// <summary>
    /// A copy of <paramref name="count"/> single-channel <paramref name="height"/>×<paramref name="width"/> images
    /// (row-major, one after another) where each image is flipped left-right with probability 1/2 and then shifted by
    /// dy, dx drawn uniformly from [−<paramref name="maxShift"/>, <paramref name="maxShift"/>]: output pixel (i, j) is
    /// input pixel (i − dy, j − dx) of the (possibly flipped) image, or 0 outside it. The same seed gives the same copy.
    /// </summary>
    public static float[] FlipAndShift(float[] images, int count, int height, int width, int maxShift, int seed)
    {
        var output = new float[count * height * width];
        var random = new Random(seed);
        for (int n = 0; n < count; n++)
        {
            bool flip = random.Next(2) == 1;
            int dy = random.Next(-maxShift, maxShift + 1), dx = random.Next(-maxShift, maxShift + 1);
            var source = images.AsSpan(n * height * width, height * width);
            var target = output.AsSpan(n * height * width, height * width);
            for (int i = 0; i < height; i++)
            {
                int si = i - dy;
                if (si < 0 || si >= height) continue;
                for (int j = 0; j < width; j++)
                {
                    int sj = j - dx;
                    if (sj < 0 || sj >= width) continue;
                    target[i * width + j] = source[si * width + (flip ? width - 1 - sj : sj)];
                }
            }
        }
        return output;
    }
}
