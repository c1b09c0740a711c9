using System.Net;
using System.Security.Cryptography.X509Certificates;
using SmtpServer.Core.Dns;

namespace SmtpServer.Delivery.Relay;

/// <summary>relay.tls: what the session does about TLS.</summary>
internal enum RelayTlsMode
{
    /// <summary>STARTTLS when offered, certificate not checked; a failed handshake retries in plaintext (OpenSMTPD's default).</summary>
    Opportunistic,

    /// <summary>STARTTLS is required, certificate not checked (smtp+tls:// with tls: required).</summary>
    Required,

    /// <summary>STARTTLS is required and the certificate must chain to a trusted root (the system store, or relay.caFile) and name the host (the MX or smarthost name).</summary>
    Verify,

    /// <summary>Never TLS (smtp+notls://).</summary>
    None,

    /// <summary>TLS from the first byte (smtps://), certificate checked unless <see cref="Smarthost.ImplicitTlsNoVerify"/>.</summary>
    Implicit,
}

/// <summary>relay.family: which address families to connect to, and in what order.</summary>
internal enum AddressFamilyPreference
{
    Any,
    IPv4,
    IPv6,
    PreferIPv4,
}

/// <summary>Options of one relay action, built by the host from <c>actions.X.relay</c> and <c>dns</c>.</summary>
internal sealed record RelayAgentOptions
{
    /// <summary>
    /// relay.host: the smarthosts, tried in this order within one attempt; empty for delivery
    /// by MX. Each carries its own TLS mode and credentials.
    /// </summary>
    public IReadOnlyList<Smarthost> Hosts { get; init; } = [];

    /// <summary>relay.tls for delivery by MX (smarthosts carry their own).</summary>
    public RelayTlsMode Tls { get; init; } = RelayTlsMode.Opportunistic;

    /// <summary>relay.tlsPolicy: per recipient domain overrides of <see cref="Tls"/> (MX delivery only).</summary>
    public RelayTlsPolicy TlsPolicy { get; init; } = RelayTlsPolicy.Empty;

    /// <summary>
    /// relay.caFile: the only trust anchors for verified TLS, or null for the system's store.
    /// </summary>
    public X509Certificate2Collection? TrustAnchors { get; init; }

    /// <summary>relay.rateLimit: messages per interval per destination, or null for no limit.</summary>
    public RelayRateLimit? RateLimit { get; init; }

    /// <summary>relay.helo: the EHLO name (default: server.hostname).</summary>
    public required string HeloName { get; init; }

    /// <summary>relay.source: the local address to connect from.</summary>
    public IPAddress? Source { get; init; }

    public AddressFamilyPreference Family { get; init; } = AddressFamilyPreference.Any;

    /// <summary>The process's shared DNS client; null: one of this agent's own from <see cref="DnsServers"/>.</summary>
    public DnsResolver? Dns { get; init; }

    /// <summary>dns.servers; empty means the system's resolvers. Only without <see cref="Dns"/>.</summary>
    public IReadOnlyList<IPEndPoint> DnsServers { get; init; } = [];

    /// <summary>
    /// relay.port: the port MX hosts are contacted on. 25 except in tests, which cannot bind
    /// port 25 unprivileged and point it at a local sink. Ignored for smarthosts (the URL has one).
    /// </summary>
    public int MxPort { get; init; } = 25;

    /// <summary>Where this server listens (loop detection: an MX resolving to one of these is us).</summary>
    public IReadOnlyList<IPEndPoint> LocalEndPoints { get; init; } = [];

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Each reply (OpenSMTPD: 300 s).</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>From the first byte of content to the reply after the final dot.</summary>
    public TimeSpan DataTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>DNS query timeout (each try). Only without <see cref="Dns"/>.</summary>
    public TimeSpan DnsTimeout { get; init; } = DnsResolver.DefaultTimeout;

    /// <summary>Transactions per session (OpenSMTPD session-mail-max).</summary>
    public int MaxMessagesPerSession { get; init; } = 100;

    /// <summary>How long an idle session waits for the next message (OpenSMTPD session-keepalive).</summary>
    public TimeSpan Keepalive { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Concurrent sessions per destination (OpenSMTPD max-conn-per-host).</summary>
    public int MaxConnectionsPerDestination { get; init; } = 10;

    /// <summary>First pause of a failing route; the n-th is n² times this (OpenSMTPD DELAY_ROUTE_BASE).</summary>
    public TimeSpan RoutePenaltyBase { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>The longest pause of a failing route (OpenSMTPD DELAY_ROUTE_MAX).</summary>
    public TimeSpan RoutePenaltyMax { get; init; } = TimeSpan.FromHours(1);
}
