using System.Text.Json;
using System.Text.Json.Nodes;

namespace LayerSkip.Engine.Training;

/// <summary>
/// What a resumed run needs beside the saved model folder: <c>trainer_state.json</c> (the kind of run, the step reached,
/// tokens seen, the last loss) and <c>optimizer.bin</c> (TorchSharp's AdamW state: moments and per-parameter steps).
/// </summary>
internal sealed record TrainingState(string Kind, int Step, long TokensSeen, double LastLoss)
{
    public const string FileName = "trainer_state.json";
    public const string OptimizerFileName = "optimizer.bin";

    public static string PathIn(string folder) => Path.Combine(folder, FileName);
    public static string OptimizerPathIn(string folder) => Path.Combine(folder, OptimizerFileName);

    public static TrainingState? TryLoad(string folder)
    {
        var path = PathIn(folder);
        if (!File.Exists(path)) return null;
        var o = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        return new TrainingState(
            o["kind"]!.GetValue<string>(), o["step"]!.GetValue<int>(), o["tokens_seen"]!.GetValue<long>(),
            o["last_loss"]?.GetValue<double>() ?? double.NaN);
    }

    public void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        var o = new JsonObject
        {
            ["kind"] = Kind, ["step"] = Step, ["tokens_seen"] = TokensSeen,
            ["last_loss"] = double.IsFinite(LastLoss) ? LastLoss : null,
        };
        File.WriteAllText(PathIn(folder), o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}
