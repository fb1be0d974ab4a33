using System.Globalization;
using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace LayerSkip.Engine.Training.Routing;

/// <summary>
/// Token-level routers (Zeng et al. 2023, "Learning to Skip for Language Modeling"): one linear router per layer reads
/// the layer's input hidden state (RMS-normalised, no weight) and gives one logit; a token runs the layer when the logit
/// is positive, otherwise it passes through unchanged (its keys and values are still written, see
/// <see cref="DecoderModel.Forward"/>). Saved as safetensors: <c>router.weight</c> [layers, hidden] and
/// <c>router.bias</c> [layers], with the budget and shape in the metadata.
/// Measures the execution rate of every layer while it routes (reset with <see cref="ResetRates"/>).
/// </summary>
public sealed class LayerRouterSet : ILayerRouter, IDisposable
{
    private readonly long[] _ran, _seen;

    public Parameter Weight { get; }
    public Parameter Bias { get; }
    public int LayerCount { get; }
    public int HiddenSize { get; }
    /// <summary>The execution rate per layer the routers were trained towards.</summary>
    public double Budget { get; }
    /// <summary>Count tokens run and seen per layer while routing (costs a host sync per layer).</summary>
    public bool TrackRates { get; set; } = true;

    /// <summary>Routers over existing tensors (taken over); files are read by <see cref="RouterFile"/>.</summary>
    internal LayerRouterSet(Tensor weight, Tensor bias, double budget)
    {
        LayerCount = (int)weight.shape[0];
        HiddenSize = (int)weight.shape[1];
        // Parameter takes over the tensors' native handles.
        Weight = new Parameter(weight, requires_grad: false);
        Bias = new Parameter(bias, requires_grad: false);
        Budget = budget;
        _ran = new long[LayerCount];
        _seen = new long[LayerCount];
    }

    /// <summary>Fresh routers: small random weights and a bias that starts every layer at <paramref name="initialRate"/>.</summary>
    public static LayerRouterSet Create(int layers, int hidden, double budget, int seed, double initialRate = 0.95, Device? device = null)
    {
        using var _ = no_grad();
        device ??= CPU;
        var generator = new Generator((ulong)seed, device);
        var weight = (randn([layers, hidden], ScalarType.Float32, device, generator: generator) * (0.1 / Math.Sqrt(hidden))).DetachFromDisposeScope();
        var bias = full([layers], Math.Log(initialRate / (1 - initialRate)), ScalarType.Float32, device).DetachFromDisposeScope();
        return new LayerRouterSet(weight, bias, budget);
    }

    public void Save(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        SafeTensorsWriter.Write(path,
            [HfCheckpointWriter.Entry("router.weight", Weight), HfCheckpointWriter.Entry("router.bias", Bias)],
            new Dictionary<string, string>
            {
                ["format"] = "layerskip-token-router",
                ["budget"] = Budget.ToString("R", CultureInfo.InvariantCulture),
                ["num_layers"] = LayerCount.ToString(CultureInfo.InvariantCulture),
                ["hidden_size"] = HiddenSize.ToString(CultureInfo.InvariantCulture),
            });
    }

    /// <summary>Router logits [batch, chunk] of layer <paramref name="layer"/> for its input hidden states.</summary>
    public Tensor Logits(int layer, Tensor layerInput)
    {
        var x = layerInput.dtype == ScalarType.Float32 ? layerInput : layerInput.to(ScalarType.Float32);
        x = x * rsqrt(x.pow(2).mean([-1L], keepdim: true) + 1e-6);
        return F.linear(x, Weight.narrow(0, layer, 1), Bias.narrow(0, layer, 1)).squeeze(-1);
    }

    public Tensor? RunMask(int layer, Tensor layerInput)
    {
        if (layerInput.shape[^1] != HiddenSize)
            throw new ArgumentException($"The routers are for hidden size {HiddenSize}, the model's is {layerInput.shape[^1]}.");
        var run = Logits(layer, layerInput) > 0;
        if (TrackRates)
        {
            _ran[layer] += run.sum().item<long>();
            _seen[layer] += run.NumberOfElements;
        }
        return run;
    }

    /// <summary>Measured fraction of tokens that ran each layer since the last reset (NaN for layers not seen).</summary>
    public IReadOnlyList<double> ExecutionRates => _ran.Select((r, l) => _seen[l] == 0 ? double.NaN : (double)r / _seen[l]).ToArray();

    /// <summary>Measured fraction of (token, layer) pairs that ran: the layer compute actually spent, relative to full depth.</summary>
    public double ExecutionRate => _seen.Sum() == 0 ? double.NaN : (double)_ran.Sum() / _seen.Sum();

    public void ResetRates()
    {
        Array.Clear(_ran);
        Array.Clear(_seen);
    }

    public void Dispose()
    {
        Weight.Dispose();
        Bias.Dispose();
    }
}
