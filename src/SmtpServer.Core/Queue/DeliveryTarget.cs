namespace SmtpServer.Core.Queue;

/// <summary>What an aliases(5) <c>/file</c> or <c>|command</c> value asks for.</summary>
internal enum DeliveryTargetKind
{
    /// <summary>Append the message to the mbox file <see cref="DeliveryTarget.Path"/>.</summary>
    File,

    /// <summary>Run <see cref="DeliveryTarget.Path"/> with <see cref="DeliveryTarget.Arguments"/>, the message on stdin.</summary>
    Command,
}

/// <summary>
/// An alias's file or command target, stored in the envelope (<see cref="EnvelopeRecord.Target"/>)
/// so a delivery after a restart does what the expansion at RCPT time decided, whatever the
/// aliases file says by then. The command is kept as argv, already split: the queue file holds
/// data, never a command line that something would parse again (DESIGN.md decision 3).
/// </summary>
/// <param name="Kind">File or command.</param>
/// <param name="Path">The mbox file, or the program; always an absolute path.</param>
/// <param name="Arguments">The program's arguments (argv[1..]); empty for a file.</param>
internal sealed record DeliveryTarget(DeliveryTargetKind Kind, string Path, IReadOnlyList<string> Arguments)
{
    public static DeliveryTarget File(string path) => new(DeliveryTargetKind.File, path, []);

    public static DeliveryTarget Command(IReadOnlyList<string> argv)
    {
        ArgumentNullException.ThrowIfNull(argv);
        return new(DeliveryTargetKind.Command, argv[0], [.. argv.Skip(1)]);
    }

    /// <summary>How the target reads in logs, traces and the scheduler's grouping key: <c>/path</c> or <c>|/prog arg…</c>.</summary>
    public override string ToString() => Kind == DeliveryTargetKind.File
        ? Path
        : "|" + string.Join(' ', Arguments.Prepend(Path).Select(Quote));

    public bool Equals(DeliveryTarget? other) =>
        other is not null && Kind == other.Kind && string.Equals(Path, other.Path, StringComparison.Ordinal) && Arguments.SequenceEqual(other.Arguments, StringComparer.Ordinal);

    public override int GetHashCode() => HashCode.Combine(Kind, Path, Arguments.Count);

    /// <summary>Checks what the serializer cannot; null when the target is usable.</summary>
    public string? Validate()
    {
        if (!Enum.IsDefined(Kind))
        {
            return "invalid target kind";
        }

        if (!IsAbsolutePath(Path))
        {
            return "target path is not an absolute path";
        }

        if (Kind == DeliveryTargetKind.File && Arguments.Count > 0)
        {
            return "a file target has no arguments";
        }

        return Arguments.Any(a => a.Contains('\0', StringComparison.Ordinal)) ? "target argument contains NUL" : null;
    }

    /// <summary>
    /// Absolute, normalized, and free of control characters: no <c>.</c> or <c>..</c> segment,
    /// no empty segment, no trailing slash. An alias names one place, spelled one way, so that
    /// two spellings of a file are one target and a path cannot climb out of where it looks to be.
    /// </summary>
    public static bool IsAbsolutePath(string path)
    {
        if (path.Length < 2 || path[0] != '/' || path[^1] == '/' || path.Any(char.IsControl))
        {
            return false;
        }

        foreach (var segment in path[1..].Split('/'))
        {
            if (segment is "" or "." or "..")
            {
                return false;
            }
        }

        return true;
    }

    private static string Quote(string arg) =>
        arg.Length > 0 && !arg.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '\\') ? arg : "'" + arg.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
