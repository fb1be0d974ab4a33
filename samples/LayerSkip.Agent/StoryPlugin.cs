using System.ComponentModel;
using Microsoft.SemanticKernel;

namespace LayerSkip.Samples.Agent;

/// <summary>A kernel plugin the agent may call: facts for the story it writes.</summary>
public sealed class StoryPlugin
{
    private int _calls;

    /// <summary>How many times the model called a function of this plugin.</summary>
    public int Calls => _calls;

    [KernelFunction("get_hero"), Description("Gets the name and kind of the hero of today's story.")]
    public string GetHero()
    {
        Interlocked.Increment(ref _calls);
        return "Lily, a little girl who loves the sea";
    }

    [KernelFunction("get_weather"), Description("Gets today's weather in a place.")]
    public string GetWeather([Description("The place")] string place)
    {
        Interlocked.Increment(ref _calls);
        return $"It is sunny and warm in {place}.";
    }
}
