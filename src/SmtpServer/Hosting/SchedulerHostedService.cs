using Microsoft.Extensions.Hosting;
using SmtpServer.Core.Scheduling;

namespace SmtpServer.Hosting;

/// <summary>
/// Runs the scheduler with the host: started once the queue store is open (resolving the
/// scheduler opens it), stopped gracefully: deliveries in progress get until the host's
/// shutdown timeout (server.shutdownTimeout) to finish.
/// </summary>
internal sealed class SchedulerHostedService(IScheduler scheduler) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => scheduler.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => scheduler.StopAsync(cancellationToken);
}
