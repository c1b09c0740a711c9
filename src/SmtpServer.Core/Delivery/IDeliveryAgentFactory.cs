namespace SmtpServer.Core.Delivery;

/// <summary>
/// Builds the delivery agent of a configured action. The host supplies it (it knows the
/// <c>actions:</c> settings); the scheduler asks once per action name and keeps the agent.
/// </summary>
internal interface IDeliveryAgentFactory
{
    /// <summary>
    /// The agent for <paramref name="action"/> (matched case-insensitively, as <c>actions:</c>
    /// keys are), or null when no such action is configured: its envelopes then fail
    /// temporarily with "action not configured" and stay queued.
    /// </summary>
    IDeliveryAgent? Create(string action);

    /// <summary>
    /// On a reload, asked of the new factory for each action whose agent <paramref name="previous"/>
    /// built: true when this factory would build the same agent (same settings, and the same
    /// contents of whatever else it is built from), so the scheduler keeps the running one and its
    /// pooled connections; this factory then answers for it at the next reload. False by default:
    /// a new agent.
    /// </summary>
    bool CanKeep(string action, IDeliveryAgentFactory previous) => false;
}
