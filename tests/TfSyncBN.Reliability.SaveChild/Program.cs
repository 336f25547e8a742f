// The child process of the kill-during-save reliability test: saves large weights to one path over and over, each
// save filling every variable with its sequence number k, and prints "saved k" after each save returns. The test kills
// it at a random moment and checks that the file still loads and holds one whole save (k at least the last printed).
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

if (args.Length < 2 || !int.TryParse(args[1], out int floats) || floats < 1)
{
    Console.Error.WriteLine("usage: TfSyncBN.Reliability.SaveChild <weights path> <floats per variable> [max saves]");
    return 2;
}
string path = args[0];
int maxSaves = args.Length > 2 && int.TryParse(args[2], out int m) ? m : int.MaxValue;
var variables = new[]
{
    new Variable(Tensor.Zeros([floats]), "big/kernel"),
    new Variable(Tensor.Zeros([floats / 2 + 1]), "big/bias"),
};
for (int k = 1; k <= maxSaves; k++)
{
    foreach (var v in variables) v.Assign(Tensor.Fill(v.Shape, k));
    WeightsFile.Save(path, variables);
    Console.Out.WriteLine($"saved {k}");
    Console.Out.Flush();
}
return 0;
