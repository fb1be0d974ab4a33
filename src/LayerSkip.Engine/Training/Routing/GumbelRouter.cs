using LayerSkip.Engine.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Training.Routing;

/// <summary>
/// The training-time view of a <see cref="LayerRouterSet"/>: each token's run/skip decision is a hard binary Gumbel-softmax
/// sample (logistic noise on the router logit, threshold at 0) with the straight-through gradient of the soft sample.
/// <see cref="Combine"/> mixes layer output and input with that gate, so the LM loss reaches the router weights; the
/// execution probability sigmoid(logit) of each layer is kept for the budget penalty.
/// </summary>
internal sealed class GumbelRouter(LayerRouterSet routers, double temperature, Generator generator) : ILayerRouter
{
    private readonly Tensor?[] _gates = new Tensor?[routers.LayerCount];

    /// <summary>Mean execution probability of each layer routed in the current forward pass.</summary>
    public List<Tensor> LayerRates { get; } = [];

    public Tensor? RunMask(int layer, Tensor layerInput)
    {
        var logits = routers.Logits(layer, layerInput);
        var u = rand(logits.shape, ScalarType.Float32, logits.device, generator: generator).clamp_(1e-6, 1 - 1e-6);
        var noise = u.log() - (-u).log1p();
        var soft = ((logits + noise) / temperature).sigmoid();
        var hard = soft > 0.5;
        _gates[layer] = hard.to(ScalarType.Float32) - soft.detach() + soft;
        LayerRates.Add(logits.sigmoid().mean());
        return hard;
    }

    public Tensor Combine(int layer, Tensor run, Tensor layerOutput, Tensor layerInput)
    {
        var g = _gates[layer]!.unsqueeze(-1).to(layerOutput.dtype);
        return layerInput + g * (layerOutput - layerInput);
    }

    /// <summary>Sum over layers of the squared distance between each layer's execution probability and the budget.</summary>
    public Tensor BudgetPenalty(double budget) =>
        LayerRates.Select(r => (r - budget).pow(2)).Aggregate((a, b) => a + b);
}
