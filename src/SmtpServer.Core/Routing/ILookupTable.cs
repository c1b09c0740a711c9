using System.Net;

namespace SmtpServer.Core.Routing;

/// <summary>
/// A table as rules see it (OpenSMTPD <c>table(5)</c>): the matching is decided by the kind of
/// lookup, as <c>table_match()</c> does: a domain lookup honours <c>*.example.org</c> wildcards,
/// an address lookup treats entries as networks, a key lookup is an exact, case-insensitive match,
/// a mail-address lookup follows <c>mailaddr_match()</c>. Static lists answer synchronously; file
/// and socket backends may not, and throw <see cref="TableUnavailableException"/> when they cannot
/// answer (the session replies 451 4.3.0, never a wrong answer).
/// </summary>
internal interface ILookupTable
{
    string Name { get; }

    ValueTask<bool> MatchDomainAsync(string domain, CancellationToken cancellationToken);

    ValueTask<bool> MatchAddressAsync(IPAddress address, CancellationToken cancellationToken);

    ValueTask<bool> MatchKeyAsync(string key, CancellationToken cancellationToken);

    /// <summary><c>user</c>, <c>@domain</c>, <c>user@domain</c>, <c>user@*.domain</c>, <c>@</c>; a <c>+tag</c> counts only when the entry has one.</summary>
    ValueTask<bool> MatchMailAddressAsync(string address, CancellationToken cancellationToken);

    /// <summary>The values of a key (a map or aliases entry; empty for a list entry), or null when absent.</summary>
    ValueTask<TableEntry?> LookupAsync(string key, CancellationToken cancellationToken);
}

/// <summary>One entry: the key as the table spells it, and its values.</summary>
internal sealed record TableEntry(string Key, IReadOnlyList<string> Values);

/// <summary>A table that cannot answer now (its file is missing or unreadable): a temporary failure.</summary>
internal sealed class TableUnavailableException : IOException
{
    public TableUnavailableException(string table, string message, Exception? inner = null)
        : base($"table '{table}': {message}", inner)
    {
        Table = table;
    }

    public string Table { get; }
}

/// <summary>A rule asked about the client's reverse DNS name while its lookup had failed for now: a temporary failure (451 4.7.25).</summary>
internal sealed class ReverseDnsUnavailableException : IOException
{
    public ReverseDnsUnavailableException()
        : base("the client's reverse DNS lookup failed temporarily")
    {
    }
}
