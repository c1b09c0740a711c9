namespace SmtpServer.Configuration;

/// <summary>
/// One problem in the configuration: the key path in the file's own spelling
/// (<c>server.limits.maxMessageSize</c>, <c>listeners[1].tls.certificate</c>) and what is wrong.
/// An empty key means the file as a whole (not found, not parseable).
/// </summary>
internal sealed record ConfigError(string Key, string Message)
{
    public override string ToString() => Key.Length == 0 ? Message : $"{Key}: {Message}";
}
