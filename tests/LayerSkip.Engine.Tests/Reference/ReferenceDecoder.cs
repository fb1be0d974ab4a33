using LayerSkip.Engine.Loading;

namespace LayerSkip.Engine.Tests.Reference;

/// <summary>
/// A deliberately naive LLaMA-family forward pass in plain double arrays, written from the architecture's
/// definition (not from the engine's code): no cache, no batching, no fusing. Position t runs every layer if
/// t &lt; fullDepthPositions, else only the layers in <c>runs</c>; attention at a layer sees the earlier positions
/// that ran that layer (which is all of them, for a layer that is kept).
/// </summary>
public sealed class ReferenceDecoder(ModelConfig c, IReadOnlyDictionary<string, float[]> w)
{
    /// <summary>
    /// Logits [position][vocab] for every position of the sequence. <paramref name="projectionInput"/>, if given, is
    /// told the vector each projection multiplies at each position: (layer, name, input) with names q_proj (also k and
    /// v), o_proj, gate_proj (also up), down_proj, and lm_head at layer −1.
    /// </summary>
    public double[][] Logits(IReadOnlyList<int> tokens, Func<int, bool>? runs = null, int fullDepthPositions = int.MaxValue,
        Action<int, string, double[]>? projectionInput = null)
    {
        int n = tokens.Count, h = c.HiddenSize, d = c.HeadDim;
        var x = new double[n][];
        for (var t = 0; t < n; t++) x[t] = Row(w["model.embed_tokens.weight"], tokens[t], h);

        for (var l = 0; l < c.NumLayers; l++)
        {
            var p = $"model.layers.{l}.";
            var ran = new bool[n];
            for (var t = 0; t < n; t++) ran[t] = t < fullDepthPositions || runs is null || runs(l);
            var keys = new double[n][][];
            var values = new double[n][][];
            var queries = new double[n][][];
            for (var t = 0; t < n; t++)
            {
                if (!ran[t]) continue;
                var hn = RmsNorm(x[t], w[p + "input_layernorm.weight"]);
                projectionInput?.Invoke(l, "q_proj", hn);
                var q = Heads(Linear(hn, p + "self_attn.q_proj", c.NumHeads * d), c.NumHeads);
                var k = Heads(Linear(hn, p + "self_attn.k_proj", c.NumKeyValueHeads * d), c.NumKeyValueHeads);
                var v = Heads(Linear(hn, p + "self_attn.v_proj", c.NumKeyValueHeads * d), c.NumKeyValueHeads);
                if (c.QkNorm)
                {
                    q = q.Select(qh => RmsNorm(qh, w[p + "self_attn.q_norm.weight"])).ToArray();
                    k = k.Select(kh => RmsNorm(kh, w[p + "self_attn.k_norm.weight"])).ToArray();
                }
                queries[t] = q.Select(qh => Rope(qh, t)).ToArray();
                keys[t] = k.Select(kh => Rope(kh, t)).ToArray();
                values[t] = v;
            }
            for (var t = 0; t < n; t++)
            {
                if (!ran[t]) continue;
                var attn = new double[c.NumHeads * d];
                for (var head = 0; head < c.NumHeads; head++)
                {
                    var kvHead = head / (c.NumHeads / c.NumKeyValueHeads);
                    var visible = Enumerable.Range(0, t + 1).Where(s => ran[s]).ToList();
                    var scores = visible.Select(s => Dot(queries[t][head], keys[s][kvHead]) / Math.Sqrt(d)).ToArray();
                    var probs = Softmax(scores);
                    for (var i = 0; i < visible.Count; i++)
                        for (var j = 0; j < d; j++) attn[head * d + j] += probs[i] * values[visible[i]][kvHead][j];
                }
                projectionInput?.Invoke(l, "o_proj", attn);
                var o = MatVec(w[p + "self_attn.o_proj.weight"], attn, h);
                var mid = x[t].Zip(o, (a, b) => a + b).ToArray();
                var hn2 = RmsNorm(mid, w[p + "post_attention_layernorm.weight"]);
                projectionInput?.Invoke(l, "gate_proj", hn2);
                var gate = MatVec(w[p + "mlp.gate_proj.weight"], hn2, c.IntermediateSize);
                var up = MatVec(w[p + "mlp.up_proj.weight"], hn2, c.IntermediateSize);
                var act = gate.Zip(up, (g, u) => g / (1 + Math.Exp(-g)) * u).ToArray();
                projectionInput?.Invoke(l, "down_proj", act);
                var down = MatVec(w[p + "mlp.down_proj.weight"], act, h);
                x[t] = mid.Zip(down, (a, b) => a + b).ToArray();
            }
        }
        var head2 = c.TieWordEmbeddings ? w["model.embed_tokens.weight"] : w["lm_head.weight"];
        return x.Select(xt =>
        {
            var normed = RmsNorm(xt, w["model.norm.weight"]);
            projectionInput?.Invoke(-1, "lm_head", normed);
            return MatVec(head2, normed, c.VocabSize);
        }).ToArray();
    }

