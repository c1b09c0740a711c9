using Microsoft.Extensions.Logging;
using SmtpServer.Configuration;
using SmtpServer.Core.Queue;

namespace SmtpServer.Smtp;

/// <summary>What every session of the process shares.</summary>
internal sealed class SmtpServices(ServerSettings settings, IQueueStore queue, TimeProvider time, ILoggerFactory loggerFactory)
{
    public ServerSettings Settings { get; } = settings;

    public IQueueStore Queue { get; } = queue;

    public TimeProvider Time { get; } = time;

    public ILogger SessionLogger { get; } = loggerFactory.CreateLogger("SmtpServer.Smtp.Session");

    public ILoggerFactory LoggerFactory { get; } = loggerFactory;
}
