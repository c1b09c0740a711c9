using Microsoft.Extensions.Logging;
using SmtpServer.Configuration;
using SmtpServer.Core.Dns;
using SmtpServer.Core.Queue;
using SmtpServer.Core.Scheduling;
using SmtpServer.Metrics;

namespace SmtpServer.Smtp;

/// <summary>What every session of the process shares.</summary>
internal sealed class SmtpServices(
    ServerSettings settings, IQueueStore queue, TimeProvider time, ILoggerFactory loggerFactory, IScheduler? scheduler = null, SmtpMetrics? metrics = null, IDnsResolver? dns = null)
{
    /// <summary>Counters of sessions, commands and replies (none are exported without a host).</summary>
    public SmtpMetrics Metrics { get; } = metrics ?? SmtpMetrics.Unexported;

    private volatile ServerSettings _settings = settings;

    /// <summary>
    /// The current configuration. A session reads it once, when it starts, and keeps that
    /// snapshot to the end; a reload (SIGHUP) only affects sessions that start after it.
    /// </summary>
    public ServerSettings Settings => _settings;

    /// <summary>Makes <paramref name="settings"/> the configuration of new sessions.</summary>
    public void UpdateSettings(ServerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _settings = settings;
    }

    public IQueueStore Queue { get; } = queue;

    /// <summary>Where committed messages go to be delivered; a no-op when none runs (tests, tools).</summary>
    public IScheduler Scheduler { get; } = scheduler ?? NullScheduler.Instance;

    public TimeProvider Time { get; } = time;

    /// <summary>
    /// The process's DNS client (shared with the relay), for the clients' reverse lookups; null:
    /// none is made, whatever dns.reverseLookup says (tests without DNS).
    /// </summary>
    public IDnsResolver? Dns { get; } = dns;

    public ILogger SessionLogger { get; } = loggerFactory.CreateLogger("SmtpServer.Smtp.Session");

    public ILoggerFactory LoggerFactory { get; } = loggerFactory;
}
