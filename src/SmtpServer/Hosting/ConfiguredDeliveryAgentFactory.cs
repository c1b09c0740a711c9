using Microsoft.Extensions.Logging;
using SmtpServer.Configuration;
using SmtpServer.Core.Delivery;
using SmtpServer.Delivery;

namespace SmtpServer.Hosting;

/// <summary>
/// Builds agents from <c>actions:</c>: the local agents (maildir, mbox, lmtp, command) from
/// SmtpServer.Delivery. The relay agent is not built yet; its actions get an agent that
/// answers every recipient with a temporary failure, so that mail stays queued (retried, then
/// expired with a bounce) instead of being lost. The scheduler creates each action's agent
/// once and keeps it.
/// </summary>
internal sealed class ConfiguredDeliveryAgentFactory(
    IReadOnlyDictionary<string, ActionSettings> actions, ILoggerFactory loggerFactory, TimeProvider time) : IDeliveryAgentFactory
{
    private readonly LocalAgentFactory _local = new(loggerFactory, time);

    public IDeliveryAgent? Create(string action)
    {
        ArgumentNullException.ThrowIfNull(action);
        var settings = actions.TryGetValue(action, out var found)
            ? found
            : actions.Values.FirstOrDefault(a => string.Equals(a.Name, action, StringComparison.OrdinalIgnoreCase));
        return settings is null ? null : Create(settings);
    }

    private IDeliveryAgent Create(ActionSettings settings) => settings.Agent switch
    {
        // Templates are made absolute here (relative to the working directory, like every
        // path of the configuration); the agents refuse relative ones.
        MaildirAgentSettings maildir => _local.Create(settings.Name, new MaildirAgentOptions(Path.GetFullPath(maildir.Path))),
        MboxAgentSettings mbox => _local.Create(settings.Name, new MboxAgentOptions(Path.GetFullPath(mbox.Path))),
        LmtpAgentSettings lmtp => _local.Create(settings.Name, new LmtpAgentOptions(lmtp.Address)),
        CommandAgentSettings command => _local.Create(settings.Name, new CommandAgentOptions(command.Run, command.Args)),
        _ => new UnavailableDeliveryAgent(settings.Name, settings.Agent.Kind, IsLocal: settings.Agent is not RelayAgentSettings),
    };
}
