using System.Text.Json.Nodes;
using LayerSkip.Engine.Loading;

namespace LayerSkip.Engine.Tests.Reference;

/// <summary>A random-weight Hugging Face model folder written by the tests, with the weights kept for the reference.</summary>
public sealed class TinyCheckpoint : IDisposable
{
    public string Folder { get; }
    public ModelConfig Config { get; }
    public Dictionary<string, float[]> Weights { get; } = new();

    private TinyCheckpoint(string folder, ModelConfig config)
    {
        Folder = folder;
        Config = config;
    }

    public static ModelConfig LlamaConfig(ModelArchitecture arch = ModelArchitecture.Llama, bool tied = false, int layers = 4,
        int hidden = 32, int heads = 4, int kvHeads = 2, int vocab = 96, bool bias = false, RopeScaling? scaling = null) => new()
    {
        Architecture = arch,
        HiddenSize = hidden,
        IntermediateSize = hidden * 2 + 8,
        NumLayers = layers,
        NumHeads = heads,
        NumKeyValueHeads = kvHeads,
        HeadDim = hidden / heads,
        VocabSize = vocab,
        MaxPositionEmbeddings = 128,
        RmsNormEps = 1e-5,
        RopeTheta = 10000,
        RopeScaling = scaling,
        TieWordEmbeddings = tied,
        AttentionBias = bias || arch == ModelArchitecture.Qwen2,
        BosTokenId = 1,
        EosTokenIds = [2],
    };

    /// <summary>Writes config.json and model.safetensors (F32, or BF16 when asked) with seeded random weights.</summary>
    public static TinyCheckpoint Create(ModelConfig c, int seed = 1, SafeTensorDType dtype = SafeTensorDType.F32, bool sharded = false)
    {
        var folder = Path.Combine(Path.GetTempPath(), "layerskip-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var ckpt = new TinyCheckpoint(folder, c);
        var rng = new Random(seed);
        long h = c.HiddenSize, q = c.NumHeads * c.HeadDim, kv = c.NumKeyValueHeads * c.HeadDim, i = c.IntermediateSize;
        void Add(string name, double scale, params long[] shape)
        {
            var n = shape.Aggregate(1L, (a, b) => a * b);
            var v = new float[n];
            for (var j = 0; j < n; j++) v[j] = (float)((rng.NextDouble() * 2 - 1) * scale);
            if (dtype == SafeTensorDType.BF16) for (var j = 0; j < n; j++) v[j] = RoundToBf16(v[j]);
            ckpt.Weights[name] = v;
            ckpt._shapes[name] = shape;
        }
        void Norm(string name, long n)
        {
            Add(name, 0.2, n);
            var v = ckpt.Weights[name];
            for (var j = 0; j < n; j++) v[j] = dtype == SafeTensorDType.BF16 ? RoundToBf16(1 + v[j]) : 1 + v[j];
        }
        Add("model.embed_tokens.weight", 1.0, c.VocabSize, h);
        for (var l = 0; l < c.NumLayers; l++)
        {
            var p = $"model.layers.{l}.";
            Norm(p + "input_layernorm.weight", h);
            Add(p + "self_attn.q_proj.weight", 0.3, q, h);
            Add(p + "self_attn.k_proj.weight", 0.3, kv, h);
            Add(p + "self_attn.v_proj.weight", 0.3, kv, h);
            if (c.AttentionBias)
            {
                Add(p + "self_attn.q_proj.bias", 0.2, q);
                Add(p + "self_attn.k_proj.bias", 0.2, kv);
                Add(p + "self_attn.v_proj.bias", 0.2, kv);
            }
            if (c.QkNorm)
            {
                Norm(p + "self_attn.q_norm.weight", c.HeadDim);
                Norm(p + "self_attn.k_norm.weight", c.HeadDim);
            }
            Add(p + "self_attn.o_proj.weight", 0.3, h, q);
            Norm(p + "post_attention_layernorm.weight", h);
            Add(p + "mlp.gate_proj.weight", 0.3, i, h);
            Add(p + "mlp.up_proj.weight", 0.3, i, h);
            Add(p + "mlp.down_proj.weight", 0.3, h, i);
        }
        Norm("model.norm.weight", h);
        if (!c.TieWordEmbeddings) Add("lm_head.weight", 0.5, c.VocabSize, h);

        File.WriteAllText(Path.Combine(folder, "config.json"), c.ToJson().ToJsonString());
        var entries = ckpt.Weights.Select(kv => Entry(kv.Key, kv.Value, ckpt._shapes[kv.Key], dtype)).ToList();
        if (!sharded)
            SafeTensorsWriter.Write(Path.Combine(folder, "model.safetensors"), entries);
        else
        {
            var half = entries.Count / 2;
            SafeTensorsWriter.Write(Path.Combine(folder, "model-00001-of-00002.safetensors"), entries.Take(half));
            SafeTensorsWriter.Write(Path.Combine(folder, "model-00002-of-00002.safetensors"), entries.Skip(half));
            var map = new JsonObject();
            for (var j = 0; j < entries.Count; j++)
                map[entries[j].Name] = j < half ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
            File.WriteAllText(Path.Combine(folder, "model.safetensors.index.json"),
                new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map }.ToJsonString());
        }
        return ckpt;
    }

    private readonly Dictionary<string, long[]> _shapes = new();

    private static SafeTensorsWriter.Entry Entry(string name, float[] v, long[] shape, SafeTensorDType dtype)
    {
        if (dtype == SafeTensorDType.F32) return SafeTensorsWriter.F32(name, v, shape);
        var bytes = new byte[v.Length * 2];
        for (var j = 0; j < v.Length; j++)
        {
            var bits = BitConverter.SingleToUInt32Bits(v[j]);
            bytes[2 * j] = (byte)(bits >> 16);
            bytes[2 * j + 1] = (byte)(bits >> 24);
        }
        return new SafeTensorsWriter.Entry(name, dtype, shape, bytes);
    }

    private static float RoundToBf16(float f)
    {
        var bits = BitConverter.SingleToUInt32Bits(f);
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000;
        return BitConverter.UInt32BitsToSingle(bits);
    }

    public void Dispose()
    {
        try { Directory.Delete(Folder, true); } catch (IOException) { }
    }
}
