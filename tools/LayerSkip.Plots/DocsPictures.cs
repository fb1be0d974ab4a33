namespace LayerSkip.Plots;

/// <summary>The pictures docs/benchmarks.md shows, each from a result file in docs/results.</summary>
public static class DocsPictures
{
    public static void Draw(string repository)
    {
        string Results(string name) => Path.Combine(repository, "docs", "results", name);
        string Image(string name) => Path.Combine(repository, "docs", "images", name);

        Charts.Quality(ResultRow.Load(Results("eval-stories260K.md")),
            "stories260K (5 layers), training-free: perplexity on TinyStories", Image("quality-stories260K.png"));
        Charts.Quality(ResultRow.Load(Results("adapt-8layer-120steps.md")),
            "8-layer TinyStories model: training-free vs after 120 adaptation steps", Image("quality-adapted-8layer.png"));

        var llama = ResultRow.Load(Results("bench-llama-1b-bf16.json"));
        Charts.Speed(llama, 1, "Llama-3.2-1B shape, bf16, batch 1: decode speed", Image("speed-llama-1b-bf16-batch1.png"));
        Charts.Speed(llama, 16, "Llama-3.2-1B shape, bf16, batch 16: decode speed", Image("speed-llama-1b-bf16-batch16.png"));
        Charts.Speed(ResultRow.Load(Results("bench-smollm-135m-f32.json")), 1,
            "SmolLM-135M shape, float32, batch 1: decode speed", Image("speed-smollm-135m-f32-batch1.png"));

        // The comparison with a peer engine, once its rows exist (layerskip-bench peer's JSON lines).
        foreach (var peer in Directory.GetFiles(Path.Combine(repository, "docs", "results"), "peer*.json*"))
        {
            var name = Path.GetFileName(peer).Split('.')[0];
            Charts.Peer(ResultRow.Load(peer), $"{name}: ours against llama.cpp", Image(name + ".png"));
        }
    }
}
