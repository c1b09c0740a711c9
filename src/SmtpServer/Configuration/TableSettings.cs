namespace SmtpServer.Configuration;

/// <summary>One entry of tables:.</summary>
internal abstract record TableSettings
{
    public required string Name { get; init; }
}

/// <summary>type: list, values: [...] (inline).</summary>
internal sealed record ListTableSettings : TableSettings
{
    public required IReadOnlyList<string> Values { get; init; }
}

/// <summary>type: file, path, format: aliases | credentials | map | list. Loaded by the tables issue.</summary>
internal sealed record FileTableSettings : TableSettings
{
    /// <summary>Absolute path.</summary>
    public required string Path { get; init; }

    public required string Format { get; init; }
}
