using SmtpServer.Configuration;
using SmtpServer.Core.Delivery;

namespace SmtpServer.Hosting;

/// <summary>
/// Builds agents from <c>actions:</c>. The agents themselves (maildir, mbox, lmtp, command,
/// relay) come from SmtpServer.Delivery; until one is there, its actions get an agent that
/// answers every recipient with a temporary failure, so their mail stays queued (and is
/// retried, then expires) instead of being lost or bounced.
/// </summary>
internal sealed class ConfiguredDeliveryAgentFactory(IReadOnlyDictionary<string, ActionSettings> actions) : IDeliveryAgentFactory
{
    public IDeliveryAgent? Create(string action)
    {
        ArgumentNullException.ThrowIfNull(action);
        var settings = actions.TryGetValue(action, out var found)
            ? found
            : actions.Values.FirstOrDefault(a => string.Equals(a.Name, action, StringComparison.OrdinalIgnoreCase));
        return settings is null ? null : Create(settings);
    }

    /// <summary>The agent of one action; the place where SmtpServer.Delivery's agents plug in.</summary>
    public static IDeliveryAgent Create(ActionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new UnavailableDeliveryAgent(settings.Name, settings.Agent.Kind, IsLocal: settings.Agent is not RelayAgentSettings);
    }
}
