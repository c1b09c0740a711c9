using Microsoft.Extensions.Logging;
using SmtpServer.Configuration;
using SmtpServer.Core.Bounces;
using SmtpServer.Core.Dns;
using SmtpServer.Core.Scheduling;

namespace SmtpServer.Hosting;

/// <summary>
/// Delivery's share of the configuration: the agents of <c>actions:</c>, the delivery limits
/// (queue.maxDeliveries, actions.X.maxDeliveries) and how bounces are written and routed
/// (server.hostname, rules). Built from the settings at start-up and applied again by every
/// successful reload, so that deliveries follow the file as sessions do.
/// </summary>
internal sealed class DeliveryConfiguration(Scheduler scheduler, BounceSender bounces, DeliveryConfiguration.Context context)
{
    /// <summary>What every generation of agents shares: logging, the clock, the process's DNS client and the running actions.</summary>
    internal sealed record Context(
        ILoggerFactory LoggerFactory, TimeProvider Time, DnsResolver Dns, Func<IReadOnlyDictionary<string, ActionSettings>> CurrentActions);

    public static ConfiguredDeliveryAgentFactory Agents(ServerSettings settings, Context context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new(settings.ActionDefinitions, context.LoggerFactory, context.Time, settings, context.CurrentActions, context.Dns);
    }

    /// <summary>actions.X.maxDeliveries of every configured action, by name.</summary>
    public static IReadOnlyDictionary<string, int> ActionLimits(ServerSettings settings)
        => settings.ActionDefinitions.Values.ToDictionary(a => a.Name, a => a.MaxDeliveries, StringComparer.OrdinalIgnoreCase);

    public static BounceOptions Bounces(ServerSettings settings) => new(settings.Hostname);

    /// <summary>
    /// Makes <paramref name="settings"/> delivery's configuration: DSNs are routed by its rules
    /// from now on; the scheduler swaps to its agents and limits on its loop, before any message
    /// committed after this call is scheduled (deliveries in progress finish with the old agents).
    /// </summary>
    public Task ApplyAsync(ServerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        bounces.Update(Bounces(settings), settings.Router);
        return scheduler.ReconfigureAsync(Agents(settings, context), settings.Queue.MaxDeliveries, ActionLimits(settings));
    }
}
