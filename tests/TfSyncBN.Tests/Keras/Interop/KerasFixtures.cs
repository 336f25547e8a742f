namespace TfSyncBN.Tests.Keras.Interop;

/// <summary>The Keras-format fixtures written by tests/reference/keras_fixtures.py (h5py + numpy).</summary>
internal static class KerasFixtures
{
    public static string Dir { get; } = Find();

    public static string Path(string name) => System.IO.Path.Combine(Dir, name);

    public static string Text(string name) => File.ReadAllText(Path(name));

    private static string Find()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = System.IO.Path.Combine(d.FullName, "tests", "reference", "keras");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException("tests/reference/keras not found above " + AppContext.BaseDirectory);
    }
}
