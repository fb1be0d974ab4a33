using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using LayerSkip.Engine.Loading;
using LayerSkip.Engine.Model;
using LayerSkip.Engine.Tests.Reference;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LayerSkip.Engine.Tests.Loading;

/// <summary>
/// Seeded mutations of a small model's safetensors header and config.json, loaded in-process: every load either
/// succeeds or fails with a <see cref="ModelLoadException"/>; none throws anything else, hangs, or allocates much.
/// </summary>
[Collection(AllocationMeasurements.Name)]
public class LoaderFuzzTests(ITestOutputHelper output)
{
    private const int Iterations = 400;
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData(20261129)]
    public void MutatedHeadersAndConfigsLoadOrFailWithModelLoadException(int seed)
    {
        using var ckpt = TinyCheckpoint.Create(TinyCheckpoint.LlamaConfig(layers: 3, hidden: 16, heads: 2, kvHeads: 1, vocab: 40));
        var weightsPath = Path.Combine(ckpt.Folder, "model.safetensors");
        var configPath = Path.Combine(ckpt.Folder, "config.json");
        var weights = File.ReadAllBytes(weightsPath);
        var config = File.ReadAllText(configPath);
        var rng = new Random(seed);
        DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU).Dispose(); // the first load starts libtorch: not a mutation's cost
        var clock = Stopwatch.StartNew();
        int loaded = 0, refused = 0, run = 0;
        for (; run < Iterations && clock.Elapsed < Budget; run++)
        {
            var (newWeights, newConfig, what) = rng.Next(2) == 0
                ? (MutateHeader(weights, rng, out var w), config, w)
                : (weights, MutateConfig(config, rng, out var c), c);
            File.WriteAllBytes(weightsPath, newWeights);
            File.WriteAllText(configPath, newConfig);

            var allocated = GC.GetTotalAllocatedBytes();
            var one = Stopwatch.StartNew();
            try
            {
                DecoderModel.Load(ckpt.Folder, ScalarType.Float32, CPU).Dispose();
                loaded++;
            }
            catch (ModelLoadException e)
            {
                Assert.False(string.IsNullOrEmpty(e.FilePath), $"#{run} ({what}): no file named: {e.Message}");
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"#{run} ({what}) threw {e.GetType().Name}: {e.Message}");
            }
            Assert.True(one.Elapsed < TimeSpan.FromSeconds(5), $"#{run} ({what}) took {one.Elapsed}");
            var delta = GC.GetTotalAllocatedBytes() - allocated;
            Assert.True(delta < 32L << 20, $"#{run} ({what}) allocated {delta >> 20} MiB");
        }
        output.WriteLine($"{run} mutations in {clock.Elapsed.TotalSeconds:0.0} s: {loaded} loaded, {refused} refused");
        Assert.True(run >= 50, $"only {run} mutations ran within the budget");
        Assert.True(refused > run / 4, "the mutations should mostly break the folder");
    }

    private static readonly JsonNode?[] Values =
    [
        null, 0, -1, 1, 2, 7, 255, 1 << 20, int.MaxValue, 999_999_995, 1L << 40, long.MaxValue, -(1L << 40), 0.5, -0.0, 1e300, 1e-300,
        "", "x", "F32", "I32", "BF16", "llama", "\u0000", true, false, new JsonArray(), new JsonArray(1), new JsonArray(-1, 5),
        new JsonArray(0, 1L << 62), new JsonArray("x"), new JsonArray((JsonNode?)null), new JsonObject(), new JsonObject { ["a"] = 1 },
    ];

    private static JsonNode? AnyValue(Random rng) => Values[rng.Next(Values.Length)]?.DeepClone();

    private static byte[] MutateHeader(byte[] file, Random rng, out string what)
    {
        var headerLength = (int)BitConverter.ToUInt64(file, 0);
        var data = file[(8 + headerLength)..];
        var header = Encoding.UTF8.GetString(file, 8, headerLength);
        switch (rng.Next(6))
        {
            case 0: // a random byte anywhere in the length or the header
            {
                var bytes = (byte[])file.Clone();
                var at = rng.Next(8 + headerLength);
                bytes[at] = (byte)rng.Next(256);
                what = $"byte {at} = {bytes[at]}";
                return bytes;
            }
            case 1: // the header length
            {
                var bytes = (byte[])file.Clone();
                var length = rng.Next(3) switch { 0 => (ulong)rng.NextInt64(), 1 => (ulong)(headerLength + rng.Next(-16, 17)), _ => (ulong)rng.Next(0, 16) };
                BitConverter.GetBytes(length).CopyTo(bytes, 0);
                what = $"header length {length}";
                return bytes;
            }
            case 2: // truncation
            {
                var at = rng.Next(file.Length);
                what = $"truncated at {at}";
                return file[..at];
            }
            case 3: // a digit changed, inserted or removed in the header text (length kept consistent)
            {
                var digits = Enumerable.Range(0, header.Length).Where(i => char.IsAsciiDigit(header[i])).ToArray();
                var i = digits[rng.Next(digits.Length)];
                var edited = rng.Next(3) switch
                {
                    0 => header[..i] + (char)('0' + rng.Next(10)) + header[(i + 1)..],
                    1 => header[..i] + new string((char)('1' + rng.Next(9)), rng.Next(1, 12)) + header[i..],
                    _ => header[..i] + header[(i + 1)..],
                };
                what = $"digit edit at {i}";
                return Assemble(edited, data);
            }
            default: // a field of a tensor entry replaced or removed
            {
                var json = JsonNode.Parse(header)!.AsObject();
                var names = json.Select(p => p.Key).ToArray();
                var name = names[rng.Next(names.Length)];
                var field = new[] { "dtype", "shape", "data_offsets" }[rng.Next(3)];
                var value = AnyValue(rng);
                if (json[name] is JsonObject entry)
                {
                    if (rng.Next(5) == 0) entry.Remove(field);
                    else entry[field] = value;
                }
                else json[name] = value;
                what = $"{name}.{field} = {value?.ToJsonString() ?? "null/removed"}";
                return Assemble(json.ToJsonString(), data);
            }
        }
    }

    private static byte[] Assemble(string header, byte[] data)
    {
        var h = Encoding.UTF8.GetBytes(header);
        return [.. BitConverter.GetBytes((ulong)h.Length), .. h, .. data];
    }

    private static readonly string[] ConfigKeys =
    [
        "model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
        "head_dim", "vocab_size", "max_position_embeddings", "rms_norm_eps", "rope_theta", "rope_scaling", "tie_word_embeddings",
        "attention_bias", "bos_token_id", "eos_token_id", "torch_dtype",
    ];

    private static string MutateConfig(string config, Random rng, out string what)
    {
        if (rng.Next(6) == 0)
        {
            var chars = config.ToCharArray();
            var at = rng.Next(chars.Length);
            chars[at] = (char)rng.Next(32, 127);
            what = $"config char {at} = '{chars[at]}'";
            return new string(chars);
        }
        var json = JsonNode.Parse(config)!.AsObject();
        var key = ConfigKeys[rng.Next(ConfigKeys.Length)];
        if (rng.Next(6) == 0)
        {
            json.Remove(key);
            what = $"config without {key}";
        }
        else
        {
            var value = key == "rope_scaling" && rng.Next(2) == 0
                ? new JsonObject { ["rope_type"] = "llama3", [new[] { "factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings" }[rng.Next(4)]] = AnyValue(rng) }
                : AnyValue(rng);
            json[key] = value;
            what = $"config {key} = {value?.ToJsonString() ?? "null"}";
        }
        return json.ToJsonString();
    }
}
