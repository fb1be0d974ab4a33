using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using LayerSkip.Extensions.AI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

namespace LayerSkip.Extensions.AI.Tests.DependencyInjection;

public class MetricsTests
{
    /// <summary>Collects the measurements of one meter instance.</summary>
    private sealed class Recorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        public ConcurrentQueue<(string Name, double Value, Dictionary<string, object?> Tags)> Items { get; } = new();

        public Recorder(Meter meter)
        {
            _listener.InstrumentPublished = (instrument, l) => { if (instrument.Meter == meter) l.EnableMeasurementEvents(instrument); };
            _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
            _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Add(i, v, tags));
            _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
            _listener.Start();
        }

        private void Add(Instrument i, double v, ReadOnlySpan<KeyValuePair<string, object?>> tags) =>
            Items.Enqueue((i.Name, v, new Dictionary<string, object?>(tags.ToArray())));

        public List<double> Values(string name) => Items.Where(x => x.Name == name).Select(x => x.Value).ToList();
        public void Observe() => _listener.RecordObservableInstruments();
        public void Dispose() => _listener.Dispose();
    }

    [Fact]
    public async Task TheLayerSkipMeterReportsSpeedLayersBatchAndQueueWhenAsked()
    {
        var builder = TestHosts.Builder();
        builder.Services.AddLayerSkipChatClient(TestHosts.Stories).UseLayerSkipMetrics();
        using var host = builder.Build();
        await host.StartAsync();
        var metrics = host.Services.GetRequiredService<LayerSkipMetrics>();
        Assert.Equal(LayerSkipMetrics.MeterName, metrics.Meter.Name);
        using var recorder = new Recorder(metrics.Meter);

        var client = host.Services.GetRequiredService<IChatClient>();
        var response = await client.GetResponseAsync(TestHosts.Prompt, TestHosts.Greedy(10).WithLayerSkip(2));
        var streamed = await client.GetStreamingResponseAsync(TestHosts.Prompt, TestHosts.Greedy(6)).ToChatResponseAsync();
        recorder.Observe();

        // Decode speed per policy; token counts and time to first chunk are left to UseOpenTelemetry().
        var speeds = recorder.Items.Where(x => x.Name == "layerskip.decode.tokens_per_second").ToList();
        Assert.Equal(2, speeds.Count(x => x.Value > 0));
        Assert.All(speeds, x => Assert.Equal("stories260K", x.Tags[LayerSkipMetrics.ModelTag]));
        Assert.Equal(["Unified", "Unified"], speeds.Select(x => x.Tags[LayerSkipMetrics.PolicyTag]));
        Assert.DoesNotContain(recorder.Items, x => x.Name.StartsWith("layerskip.tokens", StringComparison.Ordinal) || x.Name == "layerskip.time_to_first_token");

        // One measurement per decoded token (the first token of each response comes from the prefill).
        var layers = recorder.Values("layerskip.decode.layers_per_token");
        Assert.Equal(9 + 5, layers.Count);
        Assert.Equal(9, layers.Count(v => v == 2));
        Assert.Equal(5, layers.Count(v => v == 5));
        Assert.All(recorder.Values("layerskip.decode.batch_size"), v => Assert.Equal(1, v));
        Assert.Equal([0.0], recorder.Values("layerskip.queue.length"));
        Assert.Equal([0.0], recorder.Values("layerskip.requests.pending"));
        await host.StopAsync();
    }

    [Fact]
    public async Task WithoutUseLayerSkipMetricsNothingIsMeasured()
    {
        var builder = TestHosts.Builder();
        builder.Services.AddLayerSkipChatClient(TestHosts.Stories);
        using var host = builder.Build();
        await host.StartAsync();
        using var recorder = new Recorder(host.Services.GetRequiredService<LayerSkipMetrics>().Meter);
        await host.Services.GetRequiredService<IChatClient>().GetResponseAsync(TestHosts.Prompt, TestHosts.Greedy(6));
        recorder.Observe();
        Assert.Empty(recorder.Items);
        await host.StopAsync();
    }

    [Fact]
    public async Task TheMetricsClientKeepsTheResponseMetadataOfAnyInnerClient()
    {
        using var metrics = new LayerSkipMetrics();
        using var recorder = new Recorder(metrics.Meter);
        var inner = new ScriptedChatClient((_, _) =>
        {
            var r = new ChatResponse(new ChatMessage(ChatRole.Assistant, "hello there")) { Usage = new UsageDetails { InputTokenCount = 4, OutputTokenCount = 3 } };
            new LayerSkipInfo(2, Engine.Skipping.LayerPolicy.EarlyExit, [0, 1]).WriteTo(r.AdditionalProperties = []);
            return r;
        });
        using var client = new LayerSkipMetricsChatClient(inner, metrics, "scripted");
        var response = await client.GetResponseAsync("hi");
        Assert.Equal("hello there", response.Text);
        Assert.Equal([0, 1], response.GetLayerSkipInfo()!.KeptLayers);
        Assert.All(recorder.Items, x => Assert.Equal(("scripted", "EarlyExit"), (x.Tags[LayerSkipMetrics.ModelTag], x.Tags[LayerSkipMetrics.PolicyTag])));
    }
}
