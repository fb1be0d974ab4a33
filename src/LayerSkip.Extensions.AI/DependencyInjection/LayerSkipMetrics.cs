using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using LayerSkip.Engine.Generation;
using LayerSkip.Engine.Skipping;

namespace LayerSkip.Extensions.AI;

/// <summary>
/// The <c>LayerSkip</c> meter, switched on with <c>UseLayerSkipMetrics()</c>: what only layer skipping has —
/// layers run per decoded token, batch size per decode step, the engine's queue, and decode speed per skip policy.
/// Token counts and time to first chunk are <c>UseOpenTelemetry()</c>'s (gen_ai.* instruments), not repeated here.
/// Engine-side numbers come from <see cref="InferenceEngine.DecodeStep"/>; response-side numbers from
/// <see cref="LayerSkipMetricsChatClient"/>. Every measurement carries the model id as <c>layerskip.model</c>.
/// </summary>
public sealed class LayerSkipMetrics : IDisposable
{
    /// <summary>The meter name to listen to (OpenTelemetry <c>AddMeter("LayerSkip")</c>, <c>dotnet-counters</c>).</summary>
    public const string MeterName = "LayerSkip";
    /// <summary>Tag with the model id on every measurement.</summary>
    public const string ModelTag = "layerskip.model";
    /// <summary>Tag with the skip policy on response measurements.</summary>
    public const string PolicyTag = "layerskip.policy";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly ConcurrentDictionary<InferenceEngine, string> _engines = new();

    /// <summary>Creates the meter through <paramref name="meterFactory"/> when given (DI), else a meter of its own.</summary>
    public LayerSkipMetrics(IMeterFactory? meterFactory = null)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        DecodeTokensPerSecond = _meter.CreateHistogram<double>("layerskip.decode.tokens_per_second", "{token}/s",
            "Decode speed of each response: tokens after the first divided by the time from the first token to the last.");
        LayersPerToken = _meter.CreateHistogram<int>("layerskip.decode.layers_per_token", "{layer}",
            "Transformer layers run for each decoded token (one measurement per token of each decode step).");
        BatchSize = _meter.CreateHistogram<int>("layerskip.decode.batch_size", "{sequence}", "Sequences decoded together in one decode step.");
        _meter.CreateObservableGauge("layerskip.queue.length", () => Observe(e => e.QueuedRequests), "{request}",
            "Requests waiting for their prefill.");
        _meter.CreateObservableGauge("layerskip.requests.pending", () => Observe(e => e.PendingRequests), "{request}",
            "Requests waiting or decoding.");
    }

    /// <summary>The meter itself.</summary>
    public Meter Meter => _meter;
    /// <summary><c>layerskip.decode.tokens_per_second</c>.</summary>
    public Histogram<double> DecodeTokensPerSecond { get; }
    /// <summary><c>layerskip.decode.layers_per_token</c>.</summary>
    public Histogram<int> LayersPerToken { get; }
    /// <summary><c>layerskip.decode.batch_size</c>.</summary>
    public Histogram<int> BatchSize { get; }

    /// <summary>Starts measuring decode steps and the queue of <paramref name="engine"/>; dispose the result to stop.</summary>
    public IDisposable ObserveEngine(InferenceEngine engine, string model)
    {
        ArgumentNullException.ThrowIfNull(engine);
        var tag = new KeyValuePair<string, object?>(ModelTag, model);
        void OnStep(LayerPlan plan, int batch)
        {
            BatchSize.Record(batch, tag);
            var layers = plan.KeptLayers.Count;
            for (var i = 0; i < batch; i++) LayersPerToken.Record(layers, tag);
        }
        if (!_engines.TryAdd(engine, model)) return new Subscription(() => { }); // already observed (one count per step)
        engine.DecodeStep += OnStep;
        return new Subscription(() =>
        {
            engine.DecodeStep -= OnStep;
            _engines.TryRemove(engine, out _);
        });
    }

    private IEnumerable<Measurement<int>> Observe(Func<InferenceEngine, int> read)
    {
        foreach (var (engine, model) in _engines)
        {
            int value;
            try { value = read(engine); }
            catch (ObjectDisposedException) { continue; }
            yield return new Measurement<int>(value, new KeyValuePair<string, object?>(ModelTag, model));
        }
    }

    public void Dispose()
    {
        _engines.Clear();
        if (_ownsMeter) _meter.Dispose();
    }

    private sealed class Subscription(Action dispose) : IDisposable
    {
        private Action? _dispose = dispose;
        public void Dispose() => Interlocked.Exchange(ref _dispose, null)?.Invoke();
    }
}
