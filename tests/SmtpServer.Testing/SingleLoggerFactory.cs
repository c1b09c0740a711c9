using Microsoft.Extensions.Logging;

namespace SmtpServer.Testing;

/// <summary>A logger factory that hands out one logger for every category (e.g. a <see cref="CollectingLogger{T}"/>).</summary>
public sealed class SingleLoggerFactory(ILogger logger) : ILoggerFactory
{
    public void AddProvider(ILoggerProvider provider)
    {
    }

    public ILogger CreateLogger(string categoryName) => logger;

    public void Dispose()
    {
    }
}
