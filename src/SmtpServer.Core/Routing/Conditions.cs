using System.Net;

namespace SmtpServer.Core.Routing;

/// <summary><c>from: any</c> / <c>for: any</c>.</summary>
internal sealed class AnyCondition : IRuleCondition
{
    public static readonly AnyCondition Instance = new();

    private AnyCondition()
    {
    }

    public ValueTask<bool> MatchesAsync(RoutingRequest request, CancellationToken cancellationToken) => new(true);

    public override string ToString() => "any";
}

/// <summary><c>not: …</c>: negates any condition (OpenSMTPD's <c>!</c>).</summary>
internal sealed class NotCondition(IRuleCondition inner) : IRuleCondition
{
    public IRuleCondition Inner { get; } = inner;

    public ValueTask<bool> MatchesAsync(RoutingRequest request, CancellationToken cancellationToken)
    {
        var result = Inner.MatchesAsync(request, cancellationToken);
        return result.IsCompletedSuccessfully ? new(!result.Result) : AwaitNegated(result);
    }

    private static async ValueTask<bool> AwaitNegated(ValueTask<bool> pending) => !await pending.ConfigureAwait(false);

    public override string ToString() => $"not {Inner}";
}

/// <summary>
/// <c>from: local</c>: the client is on a loopback address (127.0.0.0/8, ::1, or either
/// IPv4-mapped), or came through the local Unix socket (no address at all).
/// </summary>
internal sealed class LocalSourceCondition : IRuleCondition
{
    public static readonly LocalSourceCondition Instance = new();

    private LocalSourceCondition()
    {
    }

    public ValueTask<bool> MatchesAsync(RoutingRequest request, CancellationToken cancellationToken)
        => new(request.ClientAddress is null || NetworkAddress.IsLoopback(request.ClientAddress));

    public override string ToString() => "local";
}

/// <summary><c>from: { src: [cidr…] | table }</c>.</summary>
internal sealed class SourceCondition(ILookupTable table) : IRuleCondition
{
    public ILookupTable Table { get; } = table;

    public ValueTask<bool> MatchesAsync(RoutingRequest request, CancellationToken cancellationToken)
        => request.ClientAddress is null
            ? new(false)
            : Table.MatchAddressAsync(request.ClientAddress, cancellationToken);

    public override string ToString() => $"src {Table}";
}

/// <summary>
/// <c>from: { auth: true }</c> (any authenticated session), <c>{ auth: false }</c> (none), or
/// <c>{ auth: [users] | table }</c> (authenticated as one of those users).
/// </summary>
internal sealed class AuthCondition : IRuleCondition
{
    private readonly bool _authenticated;

    public AuthCondition(bool authenticated) => _authenticated = authenticated;

    public AuthCondition(ILookupTable users)
    {
        _authenticated = true;
        Users = users;
    }

    public ILookupTable? Users { get; }

    public ValueTask<bool> MatchesAsync(RoutingRequest request, CancellationToken cancellationToken)
    {
        var user = request.AuthenticatedUser;
        if (user is null)
        {
            return new(!_authenticated);
        }

        if (!_authenticated)
        {
            return new(false);
        }

        return Users is null ? new(true) : Users.MatchKeyAsync(user, cancellationToken);
    }

    public override string ToString() => Users is null ? $"auth {(_authenticated ? "true" : "false")}" : $"auth {Users}";
}

/// <summary>
/// <c>for: local</c>: the recipient domain is one of this host's names (localhost, the server
/// hostname, listener hostnames), an address literal of a loopback or local address, or the
/// recipient is the bare <c>&lt;postmaster&gt;</c> (RFC 5321 §4.1.1.3).
/// </summary>
internal sealed class LocalDestinationCondition : IRuleCondition
{
    private readonly HashSet<string> _names;
    private readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> _nameLookup;
    private readonly HashSet<IPAddress> _addresses;

    public LocalDestinationCondition(IEnumerable<string> names, IEnumerable<IPAddress> addresses)
    {
        _names = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "localhost" };
        foreach (var name in names)
        {
            if (DomainName.Normalize(name) is { Length: > 0 } normalized)
            {
                _names.Add(normalized);
            }
        }

        _nameLookup = _names.GetAlternateLookup<ReadOnlySpan<char>>();
        _addresses = [.. addresses.Select(NetworkAddress.Unmap)];
    }

    public IReadOnlyCollection<string> Names => _names;

    public ValueTask<bool> MatchesAsync(RoutingRequest request, CancellationToken cancellationToken)
    {
        var domain = request.Recipient.Domain;
        if (domain.Length == 0)
        {
            return new(true);
        }

        if (NetworkAddress.TryParseAddressLiteral(domain, out var literal))
        {
            literal = NetworkAddress.Unmap(literal);
            return new(NetworkAddress.IsLoopback(literal) || _addresses.Contains(literal));
        }

        var span = DomainName.TrimTrailingDot(domain.AsSpan());
        if (_nameLookup.Contains(span))
        {
            return new(true);
        }

        return new(!System.Text.Ascii.IsValid(span) && DomainName.Normalize(domain) is { } ascii && _names.Contains(ascii));
    }

    public override string ToString() => "local";
}

/// <summary><c>for: { domain: [..] | table }</c>: exact names and <c>*.example.org</c> wildcards.</summary>
internal sealed class DomainCondition(ILookupTable table) : IRuleCondition
{
    public ILookupTable Table { get; } = table;

