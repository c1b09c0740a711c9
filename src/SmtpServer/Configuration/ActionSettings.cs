using SmtpServer.Core.Routing;

namespace SmtpServer.Configuration;

/// <summary>One entry of actions: (an OpenSMTPD dispatcher): exactly one agent, plus options.</summary>
internal sealed record ActionSettings
{
    public required string Name { get; init; }

    public required AgentSettings Agent { get; init; }

    /// <summary>actions.X.aliases: name of an aliases table applied before delivery, or null.</summary>
    public string? AliasesTable { get; init; }

    /// <summary>actions.X.virtual: name of a virtual-users table (user@domain → addresses), or null.</summary>
    public string? VirtualTable { get; init; }

    /// <summary>actions.X.users: name of a table of the local users that exist, or null.</summary>
    public string? UsersTable { get; init; }

    /// <summary>
    /// actions.X.aliasTargets: { files, commands }: whether this action's aliases or virtual
    /// entries may name a <c>/file</c> or a <c>|command</c>. Both off by default: an alias file
    /// someone else can edit must not become code execution as the server's user.
    /// </summary>
    public AliasTargetPermissions AliasTargets { get; init; }

    /// <summary>actions.X.maxDeliveries: this action's deliveries in progress at once.</summary>
    public int MaxDeliveries { get; init; } = DefaultMaxDeliveries;

    public const int DefaultMaxDeliveries = 10;
}

/// <summary>The delivery agent of an action; the type says which (maildir, mbox, lmtp, command, relay).</summary>
internal abstract record AgentSettings
{
    /// <summary>The config key and agent name: maildir, mbox, lmtp, command, relay.</summary>
    public abstract string Kind { get; }
}

/// <summary>maildir: { path }. Path is absolute and may hold {user} (the local user).</summary>
internal sealed record MaildirAgentSettings(string Path) : AgentSettings
{
    public override string Kind => "maildir";
}

/// <summary>mbox: { path }. Path is absolute and may hold {user}.</summary>
internal sealed record MboxAgentSettings(string Path) : AgentSettings
{
    public override string Kind => "mbox";
}

/// <summary>lmtp: { address }: host:port, [ipv6]:port, or an absolute Unix socket path.</summary>
internal sealed record LmtpAgentSettings(string Address) : AgentSettings
{
    public override string Kind => "lmtp";
}

/// <summary>command: { run, args }: run without a shell; envelope in the environment, message on stdin.</summary>
internal sealed record CommandAgentSettings(string Run, IReadOnlyList<string> Args) : AgentSettings
{
    public override string Kind => "command";

    // Structural: a reload keeps an agent whose settings are equal, and a record compares its
    // list by reference.
    public bool Equals(CommandAgentSettings? other) =>
        other is not null && base.Equals(other) && Run == other.Run && Args.SequenceEqual(other.Args);

    public override int GetHashCode() => HashCode.Combine(Run, Args.Count);
}

/// <summary>
/// relay: { host, auth, tls, tlsPolicy, caFile, rateLimit, helo, source, family, port }. Host
/// null means MX lookup with opportunistic STARTTLS; otherwise smarthost URLs (one, or a list
/// tried in order) whose scheme is smtp, smtp+tls, smtp+notls, smtps or lmtp (OpenSMTPD's).
/// </summary>
internal sealed record RelayAgentSettings(Uri? Host, string? AuthTable) : AgentSettings
{
    public override string Kind => "relay";

    /// <summary>relay.host as a list: the smarthosts tried after <see cref="Host"/>, in order; null when there are none.</summary>
    public IReadOnlyList<Uri>? FallbackHosts { get; init; }

    /// <summary>Every smarthost in trying order; empty for MX delivery.</summary>
    public IEnumerable<Uri> Hosts => Host is null ? [] : [Host, .. FallbackHosts ?? []];

    /// <summary>relay.tls: opportunistic | required | verify | none; null means the URL scheme's default (opportunistic for MX).</summary>
    public string? Tls { get; init; }

    /// <summary>relay.tlsPolicy: domain or *.domain → opportunistic | required | verify | none, for MX delivery; null when absent.</summary>
    public IReadOnlyDictionary<string, string>? TlsPolicy { get; init; }

    /// <summary>relay.caFile: a PEM bundle, the only trust anchors of verified TLS; null: the system store.</summary>
    public string? CaFile { get; init; }

    /// <summary>relay.rateLimit: messages per interval per destination; null: no limit.</summary>
    public SmtpServer.Delivery.Relay.RelayRateLimit? RateLimit { get; init; }

    /// <summary>relay.helo: the EHLO name; null means server.hostname.</summary>
    public string? Helo { get; init; }

    /// <summary>relay.source: local address to connect from.</summary>
    public System.Net.IPAddress? Source { get; init; }

    /// <summary>relay.family: any | ipv4 | ipv6 | prefer-ipv4.</summary>
    public string Family { get; init; } = "any";

    /// <summary>relay.port: port of MX hosts (25; for tests that cannot bind 25). Not allowed with host.</summary>
    public int MxPort { get; init; } = 25;

    // Structural, for a reload that keeps an unchanged agent: a record compares the list and the
    // dictionary by reference, and Uri.Equals ignores the user info, which is the label the
    // credentials are looked up by (smtp://label@host), so hosts compare as written.
    public bool Equals(RelayAgentSettings? other) =>
        other is not null
        && base.Equals(other)
        && Hosts.Select(h => h.OriginalString).SequenceEqual(other.Hosts.Select(h => h.OriginalString), StringComparer.Ordinal)
        && AuthTable == other.AuthTable
        && Tls == other.Tls
        && SameTlsPolicy(TlsPolicy, other.TlsPolicy)
        && CaFile == other.CaFile
        && RateLimit == other.RateLimit
        && Helo == other.Helo
        && Equals(Source, other.Source)
        && Family == other.Family
        && MxPort == other.MxPort;

    public override int GetHashCode() => HashCode.Combine(Host?.OriginalString, AuthTable, Tls, CaFile, Helo, Family, MxPort);

    private static readonly Dictionary<string, string> EmptyPolicy = [];

    private static bool SameTlsPolicy(IReadOnlyDictionary<string, string>? a, IReadOnlyDictionary<string, string>? b) =>
        (a ?? EmptyPolicy).Count == (b ?? EmptyPolicy).Count
        && (a ?? EmptyPolicy).All(p => (b ?? EmptyPolicy).TryGetValue(p.Key, out var mode) && mode == p.Value);
}
