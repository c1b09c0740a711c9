using System.Net;

namespace SmtpServer.Core.Routing;

/// <summary>
/// A table as rules see it (OpenSMTPD <c>table(5)</c>): the matching is decided by the kind of
/// lookup, as <c>table_match()</c> does: a domain lookup honours <c>*.example.org</c> wildcards,
/// an address lookup treats entries as networks, a key lookup is an exact, case-insensitive match.
/// Static lists answer synchronously; file and socket backends may not.
/// </summary>
internal interface ILookupTable
{
    string Name { get; }

    ValueTask<bool> MatchDomainAsync(string domain, CancellationToken cancellationToken);

    ValueTask<bool> MatchAddressAsync(IPAddress address, CancellationToken cancellationToken);

    ValueTask<bool> MatchKeyAsync(string key, CancellationToken cancellationToken);
}
