using LayerSkip.Plots;

// layerskip-plots: draws result files (JSON, JSON lines, Markdown tables) into PNGs.
//   quality FILE OUT.png [--title T]            perplexity against speedup ratio per policy (eval rows, adaptation tables)
//   speed   FILE OUT.png [--batch N] [--title T] decode tokens/s against ratio per policy (bench rows)
//   peer    FILE OUT.png [--title T]            ours against a peer engine (layerskip-bench peer --json lines)
//   docs [REPO]                                 redraws every picture in docs/images from docs/results
const string Usage = """
    usage: LayerSkip.Plots quality|speed|peer FILE OUT.png [--title T] [--batch N]
           LayerSkip.Plots docs [repository-root]
    """;

try
{
    if (args.Length == 0) { Console.Error.WriteLine(Usage); return 2; }
    string? Option(string name)
    {
        var i = Array.IndexOf(args, "--" + name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    switch (args[0])
    {
        case "docs":
            DocsPictures.Draw(args.Length > 1 ? args[1] : FindRepository());
            return 0;
        case "quality" or "speed" or "peer" when args.Length >= 3:
            var rows = ResultRow.Load(args[1]);
            var title = Option("title") ?? Path.GetFileNameWithoutExtension(args[1]);
            if (args[0] == "quality") Charts.Quality(rows, title, args[2]);
            else if (args[0] == "speed") Charts.Speed(rows, int.Parse(Option("batch") ?? "1"), title, args[2]);
            else Charts.Peer(rows, title, args[2]);
            return 0;
        default:
            Console.Error.WriteLine(Usage);
            return 2;
    }
}
catch (Exception e) when (e is IOException or InvalidDataException or FormatException)
{
    Console.Error.WriteLine("error: " + e.Message);
    return 1;
}

static string FindRepository()
{
    for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir != null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "LayerSkip.Extensions.sln"))) return dir.FullName;
    throw new DirectoryNotFoundException("Run from inside the repository, or pass its root: LayerSkip.Plots docs ROOT");
}