    public ValueTask<bool> MatchesAsync(RoutingRequest request, CancellationToken cancellationToken)
    {
        var domain = request.Recipient.Domain;
        return domain.Length == 0 || domain[0] == '['
            ? new(false)
            : Table.MatchDomainAsync(domain, cancellationToken);
    }

    public override string ToString() => $"domain {Table}";
}

/// <summary>
/// <c>from: { mailFrom: [addr…] | table }</c>: the envelope sender, with <c>mailaddr</c> matching
/// (<c>user</c>, <c>@domain</c>, <c>user@domain</c>). The null sender is written <c>&lt;&gt;</c>.
/// </summary>
internal sealed class MailFromCondition(ILookupTable table) : IRuleCondition
{
    public ILookupTable Table { get; } = table;

    public ValueTask<bool> MatchesAsync(RoutingRequest request, CancellationToken cancellationToken)
        => request.Sender is null
            ? Table.MatchKeyAsync("<>", cancellationToken)
            : Table.MatchMailAddressAsync(request.Sender.Address, cancellationToken);

    public override string ToString() => $"mailFrom {Table}";
}

/// <summary><c>for: { rcptTo: [addr…] | table }</c>: the recipient, with <c>mailaddr</c> matching.</summary>
internal sealed class RcptToCondition(ILookupTable table) : IRuleCondition
{
    public ILookupTable Table { get; } = table;

    public ValueTask<bool> MatchesAsync(RoutingRequest request, CancellationToken cancellationToken)
        => Table.MatchMailAddressAsync(request.Recipient.Address, cancellationToken);

    public override string ToString() => $"rcptTo {Table}";
}

/// <summary><c>helo: [names] | table</c>: the HELO/EHLO name, matched as a domain (<c>*.x</c> works).</summary>
internal sealed class HeloCondition(ILookupTable table) : IRuleCondition
{
    public ILookupTable Table { get; } = table;

    public ValueTask<bool> MatchesAsync(RoutingRequest request, CancellationToken cancellationToken)
        => request.Helo is null ? new(false) : Table.MatchDomainAsync(request.Helo, cancellationToken);

    public override string ToString() => $"helo {Table}";
}

/// <summary><c>tls: true</c> (the session is encrypted) or <c>tls: false</c>.</summary>
internal sealed class TlsCondition(bool required) : IRuleCondition
{
    public bool Required { get; } = required;

    public ValueTask<bool> MatchesAsync(RoutingRequest request, CancellationToken cancellationToken) => new(request.Tls == Required);

    public override string ToString() => Required ? "tls" : "not tls";
}

/// <summary>
/// <c>from: { rdns: true }</c> (the client has a reverse DNS name) or <c>{ rdns: [names] | table }</c>
/// (and it matches, as a domain). When the lookup failed for now (a DNS server down, a timeout),
/// neither answer is known: the condition throws <see cref="ReverseDnsUnavailableException"/>, a
/// temporary failure, as a table that cannot be read does. A 550 there would bounce good mail
/// at the sender for a DNS hiccup of ours (Postfix's reject_unknown_client_hostname answers 450
/// then too).
/// </summary>
internal sealed class RdnsCondition(ILookupTable? names) : IRuleCondition
{
    public ILookupTable? Names { get; } = names;

    public ValueTask<bool> MatchesAsync(RoutingRequest request, CancellationToken cancellationToken)
    {
        if (request.ClientHostName is not { Length: > 0 } name)
        {
            return request.ReverseLookupFailed ? throw new ReverseDnsUnavailableException() : new(false);
        }

        return Names is null ? new(true) : Names.MatchDomainAsync(name, cancellationToken);
    }

    public override string ToString() => Names is null ? "rdns" : $"rdns {Names}";
}

/// <summary>
/// <c>from: { clientCert: true }</c> (the client presented a certificate that verified against
/// <c>tls.clientCa</c>) or <c>{ clientCert: [names] | table }</c> (and its CN or one of its DNS
/// subject alternative names matches, as a domain: case-insensitive, <c>*.x</c> works).
/// </summary>
internal sealed class ClientCertificateCondition(ILookupTable? names) : IRuleCondition
{
    public ILookupTable? Names { get; } = names;

    public ValueTask<bool> MatchesAsync(RoutingRequest request, CancellationToken cancellationToken)
    {
        var presented = request.ClientCertificateNames;
        if (presented.Count == 0)
        {
            return new(false);
        }

        return Names is null ? new(true) : MatchAnyAsync(Names, presented, cancellationToken);
    }

    private static async ValueTask<bool> MatchAnyAsync(ILookupTable names, IReadOnlyList<string> presented, CancellationToken cancellationToken)
    {
        foreach (var name in presented)
        {
            if (await names.MatchDomainAsync(name, cancellationToken).ConfigureAwait(false))
            {
                return true;
            }
        }

        return false;
    }

    public override string ToString() => Names is null ? "clientCert" : $"clientCert {Names}";
}

/// <summary>Several conditions that must all match (a rule's <c>for</c> plus <c>helo</c>, <c>tls</c>), in order.</summary>
internal sealed class AllCondition(IReadOnlyList<IRuleCondition> conditions) : IRuleCondition
{
    public IReadOnlyList<IRuleCondition> Conditions { get; } = conditions;

    public async ValueTask<bool> MatchesAsync(RoutingRequest request, CancellationToken cancellationToken)
    {
        foreach (var condition in Conditions)
        {
            if (!await condition.MatchesAsync(request, cancellationToken).ConfigureAwait(false))
            {
                return false;
            }
        }

        return true;
    }

    public override string ToString() => string.Join(" and ", Conditions);
}
