// The child process of the kill-during-save reliability test: a Sequential model with one Dense layer of
// <units> x <units> weights saves them (Model.SaveWeights) to one path over and over, each save filling every weight
// with its sequence number k, and prints "saved k" after each save returns. The test kills it at a random moment and
// checks that the file still loads and holds one whole save (k at least the last printed).
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

if (args.Length < 2 || !int.TryParse(args[1], out int units) || units < 1)
{
    Console.Error.WriteLine("usage: TfSyncBN.Reliability.SaveChild <weights path> <units> [max saves]");
    return 2;
}
string path = args[0];
int maxSaves = args.Length > 2 && int.TryParse(args[2], out int m) ? m : int.MaxValue;
var model = new Sequential([new Dense(units, kernelInitializer: Initializers.Zeros(), name: "big")], [units]);
for (int k = 1; k <= maxSaves; k++)
{
    foreach (var v in model.SavedWeights) v.Assign(Tensor.Fill(v.Shape, k));
    model.SaveWeights(path);
    Console.Out.WriteLine($"saved {k}");
    Console.Out.Flush();
}
return 0;
