using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Training;

/// <summary>
/// A <see cref="DecoderModel"/> whose weights are TorchSharp <see cref="Parameter"/>s, so the engine's own forward pass
/// (fused q/k/v and gate/up, KV cache, layer plans, routers) is what gets trained. The fused layout is trained as is and
/// split back into the Hugging Face q/k/v/gate/up tensors by <see cref="HfCheckpointWriter"/>.
/// Tied embeddings stay one parameter (the embedding is the output head).
/// </summary>
public sealed class TrainableModel : IDisposable
{
    public DecoderModel Model { get; }
    public ModelConfig Config => Model.Config;

    /// <summary>The token embedding (and, when tied, the output head).</summary>
    public Parameter Embedding { get; }
    /// <summary>The untied output head, or null when it is the embedding.</summary>
    public Parameter? LmHead { get; }
    /// <summary>Every weight except the embedding and the output head: layers and the final norm.</summary>
    public IReadOnlyList<Parameter> BodyParameters { get; }
    public IEnumerable<Parameter> AllParameters => BodyParameters.Prepend(Embedding).Concat(LmHead is null ? [] : [LmHead]);

    private TrainableModel(ModelConfig config, ModelWeights source, ScalarType dtype, Device device, int maxSequenceLength)
    {
        // Parameter takes over the tensor's native handle; the source ModelWeights object is consumed.
        var tied = ReferenceEquals(source.LmHead, source.Embedding);
        Embedding = new Parameter(source.Embedding, requires_grad: true);
        LmHead = tied ? null : new Parameter(source.LmHead, requires_grad: true);
        var body = new List<Parameter>();
        Parameter P(Tensor t) { var p = new Parameter(t, requires_grad: true); body.Add(p); return p; }
        Parameter? Opt(Tensor? t) => t is null ? null : P(t);
        var layers = source.Layers.Select(l => new LayerWeights
        {
            InputNorm = P(l.InputNorm),
            Qkv = P(l.Qkv),
            QkvBias = Opt(l.QkvBias),
            QNorm = Opt(l.QNorm),
            KNorm = Opt(l.KNorm),
            Output = P(l.Output),
            PostAttentionNorm = P(l.PostAttentionNorm),
            GateUp = P(l.GateUp),
            Down = P(l.Down),
        }).ToList();
        var finalNorm = P(source.FinalNorm);
        BodyParameters = body;
        var weights = new ModelWeights { Embedding = Embedding, FinalNorm = finalNorm, LmHead = (Tensor?)LmHead ?? Embedding, Layers = layers };
        Model = new DecoderModel(config, weights, dtype, device, maxSequenceLength);
    }

    /// <summary>Loads a Hugging Face model folder for training (float32 unless asked otherwise).</summary>
    public static TrainableModel Load(string folder, ScalarType dtype = ScalarType.Float32, Device? device = null, int? maxSequenceLength = null)
    {
        device ??= CPU;
        folder = ModelFolder.Resolve(folder);
        var config = ModelConfig.Load(folder);
        var length = config.SequenceLengthFor(maxSequenceLength);
        using var ckpt = Checkpoint.Open(folder);
        ModelWeights weights;
        using (no_grad()) weights = ModelWeights.Load(ckpt, config, dtype, device);
        return new TrainableModel(config, weights, dtype, device, length);
    }

    /// <summary>A freshly initialised model (seeded; std 0.02 matrices, unit norms) to pretrain from scratch.</summary>
    public static TrainableModel Create(ModelConfig config, int seed, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        device ??= CPU;
        var weights = RandomWeights.Create(config, dtype, device, seed);
        return new TrainableModel(config, weights, dtype, device, config.MaxPositionEmbeddings);
    }

    /// <summary>Freezes or unfreezes the embedding and the output head (adaptation keeps them frozen).</summary>
    public void SetEmbeddingsTrainable(bool trainable)
    {
        Embedding.requires_grad = trainable;
        if (LmHead is not null) LmHead.requires_grad = trainable;
    }

    /// <summary>Freezes or unfreezes every weight (router training keeps the model frozen).</summary>
    public void SetAllTrainable(bool trainable)
    {
        foreach (var p in AllParameters) p.requires_grad = trainable;
    }

    public IReadOnlyList<Parameter> TrainableParameters => AllParameters.Where(p => p.requires_grad).ToList();

    /// <summary>Writes a Hugging Face folder the engine loads back (see <see cref="HfCheckpointWriter"/>).</summary>
    public void Save(string folder, string? tokenizerSource, System.Text.Json.Nodes.JsonObject? layerskip = null) =>
        HfCheckpointWriter.Save(Model, folder, tokenizerSource, layerskip);

    public void Dispose() => Model.Dispose();
}
