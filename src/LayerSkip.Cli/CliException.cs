namespace LayerSkip.Cli;

/// <summary>A usage error found after parsing (options that contradict each other): printed without a stack trace, exit code 2.</summary>
public sealed class CliException(string message) : Exception(message);
