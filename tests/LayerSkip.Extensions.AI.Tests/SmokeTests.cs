using LayerSkip.Tests;
namespace LayerSkip.Extensions.AI.Tests;

public class SharedDataTests
{
    [Fact]
    public void FindsTheSharedModelFolder() => Assert.True(File.Exists(Path.Combine(SharedData.Stories260K, "config.json")));
}
