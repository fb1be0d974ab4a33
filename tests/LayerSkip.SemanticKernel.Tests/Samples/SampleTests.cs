using LayerSkip.Extensions.AI.Tests.DependencyInjection;
using LayerSkip.Tests;

namespace LayerSkip.SemanticKernel.Tests.Samples;

/// <summary>Each sample's entry point runs to exit code 0 on a short input against stories260K.</summary>
public class SampleTests
{
    [Fact]
    public async Task TheChatSampleStreamsAnswersAndAppliesPerTurnCommands()
    {
        var input = new StringReader("Once upon a time\n/speedup 2\n/policy earlyexit\n/reset\nThe cat\n/exit\nnever read\n");
        var output = new StringWriter();
        var code = await global::LayerSkip.Samples.Chat.Program.RunAsync([SharedData.Stories260K, "--max-tokens", "8", "--device", "cpu", "--temperature", "0"], input, output);
        var text = output.ToString();
        Assert.True(code == 0, text);
        Assert.Contains("[plan: Unified r=1, layers 0,1,2,3,4 (5/5)", text);
        Assert.Contains("(speedup 2 from the next turn)", text);
        Assert.Contains("[plan: EarlyExit r=2, layers 0,1 (2/5)", text);
        Assert.Contains("tok/s", text);
    }

    [Fact]
    public async Task TheChatSampleEndsAtEndOfInput()
    {
        var output = new StringWriter();
        Assert.Equal(0, await global::LayerSkip.Samples.Chat.Program.RunAsync([SharedData.Stories260K, "--max-tokens", "4", "--device", "cpu"], new StringReader("/help\n"), output));
        Assert.Contains("/speedup", output.ToString());
        Assert.Equal(2, await global::LayerSkip.Samples.Chat.Program.RunAsync(["--policy", "fastest"], new StringReader(""), new StringWriter()));
    }

    [Fact]
    public async Task TheAgentSampleRunsItsLoopWithTheSpeedFromExecutionSettings()
    {
        var output = new StringWriter();
        var code = await global::LayerSkip.Samples.Agent.Program.RunAsync([SharedData.Stories260K, "--max-tokens", "8", "--speedup", "2.5", "--device", "cpu"], new StringReader("Once upon a time\nThe dog\n"), output);
        var text = output.ToString();
        Assert.True(code == 0, text);
        Assert.Equal(2, text.Split("agent> ").Length - 1);
        // The first turn must call the plugin (FunctionChoiceBehavior.Required), then the story goes on from its result.
        Assert.Contains("tool> story.get_hero() -> Lily, a little girl who loves the sea", text);
        Assert.Contains("[layers 0,4 | tool calls so far: 1]", text);
    }

    [Fact]
    public async Task TheWorkerSampleDrainsTheQueueTwiceAndComparesThroughput()
    {
        var output = new StringWriter();
        var code = await global::LayerSkip.Samples.Worker.Program.RunAsync(
            [SharedData.Stories260K, "--prompts", "3", "--max-tokens", "6", "--device", "cpu", "--file", SharedData.Path("data", "tinystories_dev.txt")], output);
        var text = output.ToString();
        Assert.True(code == 0, text);
        Assert.Contains("speedup 1 (Unified): 3 prompts", text);
        Assert.Contains("speedup 2 (Unified): 3 prompts", text);
        Assert.Contains("throughput with layer skipping:", text);
        Assert.Equal(2, text.Split("tok/s (warm)").Length - 1);
    }

    [Fact]
    public async Task TheWorkerSampleFailsCleanlyOnABadConfiguration()
    {
        var output = new StringWriter();
        var code = await global::LayerSkip.Samples.Worker.Program.RunAsync([SharedData.Stories260K, "--speedup", "0.5", "--no-compare"], output);
        Assert.Equal(1, code);
        Assert.Contains("LayerSkipOptions.DefaultSpeedupRatio", output.ToString());
    }
}
