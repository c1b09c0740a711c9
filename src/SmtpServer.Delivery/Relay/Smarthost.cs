using System.Net;

namespace SmtpServer.Delivery.Relay;

/// <summary>
/// A smarthost from <c>relay.host</c>: OpenSMTPD's <c>proto://[label@]host[:port]</c>, with how
/// to speak to it (the scheme's TLS mode after <c>relay.tls</c>, and its AUTH credentials).
/// </summary>
/// <param name="Host">Host name or IP literal.</param>
/// <param name="Port">The URL's port, or the scheme's default (25, or 465 for smtps).</param>
/// <param name="Lmtp">lmtp:// (LHLO instead of EHLO, one reply per recipient after DATA).</param>
/// <param name="Label">The label before '@', the key of the credentials in the auth table.</param>
internal sealed record Smarthost(string Host, int Port, bool Lmtp, string? Label)
{
    public RelayTlsMode Tls { get; init; } = RelayTlsMode.Opportunistic;

    /// <summary>smtps:// with tls: opportunistic or required: TLS from the first byte, certificate not checked.</summary>
    public bool ImplicitTlsNoVerify { get; init; }

    /// <summary>user and password for AUTH (from relay.auth's table), or null for none.</summary>
    public NetworkCredential? Credentials { get; init; }

    /// <summary>
    /// Why relay.auth gave no credentials for this host (OpenSMTPD: "Could not retrieve
    /// credentials"); the host is then skipped, never tried without AUTH.
    /// </summary>
    public string? CredentialsProblem { get; init; }

    /// <summary>The key of this host's entry in the auth table: the URL's label, else the host name.</summary>
    public string AuthLabel => Label ?? Host;

    public override string ToString() => $"{Host}:{Port}";

    /// <summary>Parses a relay URL; the TLS mode its scheme implies comes back in <paramref name="tls"/> (and <see cref="Tls"/>).</summary>
    public static Smarthost Parse(Uri url, out RelayTlsMode tls)
    {
        ArgumentNullException.ThrowIfNull(url);
        var scheme = url.Scheme.ToLowerInvariant();
        tls = scheme switch
        {
            "smtp" => RelayTlsMode.Opportunistic,
            "smtp+tls" => RelayTlsMode.Verify,
            "smtp+notls" => RelayTlsMode.None,
            "smtps" => RelayTlsMode.Implicit,
            "lmtp" => RelayTlsMode.None,
            _ => throw new ArgumentException($"relay URL scheme '{url.Scheme}' is not smtp, smtp+tls, smtp+notls, smtps or lmtp", nameof(url)),
        };
        var port = url.IsDefaultPort || url.Port < 0 ? (scheme == "smtps" ? 465 : 25) : url.Port;
        var label = string.IsNullOrEmpty(url.UserInfo) ? null : Uri.UnescapeDataString(url.UserInfo);
        return new Smarthost(url.IdnHost.Trim('[', ']'), port, scheme == "lmtp", label) { Tls = tls };
    }

    /// <summary>
    /// relay.tls applied to the scheme's mode: smtps stays TLS from the first byte (verified
    /// unless opportunistic or required); none turns TLS off; null keeps the scheme's mode.
    /// </summary>
    public Smarthost WithTlsSetting(RelayTlsMode? setting) => setting switch
    {
        null => this,
        RelayTlsMode.None => this with { Tls = RelayTlsMode.None, ImplicitTlsNoVerify = false },
        _ when Tls == RelayTlsMode.Implicit => this with { ImplicitTlsNoVerify = setting != RelayTlsMode.Verify },
        _ => this with { Tls = setting.Value, ImplicitTlsNoVerify = false },
    };
}