    private double[] Linear(double[] x, string name, int outDim)
    {
        var y = MatVec(w[name + ".weight"], x, outDim);
        if (w.TryGetValue(name + ".bias", out var b)) for (var i = 0; i < outDim; i++) y[i] += b[i];
        return y;
    }

    private double[][] Heads(double[] x, int heads) =>
        Enumerable.Range(0, heads).Select(hd => x.Skip(hd * c.HeadDim).Take(c.HeadDim).ToArray()).ToArray();

    private double[] Rope(double[] x, int pos)
    {
        var half = c.HeadDim / 2;
        var inv = InverseFrequencies();
        var y = new double[c.HeadDim];
        for (var j = 0; j < half; j++)
        {
            double cos = Math.Cos(pos * inv[j]), sin = Math.Sin(pos * inv[j]);
            y[j] = x[j] * cos - x[j + half] * sin;
            y[j + half] = x[j + half] * cos + x[j] * sin;
        }
        return y;
    }

    private double[] InverseFrequencies()
    {
        var half = c.HeadDim / 2;
        var inv = Enumerable.Range(0, half).Select(j => 1.0 / Math.Pow(c.RopeTheta, 2.0 * j / c.HeadDim)).ToArray();
        if (c.RopeScaling is not { } s) return inv;
        // Llama 3.1's published frequency rule: keep high frequencies, divide low ones by the factor, blend between.
        double lowWl = s.OriginalMaxPositionEmbeddings / s.LowFreqFactor, highWl = s.OriginalMaxPositionEmbeddings / s.HighFreqFactor;
        return inv.Select(f =>
        {
            var wl = 2 * Math.PI / f;
            if (wl < highWl) return f;
            if (wl > lowWl) return f / s.Factor;
            var smooth = (s.OriginalMaxPositionEmbeddings / wl - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
            return (1 - smooth) * f / s.Factor + smooth * f;
        }).ToArray();
    }

    private double[] RmsNorm(double[] x, float[] weight)
    {
        var ms = x.Sum(v => v * v) / x.Length;
        var r = 1 / Math.Sqrt(ms + c.RmsNormEps);
        return x.Select((v, i) => v * r * weight[i]).ToArray();
    }

    private static double[] Row(float[] m, int row, int cols) => Enumerable.Range(0, cols).Select(j => (double)m[row * cols + j]).ToArray();

    private static double[] MatVec(float[] m, double[] x, int rows)
    {
        var y = new double[rows];
        for (var i = 0; i < rows; i++)
        {
            double s = 0;
            for (var j = 0; j < x.Length; j++) s += m[i * x.Length + j] * x[j];
            y[i] = s;
        }
        return y;
    }

    private static double Dot(double[] a, double[] b) => a.Zip(b, (x, y) => x * y).Sum();

    private static double[] Softmax(double[] s)
    {
        var max = s.Max();
        var e = s.Select(v => Math.Exp(v - max)).ToArray();
        var sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }
}
