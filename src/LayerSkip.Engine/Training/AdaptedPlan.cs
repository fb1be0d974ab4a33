using System.Diagnostics.CodeAnalysis;
using System.Text.Json.Nodes;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Engine.Training;

/// <summary>
/// The layer plan a model was adapted for by skip-aware fine-tuning, recorded in its config.json as
/// <c>"layerskip": {"speedup_ratio": 2, "policy": "unified", "kept_layers": [0, 2, 4, 7], "adapt_steps": 300}</c>.
/// A client loading such a model should default to this plan: it is the one the weights were tuned for.
/// </summary>
public sealed record AdaptedPlan(double SpeedupRatio, LayerPolicy Policy, IReadOnlyList<int> KeptLayers, int LayerCount, int Steps = 0)
{
    public const string ConfigKey = "layerskip";

    public static AdaptedPlan From(LayerPlan plan, int steps) => new(plan.TargetSpeedup, plan.Policy, plan.KeptLayers.ToArray(), plan.LayerCount, steps);

    /// <summary>The plan itself (policy, target ratio and the exact kept layers recorded at adaptation time).</summary>
    public LayerPlan ToLayerPlan() => new(Policy, SpeedupRatio, LayerCount, KeptLayers.ToArray());

    public JsonObject ToJson() => new()
    {
        ["speedup_ratio"] = SpeedupRatio,
        ["policy"] = Policy.ToString().ToLowerInvariant(),
        ["kept_layers"] = new JsonArray(KeptLayers.Select(l => (JsonNode)l).ToArray()),
        ["num_layers"] = LayerCount,
        ["adapt_steps"] = Steps,
    };

    /// <summary>Reads the "layerskip" section of <paramref name="modelFolder"/>/config.json; false when there is none or it is malformed.</summary>
    public static bool TryRead(string modelFolder, [NotNullWhen(true)] out AdaptedPlan? plan)
    {
        plan = null;
        var path = Path.Combine(modelFolder, "config.json");
        if (!File.Exists(path)) return false;
        try
        {
            if (JsonNode.Parse(File.ReadAllText(path)) is not JsonObject root || root[ConfigKey] is not JsonObject o) return false;
            var layers = root["num_hidden_layers"]!.GetValue<int>();
            var kept = o["kept_layers"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
            if (kept.Length == 0 || kept.Any(k => k < 0 || k >= layers)) return false;
            var ratio = o["speedup_ratio"]!.GetValue<double>();
            var policy = LayerPlanner.ParsePolicy(o["policy"]?.GetValue<string>() ?? "explicit");
            var steps = o["adapt_steps"] is JsonValue s && s.TryGetValue<int>(out var n) ? n : 0;
            plan = new AdaptedPlan(ratio, policy, kept.Order().ToArray(), layers, steps);
            return true;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or NullReferenceException or ArgumentException or FormatException)
        {
            return false;
        }
    }
}
