using LayerSkip.Engine.Generation;

namespace LayerSkip.Engine.Tests.Generation;

public class PromptLookupTests
{
    [Fact]
    public void ProposesWhatFollowedTheLatestEarlierOccurrenceOfTheSuffix()
    {
        // "7 8" occurred twice before the end; the latest occurrence is followed by 9 5 7 8.
        int[] history = [1, 7, 8, 3, 4, 7, 8, 9, 5, 7, 8];
        Assert.Equal([9, 5, 7, 8], PromptLookup.Propose(history, 6));
        Assert.Equal([9, 5], PromptLookup.Propose(history, 2));
    }

    [Fact]
    public void LongerMatchesWinOverLaterShorterOnes()
    {
        // The suffix 2 3 4 matches at the start (followed by 10); 3 4 alone matches later (followed by 20).
        int[] history = [2, 3, 4, 10, 11, 3, 4, 20, 21, 2, 3, 4];
        Assert.Equal([10, 11, 3], PromptLookup.Propose(history, 3));
        // Without the three-token match, the latest two-token one is used.
        int[] shorter = [9, 3, 4, 10, 11, 3, 4, 20, 21, 2, 3, 4];
        Assert.Equal([20, 21, 2], PromptLookup.Propose(shorter, 3));
    }

    [Fact]
    public void ProposesNothingWithoutAnEarlierOccurrenceOfTheLastTwoTokens()
    {
        Assert.Empty(PromptLookup.Propose([1, 2, 3, 4, 5], 4));
        Assert.Empty(PromptLookup.Propose([5], 4));
        Assert.Empty(PromptLookup.Propose([1, 5, 1, 5], 0));
        // One shared token is not enough: 4 occurred before, but not "5 4".
        Assert.Empty(PromptLookup.Propose([4, 2, 5, 4], 4));
    }

    [Fact]
    public void AMatchNearTheEndProposesOnlyWhatFollowsIt()
    {
        // A run of one token: the latest earlier "6 6 6" overlaps the suffix and is followed by one token only.
        Assert.Equal([6], PromptLookup.Propose([1, 6, 6, 6, 6], 4));
        Assert.Equal([6], PromptLookup.Propose([1, 6, 6, 6, 6, 6, 6], 4));
        Assert.Equal([5, 4, 2], PromptLookup.Propose([4, 2, 5, 4, 2], 4)); // a copy may run up to the end of the context
    }
}
