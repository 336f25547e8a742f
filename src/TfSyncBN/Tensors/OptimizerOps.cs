namespace TfSyncBN.Tensors;

/// <summary>
/// Fused optimizer updates beyond SGD and Adam (<see cref="TrainingOps"/>): decoupled weight decay and RMSprop. Host
/// tensors only; not recorded by a <see cref="GradientTape"/>; results are new (pooled) tensors.
/// </summary>
internal static class OptimizerOps
{
    /// <summary>Keras 3's decoupled weight decay, element-wise in float32: <c>w − (w·wd)·η</c>.</summary>
    /// <exception cref="NotSupportedException"><paramref name="weights"/> is not in host memory.</exception>
    internal static Tensor DecayWeights(Tensor weights, float weightDecay, float learningRate)
    {
        RequireHost("DecayWeights", weights);
        var result = Tensor.Uninitialized(weights.ShapeArray);
        var w = weights.Data;
        var r = result.Data;
        for (int i = 0; i < r.Length; i++) r[i] = w[i] - w[i] * weightDecay * learningRate;
        return result;
    }

    /// <summary>
    /// One RMSprop step (Keras 3 <c>RMSprop</c>, no momentum, not centered), element-wise in float32:
    /// <c>v' = ρ·v + (1 − ρ)·g²</c>, <c>w − η·g / sqrt(v' + ε)</c>.
    /// </summary>
    /// <exception cref="ArgumentException">A tensor's shape differs from the weights'.</exception>
    /// <exception cref="NotSupportedException">A tensor is not in host memory.</exception>
    internal static Tensor RmsPropUpdate(Tensor weights, Tensor gradient, Tensor velocity, float learningRate, float rho, float epsilon,
        out Tensor newVelocity)
    {
        RequireHost("RmsPropUpdate", weights, gradient, velocity);
        if (!Tensor.SameShape(weights.ShapeArray, gradient.ShapeArray) || !Tensor.SameShape(weights.ShapeArray, velocity.ShapeArray))
            throw new ArgumentException($"RmsPropUpdate needs gradient and velocity of the weights' shape {Tensor.ShapeString(weights.ShapeArray)}.", nameof(gradient));
        var wt = Tensor.Uninitialized(weights.ShapeArray);
        var vt = Tensor.Uninitialized(weights.ShapeArray);
        var w = weights.Data;
        var g = gradient.Data;
        var v = velocity.Data;
        var wOut = wt.Data;
        var vOut = vt.Data;
        float oneMinusRho = 1f - rho;
        for (int i = 0; i < wOut.Length; i++)
        {
            float vi = rho * v[i] + oneMinusRho * (g[i] * g[i]);
            vOut[i] = vi;
            wOut[i] = w[i] - learningRate * g[i] / MathF.Sqrt(vi + epsilon);
        }
        newVelocity = vt;
        return wt;
    }

    private static void RequireHost(string op, params Tensor[] tensors)
    {
        foreach (var t in tensors)
        {
            if (!t.Device.IsHost) throw new NotSupportedException($"{op} runs on host tensors only, but an operand is on {t.Device}.");
        }
    }
}
