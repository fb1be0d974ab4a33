using LayerSkip.Engine.Model;
using TorchSharp;
using static TorchSharp.torch;
var m = DecoderModel.Load(args[0], ScalarType.Float32, CPU);
using var _ = no_grad();
var cache = m.CreateCache(1, 64);
long[] ids = [1, 403, 407, 261, 378];
var logits = m.Forward(tensor(ids, [1, ids.Length]), cache);
var outIds = new List<long>();
for (int i = 0; i < 60; i++)
{
    var next = logits[0, -1].argmax().item<long>();
    outIds.Add(next);
    logits = m.Forward(tensor(new[] { next }, [1, 1]), cache);
}
Console.WriteLine(string.Join(" ", outIds));
