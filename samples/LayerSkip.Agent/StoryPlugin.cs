using System.ComponentModel;
using Microsoft.SemanticKernel;

namespace LayerSkip.Samples.Agent;

/// <summary>A kernel plugin the agent may call: facts for the story it writes.</summary>
public sealed class StoryPlugin
{
    private readonly List<string> _calls = [];

    /// <summary>How many times the model called a function of this plugin.</summary>
    public int Calls { get { lock (_calls) return _calls.Count; } }

    /// <summary>Each call and what it returned, in order.</summary>
    public IReadOnlyList<string> CallLog { get { lock (_calls) return _calls.ToList(); } }

    private string Record(string call, string result)
    {
        lock (_calls) _calls.Add($"{call} -> {result}");
        return result;
    }

    [KernelFunction("get_hero"), Description("Gets the name and kind of the hero of today's story.")]
    public string GetHero() => Record("story.get_hero()", "Lily, a little girl who loves the sea");

    [KernelFunction("get_weather"), Description("Gets today's weather in a place.")]
    public string GetWeather([Description("The place")] string place) =>
        Record($"story.get_weather(\"{place}\")", $"It is sunny and warm in {place}.");
}
