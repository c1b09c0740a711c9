using SmtpServer.Core.Routing;

namespace SmtpServer.Delivery.Relay;

/// <summary>
/// relay.tlsPolicy: the TLS mode for some recipient domains in MX delivery, e.g. verify for a
/// partner that has a valid certificate, none for a legacy host whose TLS is broken. Keys are a
/// domain (exact) or <c>*.domain</c> (every name below it, not the domain itself, as in rules);
/// an exact key wins over a wildcard, a longer wildcard over a shorter one. Smarthosts are not
/// covered: their URL scheme and relay.tls say how to reach them, whatever the recipients.
/// </summary>
internal sealed class RelayTlsPolicy
{
    private readonly Dictionary<string, RelayTlsMode> _exact = new(StringComparer.Ordinal);
    private readonly Dictionary<string, RelayTlsMode> _below = new(StringComparer.Ordinal);

    public RelayTlsPolicy(IEnumerable<KeyValuePair<string, RelayTlsMode>> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        foreach (var (pattern, mode) in entries)
        {
            var wildcard = pattern.StartsWith("*.", StringComparison.Ordinal);
            var name = DomainName.Normalize(wildcard ? pattern[2..] : pattern)
                ?? throw new ArgumentException($"'{pattern}' is not a domain or *.domain", nameof(entries));
            (wildcard ? _below : _exact)[name] = mode;
        }
    }

    public static RelayTlsPolicy Empty { get; } = new([]);

    public int Count => _exact.Count + _below.Count;

    /// <summary>The mode for <paramref name="domain"/>, or null when no entry covers it.</summary>
    public RelayTlsMode? ModeFor(string domain)
    {
        if (Count == 0 || DomainName.Normalize(domain) is not { } name)
        {
            return null;
        }

        if (_exact.TryGetValue(name, out var exact))
        {
            return exact;
        }

        // From the longest parent to the shortest: a.b.example → b.example → example.
        for (var dot = name.IndexOf('.', StringComparison.Ordinal); dot >= 0; dot = name.IndexOf('.', dot + 1))
        {
            if (_below.TryGetValue(name[(dot + 1)..], out var mode))
            {
                return mode;
            }
        }

        return null;
    }
}
