using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SmtpServer.Core.Scheduling;

namespace SmtpServer.Hosting;

/// <summary>
/// Runs the scheduler with the host: started once the queue store is open (resolving the
/// scheduler opens it). A stop (SIGTERM, or <c>smtpctl drain</c>, which stops the host the same
/// way) comes after the listeners have closed and their sessions finished: the whole queue is
/// tried once more, then deliveries in progress are awaited, all within the host's stop token
/// (server.shutdownTimeout). What that grace cuts short is cancelled and stays queued.
/// </summary>
internal sealed class SchedulerHostedService(IScheduler scheduler, ISchedulerControl control, ILogger<SchedulerHostedService> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => scheduler.StartAsync(cancellationToken);

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await TryQueueOnceMoreAsync(cancellationToken).ConfigureAwait(false);
        await scheduler.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Every envelope due now (paused ones excepted), then wait until they have been tried.</summary>
    private async Task TryQueueOnceMoreAsync(CancellationToken cancellationToken)
    {
        try
        {
            var scheduled = await control.ScheduleNowAsync(QueueSelector.All, cancellationToken).ConfigureAwait(false);
            HostLog.LastQueuePass(logger, scheduled.Matched);
            await control.WhenIdleAsync(cancellationToken).ConfigureAwait(false);
            HostLog.LastQueuePassDone(logger);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            HostLog.LastQueuePassCut(logger);
        }
        catch (InvalidOperationException)
        {
            // The scheduler never started (or stopped already): the queue stays on the volume.
        }
    }
}
