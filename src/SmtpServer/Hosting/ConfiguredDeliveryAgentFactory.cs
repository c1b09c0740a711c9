using System.Net;
using Microsoft.Extensions.Logging;
using SmtpServer.Configuration;
using SmtpServer.Core.Delivery;
using SmtpServer.Delivery;
using SmtpServer.Delivery.Relay;

namespace SmtpServer.Hosting;

/// <summary>
/// Builds agents from <c>actions:</c>: the local agents (maildir, mbox, lmtp, command) and the
/// relay agent from SmtpServer.Delivery. A relay whose credentials cannot be read gets an agent
/// that answers every recipient with a temporary failure, so that mail stays queued (retried,
/// then expired with a bounce) instead of being lost. The scheduler creates each action's agent
/// once and keeps it until a reload brings a new factory (<see cref="DeliveryConfiguration"/>).
/// </summary>
internal sealed partial class ConfiguredDeliveryAgentFactory(
    IReadOnlyDictionary<string, ActionSettings> actions, ILoggerFactory loggerFactory, TimeProvider time, ServerSettings? server = null) : IDeliveryAgentFactory
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
        RelayAgentSettings relay => CreateRelay(settings.Name, relay),
        _ => new UnavailableDeliveryAgent(settings.Name, settings.Agent.Kind, IsLocal: true),
    };

    private IDeliveryAgent CreateRelay(string name, RelayAgentSettings relay)
    {
        var logger = loggerFactory.CreateLogger<RelayAgent>();
        var tls = RelayTlsMode.Opportunistic;
        Smarthost? host = null;
        if (relay.Host is not null)
        {
            host = Smarthost.Parse(relay.Host, out tls);
        }

        var noVerify = false;
        switch (relay.Tls)
        {
            case "opportunistic":
                tls = tls == RelayTlsMode.Implicit ? tls : RelayTlsMode.Opportunistic;
                noVerify = true;
                break;
            case "required":
                noVerify = true;
                tls = tls == RelayTlsMode.Implicit ? tls : RelayTlsMode.Required;
                break;
            case "verify":
                tls = tls == RelayTlsMode.Implicit ? tls : RelayTlsMode.Verify;
                break;
            case "none":
                tls = RelayTlsMode.None;
                break;
        }

        NetworkCredential? credentials = null;
        if (relay.AuthTable is not null && host is not null)
        {
            credentials = ReadCredentials(relay.AuthTable, host.Label ?? host.Host, out var problem);
            if (credentials is null)
            {
                FactoryLog.NoCredentials(logger, name, relay.AuthTable, problem);
                return new UnavailableDeliveryAgent(name, "relay", IsLocal: false);
            }
        }

        var options = new RelayAgentOptions
        {
            Host = host,
            Credentials = credentials,
            Tls = tls,
            ImplicitTlsNoVerify = noVerify,
            HeloName = relay.Helo ?? server?.Hostname ?? Environment.MachineName,
            Source = relay.Source,
            Family = relay.Family switch
            {
                "ipv4" => AddressFamilyPreference.IPv4,
                "ipv6" => AddressFamilyPreference.IPv6,
                "prefer-ipv4" => AddressFamilyPreference.PreferIPv4,
                _ => AddressFamilyPreference.Any,
            },
            MxPort = relay.MxPort,
            DnsServers = server?.DnsServers ?? [],
            LocalEndPoints = [.. server?.Listeners.Select(l => l.EndPoint) ?? []],
        };
        return new RelayAgent(name, options, time, logger);
    }

    /// <summary>
    /// relay.auth: a <c>map</c> (or <c>credentials</c>) file table, lines <c>label user:password</c>
    /// (OpenSMTPD's secrets table); '#' starts a comment. The label is the relay URL's
    /// <c>label@</c>, or its host name.
    /// </summary>
    private NetworkCredential? ReadCredentials(string table, string label, out string problem)
    {
        problem = string.Empty;
        if (server?.Tables.TryGetValue(table, out var settings) != true || settings is not FileTableSettings file)
        {
            problem = "not a file table";
            return null;
        }

        try
        {
            foreach (var raw in File.ReadLines(file.Path))
            {
                var line = raw.Trim();
                if (line.Length == 0 || line.StartsWith('#'))
                {
                    continue;
                }

                var split = line.IndexOfAny([' ', '\t']);
                if (split <= 0 || !line[..split].Equals(label, StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                var value = line[split..].Trim();
                var colon = value.IndexOf(':', StringComparison.Ordinal);
                if (colon <= 0)
                {
                    problem = $"the entry for '{label}' is not user:password";
                    return null;
                }

                return new NetworkCredential(value[..colon], value[(colon + 1)..]);
            }

            problem = $"no entry for '{label}'";
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problem = e.Message;
            return null;
        }
    }

    private static partial class FactoryLog
    {
        [LoggerMessage(3190, LogLevel.Error, "relay action {Action}: could not retrieve credentials from table {Table} ({Problem}); its mail stays queued", EventName = "RelayNoCredentials")]
        public static partial void NoCredentials(ILogger logger, string action, string table, string problem);
    }
}
