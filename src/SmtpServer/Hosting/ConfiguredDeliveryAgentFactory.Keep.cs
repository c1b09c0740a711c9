using System.Collections.Concurrent;
using System.Security.Cryptography;
using SmtpServer.Configuration;
using SmtpServer.Core.Delivery;

namespace SmtpServer.Hosting;

/// <summary>
/// Whether a reload keeps an action's running agent (and its pooled LMTP or SMTP connections):
/// only when everything the agent was built from is unchanged. For every agent that is its
/// name and agent settings (compared by value); for a relay also the EHLO name it got from
/// server.hostname, the DNS servers, the listeners (its loop check), and the bytes of its auth
/// table and caFile as they were when it was built: a reload after the credentials or the CA
/// bundle changed builds a new relay agent, which reads them again. The aliases, users and
/// virtual tables, aliasTargets and maxDeliveries are not agent inputs (routing and the
/// scheduler read them from the running settings), so changing them keeps the agent.
/// </summary>
internal sealed partial class ConfiguredDeliveryAgentFactory
{
    // What the agent of each action was built from: by this factory, or by one before it when
    // this one kept that agent. Create and CanKeep run on the scheduler's loop.
    private readonly ConcurrentDictionary<string, AgentInputs> _built = new(StringComparer.OrdinalIgnoreCase);

    public bool CanKeep(string action, IDeliveryAgentFactory previous)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (previous is not ConfiguredDeliveryAgentFactory before
            || !before._built.TryGetValue(action, out var built)
            || Find(action) is not { } settings)
        {
            return false;
        }

        var now = InputsOf(settings);
        if (!now.Equals(built))
        {
            return false;
        }

        _built[action] = built;
        return true;
    }

    /// <summary>For tests: the agent settings of <paramref name="action"/>, or null.</summary>
    internal AgentSettings? Settings(string action) => Find(action)?.Agent;

    private AgentInputs InputsOf(ActionSettings settings) => settings.Agent is RelayAgentSettings relay
        ? new AgentInputs(
            settings.Name,
            relay,
            relay.Helo ?? server?.Hostname ?? Environment.MachineName,
            string.Join(' ', server?.DnsServers.Select(s => s.ToString()) ?? []),
            string.Join(' ', server?.Listeners.Select(l => l.EndPoint.ToString()) ?? []),
            relay.AuthTable is null ? null : AuthTableDigest(relay.AuthTable),
            relay.CaFile is null ? null : FileDigest(relay.CaFile))
        : new AgentInputs(settings.Name, settings.Agent);

    /// <summary>The auth table as <see cref="ReadCredentials"/> finds it: its file's bytes, or why there is none.</summary>
    private string AuthTableDigest(string table) =>
        server?.Tables.TryGetValue(table, out var settings) == true && settings is FileTableSettings file
            ? FileDigest(file.Path)
            : "not a file table";

    private static string FileDigest(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return path + " " + Convert.ToHexString(SHA256.HashData(stream));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Unreadable now and then alike builds the same agent (one that keeps the mail queued).
            return path + " unreadable: " + e.Message;
        }
    }

    /// <summary>Everything an agent is built from; the relay-only parts are null for the local agents.</summary>
    private sealed record AgentInputs(
        string Name,
        AgentSettings Agent,
        string? Helo = null,
        string? DnsServers = null,
        string? Listeners = null,
        string? AuthTable = null,
        string? CaFile = null);
}
