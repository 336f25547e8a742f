using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

public abstract partial class Layer
{
    /// <summary>
    /// <see cref="Call(Tensor, bool?, Tensor?)"/> under <see cref="Debugging.EnableCheckNumerics"/>: checks the input and the output, and makes the
    /// backward pass check the gradient of the output before it enters this layer's backward computation.
    /// </summary>
    private Tensor CallCheckingNumerics(Tensor inputs, bool training, Tensor? mask)
    {
        int replica = Debugging.CurrentReplicaId;
        Debugging.Check(inputs, Name, replica, "input");
        var output = CallCore(inputs, training, mask);
        Debugging.Check(output, Name, replica, "output");
        if (!GradientTape.IsRecording) return output;
        // An identity over the same buffer (no copy) whose backward checks the upstream gradient.
        var watched = output.ShareStorage(output.ShapeArray);
        GradientTape.Record(watched, [output], (dy, _) =>
        {
            Debugging.Check(dy, Name, replica, "gradient of output");
            return [dy];
        });
        return watched;
    }
}
