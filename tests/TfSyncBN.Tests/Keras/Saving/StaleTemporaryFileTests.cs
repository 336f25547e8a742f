using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Keras.Saving;

/// <summary>
/// A process killed during <see cref="WeightsFile.Save"/> leaves its temporary file beside the target; the next save to
/// that target removes it (issue #16, item 9), and leaves other targets' files and a save in progress alone.
/// </summary>
[TestClass]
public sealed class StaleTemporaryFileTests
{
    [TestMethod]
    public void NextSave_RemovesStaleTemporariesOfItsTarget_Only()
    {
        var dir = Directory.CreateTempSubdirectory("tfsyncbn-stale-");
        try
        {
            string target = Path.Combine(dir.FullName, "model.weights");
            // What killed saves leave: the name pattern of the save's temporary files, with partial contents.
            string[] stale = [.. Enumerable.Range(0, 3).Select(_ => Path.Combine(dir.FullName, $".model.weights.{Guid.NewGuid():N}.tmp"))];
            foreach (var f in stale) File.WriteAllBytes(f, new byte[1000]);
            // Not stale temporaries of this target: another target's, a user's file, a name that only looks similar.
            string other = Path.Combine(dir.FullName, $".model.weights.bak.{Guid.NewGuid():N}.tmp");
            string otherTarget = Path.Combine(dir.FullName, $".other.weights.{Guid.NewGuid():N}.tmp");
            string user = Path.Combine(dir.FullName, ".model.weights.notes.tmp");
            foreach (var f in new[] { other, otherTarget, user }) File.WriteAllText(f, "keep");
            // A save in progress holds its temporary file open and locked.
            string inProgress = Path.Combine(dir.FullName, $".model.weights.{Guid.NewGuid():N}.tmp");
            using (var writing = new FileStream(inProgress, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                writing.Write(new byte[10]);
                var v = new Variable(Tensor.FromArray([1f, 2f, 3f]), "w");
                WeightsFile.Save(target, [v]);

                foreach (var f in stale) Assert.IsFalse(File.Exists(f), $"stale {Path.GetFileName(f)} removed");
                foreach (var f in new[] { other, otherTarget, user }) Assert.AreEqual("keep", File.ReadAllText(f), Path.GetFileName(f));
                Assert.IsTrue(File.Exists(inProgress), "a temporary file still open in a save is left alone");
                var back = new Variable(Tensor.Zeros([3]), "w");
                WeightsFile.Load(target, [back]);
                CollectionAssert.AreEqual(new[] { 1f, 2f, 3f }, back.Value.ToArray());
            }
            // Once that save's process is gone (its handle closed), the next save removes its file too.
            WeightsFile.Save(target, [new Variable(Tensor.FromArray([4f, 5f, 6f]), "w")]);
            Assert.IsFalse(File.Exists(inProgress));
            CollectionAssert.AreEquivalent(
                new[] { "model.weights", Path.GetFileName(other), Path.GetFileName(otherTarget), Path.GetFileName(user) },
                Directory.GetFiles(dir.FullName).Select(Path.GetFileName).ToArray());
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
