namespace SmtpServer.Configuration;

/// <summary>What <see cref="ConfigLoader.Load"/> produced: settings, or every problem found.</summary>
internal sealed record ConfigLoadResult(ServerSettings? Settings, IReadOnlyList<ConfigError> Errors)
{
    /// <summary>True when there are settings and no errors; the server starts only then.</summary>
    public bool Success => Settings is not null && Errors.Count == 0;
}
