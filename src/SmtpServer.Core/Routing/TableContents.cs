using System.Net;
using System.Text.RegularExpressions;

namespace SmtpServer.Core.Routing;

/// <summary>
/// The compiled, immutable entries of one table (or one version of a file table). Every entry is
/// compiled once for each kind of lookup, so matching allocates little. Entries that are not
/// valid for a lookup kind (a domain in a <c>src</c> list) never match it; the config validator
/// reports them before a table gets here. Keys are case-insensitive.
/// </summary>
internal sealed class TableContents
{
    /// <summary>Regex entries (<c>~ "…"</c>) are bounded: a pathological pattern fails the lookup (451), not the server.</summary>
    private static readonly TimeSpan RegexTimeout = TimeSpan.FromMilliseconds(200);

    private readonly Dictionary<string, TableEntry> _entries = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _domains = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _wildcardSuffixes = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> _domainLookup;
    private readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> _wildcardLookup;
    private readonly HashSet<string> _mailAddresses = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<(string User, string Suffix)> _wildcardMailAddresses = [];
    private readonly IPNetwork[] _networks;
    private readonly Regex[] _patterns;
    private readonly char _delimiter;

    /// <param name="entries">Keys with their values (none for a list).</param>
    /// <param name="delimiter">The sub-address delimiter (<c>server.subaddressDelimiter</c>).</param>
    /// <param name="allowPatterns">Keys written <c>~ pattern</c> are regular expressions (inline lists only).</param>
    public TableContents(IEnumerable<(string Key, IReadOnlyList<string> Values)> entries, char delimiter = '+', bool allowPatterns = false)
    {
        _delimiter = delimiter;
        var networks = new List<IPNetwork>();
        var patterns = new List<Regex>();
        foreach (var (raw, values) in entries)
        {
            var key = raw.Trim();
            if (allowPatterns && TryParsePattern(key, out var pattern, out _))
            {
                patterns.Add(pattern);
                continue;
            }

            _entries[key] = new TableEntry(key, values);
            if (NetworkAddress.TryParseNetwork(key, out var network, out _))
            {
                networks.Add(network);
            }

            if (key.StartsWith("*.", StringComparison.Ordinal))
            {
                if (DomainName.Normalize(key[2..]) is { } suffix)
                {
                    _wildcardSuffixes.Add(suffix);
                }
            }
            else if (DomainName.Normalize(key) is { } domain)
            {
                _domains.Add(domain);
            }

            AddMailAddress(key);
        }

        _networks = [.. networks];
        _patterns = [.. patterns];
        _domainLookup = _domains.GetAlternateLookup<ReadOnlySpan<char>>();
        _wildcardLookup = _wildcardSuffixes.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int Count => _entries.Count + _patterns.Length;

    public IEnumerable<TableEntry> Entries => _entries.Values;

    /// <summary><c>~ pattern</c> (OpenSMTPD's <c>regex</c> tables; <c>(?i)</c> works as there).</summary>
    public static bool TryParsePattern(string key, out Regex pattern, out string? error)
    {
        pattern = null!;
        error = null;
        if (!key.StartsWith('~'))
        {
            return false;
        }

        var text = key[1..].Trim();
        if (text.Length >= 2 && text[0] == '"' && text[^1] == '"')
        {
            text = text[1..^1];
        }

        try
        {
            pattern = new Regex(text, RegexOptions.CultureInvariant, RegexTimeout);
            return true;
        }
        catch (ArgumentException e)
        {
            error = $"'{key}' is not a valid regular expression: {e.Message}";
            return false;
        }
    }

    public TableEntry? Lookup(string key) => _entries.GetValueOrDefault(key);

    public bool MatchKey(string key) => _entries.ContainsKey(key) || MatchPattern(key);

    public bool MatchAddress(IPAddress address)
    {
        foreach (var network in _networks)
        {
            if (NetworkAddress.Contains(network, address))
            {
                return true;
            }
        }

        return _patterns.Length > 0 && MatchPattern(NetworkAddress.Unmap(address).ToString());
    }

    public bool MatchDomain(string domain)
    {
        var span = DomainName.TrimTrailingDot(domain.AsSpan());
        if (!System.Text.Ascii.IsValid(span))
        {
            if (DomainName.Normalize(domain) is not { } ascii)
            {
                return false;
            }

            span = ascii;
        }

        return MatchAsciiDomain(span) || (_patterns.Length > 0 && MatchPattern(span.ToString()));
    }

    /// <summary>OpenSMTPD <c>mailaddr_match()</c>: see <see cref="ILookupTable.MatchMailAddressAsync"/>.</summary>
    public bool MatchMailAddress(string address)
    {
        if (_patterns.Length > 0 && MatchPattern(address))
        {
            return true;
        }

        if (_mailAddresses.Contains("@"))
        {
            return true;
        }

        var (user, domain) = Split(address, out var normalized);
        if (!normalized)
        {
            return false;
        }

        var stripped = StripTag(user);
        if (_mailAddresses.Contains(user) || (stripped.Length != user.Length && _mailAddresses.Contains(stripped)))
        {
            return true;
        }

        if (domain.Length == 0)
        {
            return false;
        }

        if (_mailAddresses.Contains("@" + domain)
            || _mailAddresses.Contains(user + "@" + domain)
            || (stripped.Length != user.Length && _mailAddresses.Contains(stripped + "@" + domain)))
        {
            return true;
        }

        foreach (var (entryUser, suffix) in _wildcardMailAddresses)
        {
            if (domain.EndsWith("." + suffix, StringComparison.OrdinalIgnoreCase)
                && (entryUser.Length == 0
                    || entryUser.Equals(entryUser.Contains(_delimiter, StringComparison.Ordinal) ? user : stripped, StringComparison.OrdinalIgnoreCase)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The local part without its <c>+tag</c> (a leading delimiter is not a tag).</summary>
    public string StripTag(string user)
    {
        var at = user.IndexOf(_delimiter, StringComparison.Ordinal);
        return at > 0 ? user[..at] : user;
    }

    /// <summary>Splits at the last '@'; the domain lower-case ASCII (address literals as written).</summary>
    public static (string User, string Domain) Split(string address, out bool valid)
    {
        var at = address.LastIndexOf('@');
        valid = true;
        if (at < 0)
        {
            return (address, string.Empty);
        }

        var domain = address[(at + 1)..];
        if (domain.StartsWith('['))
        {
            return (address[..at], domain.ToLowerInvariant());
        }

        var normalized = DomainName.Normalize(domain);
        valid = normalized is not null || domain.Length == 0;
        return (address[..at], normalized ?? string.Empty);
    }

    private void AddMailAddress(string key)
    {
        var at = key.LastIndexOf('@');
        if (at < 0)
        {
            _mailAddresses.Add(key);
            return;
        }

        var user = key[..at];
        var domain = key[(at + 1)..];
        if (domain.Length == 0)
        {
            if (user.Length == 0)
            {
                _mailAddresses.Add("@");
            }

            return;
        }

        if (domain.StartsWith("*.", StringComparison.Ordinal))
        {
            if (DomainName.Normalize(domain[2..]) is { } suffix)
            {
                _wildcardMailAddresses.Add((user, suffix));
            }

            return;
        }

        if (DomainName.Normalize(domain) is { } normalized)
        {
            _mailAddresses.Add(user + "@" + normalized);
        }
    }

    private bool MatchPattern(string value)
    {
        foreach (var pattern in _patterns)
        {
            try
            {
                if (pattern.IsMatch(value))
                {
                    return true;
                }
            }
            catch (RegexMatchTimeoutException e)
            {
                throw new TableUnavailableException("regex", $"pattern '{pattern}' timed out", e);
            }
        }

        return false;
    }

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
