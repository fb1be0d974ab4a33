using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Nodes;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Engine.Loading;

/// <summary>
/// The layer plan a model was adapted for by skip-aware fine-tuning, recorded in its config.json as
/// <c>"layerskip": {"speedup_ratio": 2, "policy": "unified", "kept_layers": [0, 2, 4, 7], "adapt_steps": 300}</c>.
/// An engine loading such a model defaults to this plan: it is the one the weights were tuned for.
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
        ["policy"] = LayerPlanner.PolicyName(Policy),
        ["kept_layers"] = new JsonArray(KeptLayers.Select(l => (JsonNode)l).ToArray()),
        ["num_layers"] = LayerCount,
        ["adapt_steps"] = Steps,
    };

    /// <summary>
    /// Reads the "layerskip" section of <paramref name="modelFolder"/>/config.json (values through
    /// <see cref="LayerSkipProperties"/>); false when there is none or it is malformed.
    /// </summary>
    public static bool TryRead(string modelFolder, [NotNullWhen(true)] out AdaptedPlan? plan)
    {
        plan = null;
        var path = Path.Combine(modelFolder, "config.json");
        if (!File.Exists(path)) return false;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty(ConfigKey, out var o) || o.ValueKind != JsonValueKind.Object) return false;
            var layers = LayerSkipProperties.ReadInteger(root.GetProperty("num_hidden_layers"), "num_hidden_layers");
            var kept = LayerSkipProperties.ReadLayers(o.GetProperty("kept_layers"), "kept_layers");
            if (kept.Any(k => k < 0 || k >= layers)) return false;
            var ratio = LayerSkipProperties.ReadNumber(o.GetProperty("speedup_ratio"), "speedup_ratio");
            var policy = o.TryGetProperty("policy", out var p) ? LayerSkipProperties.ReadPolicy(p, "policy") : LayerPolicy.Explicit;
            var steps = o.TryGetProperty("adapt_steps", out var s) ? LayerSkipProperties.ReadInteger(s, "adapt_steps") : 0;
            plan = new AdaptedPlan(ratio, policy, kept.Order().ToArray(), layers, steps);
            return true;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or ArgumentException)
        {
            return false;
        }
    }
}
