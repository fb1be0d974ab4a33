using LayerSkip.Engine.Skipping;
using System.Text.Json.Nodes;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Training.Routing;
using LayerSkip.Tests;
using Microsoft.Extensions.AI;
using static TorchSharp.torch;

namespace LayerSkip.Extensions.AI.Tests.Client;

/// <summary>Plans that come from the model folder: an adapted plan in config.json, and trained token routers.</summary>
public sealed class ModelFolderPlanTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "layerskip-tests", Guid.NewGuid().ToString("N"));

    public ModelFolderPlanTests()
    {
        Directory.CreateDirectory(_folder);
        foreach (var f in Directory.GetFiles(SharedData.Stories260K)) File.Copy(f, Path.Combine(_folder, Path.GetFileName(f)));
    }

    private static ChatOptions Greedy() => new() { Temperature = 0, MaxOutputTokens = 12 };

    [Fact]
    public async Task AnAdaptedPlanInConfigJsonIsTheDefault()
    {
        var configPath = Path.Combine(_folder, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config["layerskip"] = new JsonObject
        {
            ["speedup_ratio"] = 1.67, ["policy"] = "explicit", ["kept_layers"] = new JsonArray(0, 2, 4), ["num_layers"] = 5,
        };
        File.WriteAllText(configPath, config.ToJsonString());

        using var client = new LayerSkipChatClient(new LayerSkipOptions { ModelPath = _folder, Device = "cpu" });
        var byDefault = await client.GetResponseAsync("Once upon a time", Greedy());
        Assert.Equal(new[] { 0, 2, 4 }, (int[])byDefault.AdditionalProperties![LayerSkipPropertyNames.KeptLayers]!);
        var explicitFull = await client.GetResponseAsync("Once upon a time", Greedy().WithLayerSkip(1.0, LayerPolicy.None));
        Assert.Equal(new[] { 0, 1, 2, 3, 4 }, (int[])explicitFull.AdditionalProperties![LayerSkipPropertyNames.KeptLayers]!);

        using var ignoring = new LayerSkipChatClient(new LayerSkipOptions { ModelPath = _folder, Device = "cpu", UseAdaptedPlan = false });
        var plain = await ignoring.GetResponseAsync("Once upon a time", Greedy());
        Assert.Equal(5, ((int[])plain.AdditionalProperties![LayerSkipPropertyNames.KeptLayers]!).Length);
    }

    [Fact]
    public async Task TheRouterPolicyUsesTheFoldersRoutersAndReportsTheirRate()
    {
        using (var noRouter = new LayerSkipChatClient(new LayerSkipOptions { ModelPath = _folder, Device = "cpu" }))
            Assert.Contains("router.safetensors", (await Assert.ThrowsAnyAsync<ArgumentException>(
                () => noRouter.GetResponseAsync("Once upon a time", Greedy().WithLayerSkip(1, LayerPolicy.Router)))).Message);

        // Routers that run every token through every layer must reproduce full depth exactly.
        using (var routers = LayerRouterSet.Create(5, 64, budget: 1.0, seed: 1, initialRate: 0.99))
        {
            using (no_grad()) routers.Weight.zero_();
            routers.Save(Path.Combine(_folder, "router.safetensors"));
        }
        using var client = new LayerSkipChatClient(new LayerSkipOptions { ModelPath = _folder, Device = "cpu" });
        var full = await client.GetResponseAsync("Once upon a time", Greedy());
        var routed = await client.GetResponseAsync("Once upon a time", Greedy().WithLayerSkip(1, LayerPolicy.Router));
        Assert.Equal(full.Text, routed.Text);
        Assert.Equal(1.0, (double)routed.AdditionalProperties![LayerSkipPropertyNames.RouterExecutionRate]!);
        Assert.Equal("Router", routed.AdditionalProperties[LayerSkipPropertyNames.Policy]);
    }

    public void Dispose()
    {
        try { Directory.Delete(_folder, true); } catch (IOException) { }
    }
}
