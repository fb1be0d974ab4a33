using LayerSkip.Cli;

return await CliApp.RunAsync(args);
