using System.Net;
using SmtpServer.Core.Routing;
using SmtpServer.Protocol;

namespace SmtpServer.Configuration;

/// <summary>
/// The validated, typed configuration the server runs on. Built by <c>ConfigLoader</c> from
/// YAML or JSON plus environment overrides; every value here has been checked.
/// </summary>
internal sealed record ServerSettings
{
    /// <summary>Name for the banner, EHLO and Received (server.hostname; default: the FQDN).</summary>
    public required string Hostname { get; init; }

    public required SessionLimits Limits { get; init; }

    /// <summary>server.limits.maxSessions: sessions in total, 421 at connect beyond it.</summary>
    public int MaxSessions { get; init; } = 1000;

    /// <summary>server.limits.maxSessionsPerClient: per client IP, 421 at connect beyond it.</summary>
    public int MaxSessionsPerClient { get; init; } = 50;

    /// <summary>How long a stopping server lets transactions in progress finish.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public required QueueSettings Queue { get; init; }

    public required IReadOnlyList<ListenerSettings> Listeners { get; init; }

    /// <summary>The compiled rules (first match wins).</summary>
    public required IRouter Router { get; init; }

    /// <summary>
    /// The rules plus the actions' aliases, virtual and users tables: what RCPT uses. Null (tests
    /// that build settings by hand) means the router alone.
    /// </summary>
    public RecipientExpander? Expander { get; init; }

    /// <summary>tables: compiled, by name (case-insensitive).</summary>
    public IReadOnlyDictionary<string, ILookupTable> LookupTables { get; init; } = new Dictionary<string, ILookupTable>();

    /// <summary>server.subaddressDelimiter: user+tag@domain (default '+').</summary>
    public char SubaddressDelimiter { get; init; } = '+';

    /// <summary>Names of the configured actions (rules refer to them).</summary>
    public required IReadOnlySet<string> Actions { get; init; }

    public LogSettings Logging { get; init; } = new();

    /// <summary>What the configuration does that is allowed but probably not meant (printed by --check, logged at start and reload).</summary>
    public IReadOnlyList<ConfigError> Warnings { get; init; } = [];

    /// <summary>actions: by name (case-insensitive), with their agent settings.</summary>
    public IReadOnlyDictionary<string, ActionSettings> ActionDefinitions { get; init; } = new Dictionary<string, ActionSettings>();

    /// <summary>tables: by name (case-insensitive).</summary>
    public IReadOnlyDictionary<string, TableSettings> Tables { get; init; } = new Dictionary<string, TableSettings>();

    /// <summary>The names <c>for: local</c> matches: localhost, the hostname, listener hostnames.</summary>
    public IReadOnlyList<string> LocalNames { get; init; } = [];

    public AdminSettings Admin { get; init; } = new();

    /// <summary>dns.servers: resolvers for MX and reverse lookups (ip or ip:port); empty means the system's.</summary>
    public IReadOnlyList<IPEndPoint> DnsServers { get; init; } = [];

    /// <summary>
    /// dns.reverseLookup: each session looks up its client's name (forward-confirmed) for the
    /// rules' <c>rdns</c>, the Received header and the logs. On by default, as in OpenSMTPD.
    /// </summary>
    public bool ReverseLookup { get; init; } = true;

    /// <summary>dns.reverseLookupTimeout: the bound of one client's whole lookup; past it the client has no name.</summary>
    public TimeSpan ReverseLookupTimeout { get; init; } = DefaultReverseLookupTimeout;

    public static readonly TimeSpan DefaultReverseLookupTimeout = TimeSpan.FromSeconds(5);
}

/// <summary>Per-session bounds from server.limits and server.smtp (DESIGN.md, decision 6).</summary>
internal sealed record SessionLimits
{
    /// <summary>maxMessageSize: 35 MiB, OpenSMTPD's default.</summary>
    public long MaxMessageSize { get; init; } = 35L * 1024 * 1024;

    public int MaxRecipients { get; init; } = 1000;

    public int MaxMessagesPerSession { get; init; } = 100;

    public int MaxErrorsPerSession { get; init; } = 20;

    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(300);

    /// <summary>maxCommandLine: octets including CRLF.</summary>
    public int MaxCommandLineLength { get; init; } = 4096;

    /// <summary>maxAuthLine: AUTH lines and SASL responses carry base64 and may be longer.</summary>
    public int MaxAuthLineLength { get; init; } = 12288;

    /// <summary>maxLineLength: a text line of DATA/BDAT, octets including CRLF.</summary>
    public int MaxTextLineLength { get; init; } = 65536;

    /// <summary>maxHeaderSize: the header section of a message.</summary>
    public long MaxHeaderSize { get; init; } = 1024 * 1024;

    /// <summary>server.smtp.bareLineEndings.</summary>
    public BareLineEndingPolicy BareLineEndings { get; init; } = BareLineEndingPolicy.Reject;
}

internal sealed record QueueSettings
{
    public required string Path { get; init; }

    public TimeSpan Expire { get; init; } = TimeSpan.FromDays(4);

    public IReadOnlyList<TimeSpan> DelayWarnings { get; init; } = [TimeSpan.FromHours(4)];

    /// <summary>queue.minFreeSpace: percent of the file system that must stay free.</summary>
    public double MinFreeSpacePercent { get; init; } = 5;

    /// <summary>queue.maxDeliveries: deliveries in progress at once, all actions together.</summary>
    public int MaxDeliveries { get; init; } = 100;
}

internal sealed record ListenerSettings
{
    public required string Name { get; init; }

    public required IPEndPoint EndPoint { get; init; }

    /// <summary>submission: true adds Message-ID/Date when missing.</summary>
    public bool Submission { get; init; }

    /// <summary>Per-listener banner/EHLO name; null means the server's.</summary>
    public string? Hostname { get; init; }

    /// <summary>listeners[].tls, or null for a plain-text listener.</summary>
    public ListenerTlsSettings? Tls { get; init; }

    /// <summary>listeners[].auth, or null (no AUTH offered).</summary>
    public ListenerAuthSettings? Auth { get; init; }

    /// <summary>senders: a table login → the MAIL FROM addresses that user may use (553 5.7.1 otherwise).</summary>
    public ILookupTable? Senders { get; init; }

    /// <summary>receivedAuth: the Received header names the authenticated user.</summary>
    public bool ReceivedAuth { get; init; }

    /// <summary>
    /// masquerade (OpenSMTPD <c>senders &lt;table&gt; masquerade</c>): the From: header of mail
    /// from an authenticated session is rewritten to the envelope sender.
    /// </summary>
    public bool Masquerade { get; init; }
}

internal enum LogFormat
{
    Text,
    Json,
}

internal sealed record LogSettings
{
    public LogFormat Format { get; init; } = LogFormat.Text;

    /// <summary>Serilog minimum level name (Verbose, Debug, Information, Warning, Error).</summary>
    public string Level { get; init; } = "Information";
}
