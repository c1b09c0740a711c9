using System.Net;

namespace SmtpServer.Core.Routing;

/// <summary>
/// A <c>type: list</c> table, or an inline list in a rule (<c>domain: [a, b]</c>). Every entry
/// is compiled once for each kind of lookup, so matching allocates nothing for ASCII input.
/// Entries that are not valid for a lookup kind (a domain in a <c>src</c> list) never match it;
/// the config validator reports them before a table gets here.
/// </summary>
internal sealed class StaticListTable : ILookupTable
{
    private readonly HashSet<string> _keys = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _domains = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _wildcardSuffixes = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> _domainLookup;
    private readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> _wildcardLookup;
    private readonly IPNetwork[] _networks;

    public StaticListTable(string name, IEnumerable<string> values)
    {
        Name = name;
        var networks = new List<IPNetwork>();
        foreach (var raw in values)
        {
            var value = raw.Trim();
            _keys.Add(value);
            if (NetworkAddress.TryParseNetwork(value, out var network, out _))
            {
                networks.Add(network);
            }

            if (value.StartsWith("*.", StringComparison.Ordinal))
            {
                if (DomainName.Normalize(value[2..]) is { } suffix)
                {
                    _wildcardSuffixes.Add(suffix);
                }
            }
            else if (DomainName.Normalize(value) is { } domain)
            {
                _domains.Add(domain);
            }
        }

        _networks = [.. networks];
        _domainLookup = _domains.GetAlternateLookup<ReadOnlySpan<char>>();
        _wildcardLookup = _wildcardSuffixes.GetAlternateLookup<ReadOnlySpan<char>>();
        Values = [.. values];
    }

    public string Name { get; }

    public IReadOnlyList<string> Values { get; }

    public ValueTask<bool> MatchDomainAsync(string domain, CancellationToken cancellationToken)
    {
        var span = DomainName.TrimTrailingDot(domain.AsSpan());
        if (!System.Text.Ascii.IsValid(span))
        {
            if (DomainName.Normalize(domain) is not { } ascii)
            {
                return new(false);
            }

            span = ascii;
        }

        return new(MatchAsciiDomain(span));
    }

    public ValueTask<bool> MatchAddressAsync(IPAddress address, CancellationToken cancellationToken)
    {
        foreach (var network in _networks)
        {
            if (NetworkAddress.Contains(network, address))
            {
                return new(true);
            }
        }

        return new(false);
    }

    public ValueTask<bool> MatchKeyAsync(string key, CancellationToken cancellationToken) => new(_keys.Contains(key));

    public override string ToString() => Name;

    private bool MatchAsciiDomain(ReadOnlySpan<char> domain)
    {
        if (_domainLookup.Contains(domain))
        {
            return true;
        }

        // "*.example.org" matches names below example.org, never example.org itself.
        for (var dot = domain.IndexOf('.'); dot >= 0 && _wildcardSuffixes.Count > 0; dot = NextDot(domain, dot))
        {
            if (_wildcardLookup.Contains(domain[(dot + 1)..]))
            {
                return true;
            }
        }

        return false;
    }

    private static int NextDot(ReadOnlySpan<char> domain, int dot)
    {
        var next = domain[(dot + 1)..].IndexOf('.');
        return next < 0 ? -1 : dot + 1 + next;
    }
}
