using SmtpServer.Core.Queue;

namespace SmtpServer.Core.Scheduling;

/// <summary>A scheduler that does nothing: committed mail waits in the spool for the next start.</summary>
internal sealed class NullScheduler : IScheduler
{
    public static readonly NullScheduler Instance = new();

    private NullScheduler()
    {
    }

    public void Enqueue(StoredMessage message)
    {
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
