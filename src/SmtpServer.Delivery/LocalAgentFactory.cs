using Microsoft.Extensions.Logging;
using SmtpServer.Core.Delivery;

namespace SmtpServer.Delivery;

/// <summary>Creates the local delivery agent for an action from its options (the host maps its config records to these).</summary>
internal sealed class LocalAgentFactory(ILoggerFactory loggerFactory, TimeProvider timeProvider)
{
    public LocalAgentFactory(ILoggerFactory loggerFactory)
        : this(loggerFactory, TimeProvider.System)
    {
    }

    /// <exception cref="ArgumentException">The options are invalid (e.g. a relative path or an unknown placeholder).</exception>
    public IDeliveryAgent Create(string action, LocalAgentOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(action);
        ArgumentNullException.ThrowIfNull(options);
        return options switch
        {
            MaildirAgentOptions maildir => new MaildirAgent(action, maildir, timeProvider, loggerFactory.CreateLogger<MaildirAgent>()),
            MboxAgentOptions mbox => new MboxAgent(action, mbox, timeProvider, loggerFactory.CreateLogger<MboxAgent>()),
            LmtpAgentOptions lmtp => new LmtpAgent(action, lmtp, timeProvider, loggerFactory.CreateLogger<LmtpAgent>()),
            CommandAgentOptions command => new CommandAgent(action, command, loggerFactory.CreateLogger<CommandAgent>()),
            _ => throw new ArgumentException($"No local agent for {options.GetType().Name}.", nameof(options)),
        };
    }
}
