namespace LayerSkip.Engine.Calibration;

/// <summary>
/// Plain, varied English used to rank layers when the caller gives no calibration text. Ranking layers by how
/// much they change the hidden state is stable across ordinary text, so a few hundred tokens suffice.
/// </summary>
public static class CalibrationText
{
    public const string Default = """
        Once upon a time, there was a little girl named Lily. She loved to play outside in the sun with her dog.
        One day, she found a shiny stone near the river and showed it to her mom, who smiled and said it was beautiful.
        The committee met on Tuesday to review the budget for the coming year. After a long discussion, the members
        agreed to increase funding for public libraries and to reduce spending on administrative travel.
        To install the package, open a terminal and run the command shown below. If the build fails, check that the
        correct version of the compiler is on your path and that every dependency has been restored.
        Water boils at one hundred degrees Celsius at sea level, but at higher altitudes the boiling point is lower
        because the air pressure is lower. This is why cooking pasta in the mountains takes longer.
        "Where are you going?" asked the old man. "To the market," replied the boy, "to buy bread and apples for my family."
        The results suggest that the new method is both faster and more accurate than the previous approach, although
        further experiments on larger datasets will be needed to confirm these findings.
        """;
}
