using LayerSkip.Tests;
namespace LayerSkip.Engine.Tests;

public class SharedDataTests
{
    [Fact]
    public void FindsTheSharedModelFolder() => Assert.True(File.Exists(Path.Combine(SharedData.Stories260K, "config.json")));
}
