using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using SmtpServer.Configuration;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Routing;
using SmtpServer.Core.Dns;
using SmtpServer.Delivery;
using SmtpServer.Delivery.Relay;

namespace SmtpServer.Hosting;

/// <summary>
/// Builds agents from <c>actions:</c>: the local agents (maildir, mbox, lmtp, command) and the
/// relay agent from SmtpServer.Delivery, each inside an <see cref="AliasTargetAgent"/> that
/// delivers the action's aliases(5) file and command targets. A smarthost whose credentials
/// cannot be read is passed over (never used without AUTH); a relay whose caFile cannot be read
/// gets an agent that answers every recipient with a temporary failure, so that mail stays queued
/// (retried, then expired with a bounce) instead of being lost or sent under the wrong trust. The scheduler creates each action's agent
/// once and keeps it until a reload brings a new factory (<see cref="DeliveryConfiguration"/>).
/// </summary>
/// <param name="actions">The actions this generation of agents is built from.</param>
/// <param name="loggerFactory">For the agents' loggers.</param>
/// <param name="time">The clock of the agents.</param>
/// <param name="server">Server settings the relay needs (hostname, DNS servers, listeners).</param>
/// <param name="currentActions">The actions as reloaded since; the alias targets an action allows are read from here at each delivery.</param>
internal sealed partial class ConfiguredDeliveryAgentFactory(
    IReadOnlyDictionary<string, ActionSettings> actions,
    ILoggerFactory loggerFactory,
    TimeProvider time,
    ServerSettings? server = null,
    Func<IReadOnlyDictionary<string, ActionSettings>>? currentActions = null,
    DnsResolver? dns = null) : IDeliveryAgentFactory
{
    private readonly LocalAgentFactory _local = new(loggerFactory, time);

    public IDeliveryAgent? Create(string action)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (Find(action) is not { } settings)
        {
            return null;
        }

        // Before the agent reads its files: should they change in between, the next reload
        // sees a difference and builds again, never the other way round.
        _built[action] = InputsOf(settings);

        // Every action, even one whose aliasTargets allows nothing: an envelope queued with a
        // file or command target (before a config change) must never reach the mailbox agent
        // as if it were an ordinary recipient.
        var name = settings.Name;
        AliasTargetPermissions Permissions() => currentActions is null
            ? settings.AliasTargets
            : currentActions().TryGetValue(name, out var current) ? current.AliasTargets : AliasTargetPermissions.None;
        return new AliasTargetAgent(Create(settings), Permissions, time, loggerFactory.CreateLogger<AliasTargetAgent>());
    }

    private ActionSettings? Find(string action) => actions.TryGetValue(action, out var found)
        ? found
        : actions.Values.FirstOrDefault(a => string.Equals(a.Name, action, StringComparison.OrdinalIgnoreCase));

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
        var setting = TlsMode(relay.Tls);
        var hosts = new List<Smarthost>();
        foreach (var url in relay.Hosts)
        {
            var host = Smarthost.Parse(url, out _).WithTlsSetting(setting);
            if (relay.AuthTable is not null)
            {
                // OpenSMTPD looks the credentials up by each relay's label (or host name).
                var credentials = ReadCredentials(relay.AuthTable, host.AuthLabel, out var problem);
                if (credentials is null)
                {
                    FactoryLog.NoCredentials(logger, name, relay.AuthTable, host.ToString(), problem);
                    host = host with { CredentialsProblem = $"table {relay.AuthTable}: {problem}" };
                }

                host = host with { Credentials = credentials };
            }

            hosts.Add(host);
        }

        X509Certificate2Collection? anchors = null;
        if (relay.CaFile is { } caFile)
        {
            try
            {
                anchors = [];
                anchors.ImportFromPemFile(caFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
            {
                // Checked at start-up; gone since. Never fall back to the system store: keep the mail.
                FactoryLog.NoCaFile(logger, name, caFile, e.Message);
                return new UnavailableDeliveryAgent(name, "relay", IsLocal: false);
            }
        }

        var options = new RelayAgentOptions
        {
            Hosts = hosts,
            Tls = setting ?? RelayTlsMode.Opportunistic,
            TlsPolicy = new RelayTlsPolicy((relay.TlsPolicy ?? new Dictionary<string, string>()).Select(p => KeyValuePair.Create(p.Key, TlsMode(p.Value)!.Value))),
            TrustAnchors = anchors,
            RateLimit = relay.RateLimit,
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
            Dns = dns,
            DnsServers = server?.DnsServers ?? [],
            LocalEndPoints = [.. server?.Listeners.Select(l => l.EndPoint) ?? []],
        };
        return new RelayAgent(name, options, time, logger);
    }

    /// <summary>relay.tls and relay.tlsPolicy values (validated by the settings builder); null when unset.</summary>
    private static RelayTlsMode? TlsMode(string? setting) => setting switch
    {
        "opportunistic" => RelayTlsMode.Opportunistic,
        "required" => RelayTlsMode.Required,
        "verify" => RelayTlsMode.Verify,
        "none" => RelayTlsMode.None,
        _ => null,
    };

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
        [LoggerMessage(3190, LogLevel.Error, "relay action {Action}: could not retrieve credentials for {Relay} from table {Table} ({Problem}); it is not used", EventName = "RelayNoCredentials")]
        public static partial void NoCredentials(ILogger logger, string action, string table, string relay, string problem);

        [LoggerMessage(3191, LogLevel.Error, "relay action {Action}: could not read caFile {Path} ({Problem}); its mail stays queued", EventName = "RelayNoCaFile")]
        public static partial void NoCaFile(ILogger logger, string action, string path, string problem);
    }
}
