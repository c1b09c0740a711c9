using System.Net;

namespace SmtpServer.Core.Routing;

/// <summary>
/// A <c>type: list</c> table, or an inline list in a rule (<c>domain: [a, b]</c>). Entries
/// written <c>~ pattern</c> are regular expressions. Answers synchronously.
/// </summary>
internal sealed class StaticListTable : ILookupTable
{
    private readonly TableContents _contents;

    public StaticListTable(string name, IEnumerable<string> values, char delimiter = '+')
    {
        Name = name;
        Values = [.. values];
        _contents = new TableContents(Values.Select(v => (v, (IReadOnlyList<string>)[])), delimiter, allowPatterns: true);
    }

    private StaticListTable(string name, List<(string Key, IReadOnlyList<string> Values)> entries, char delimiter)
    {
        Name = name;
        Values = [.. entries.Select(e => e.Key)];
        _contents = new TableContents(entries, delimiter, allowPatterns: false);
    }

    /// <summary>A static map (keys with values), as an aliases or virtual table.</summary>
    public static StaticListTable Map(string name, IEnumerable<(string Key, IReadOnlyList<string> Values)> entries, char delimiter = '+')
        => new(name, [.. entries], delimiter);

    public string Name { get; }

    public IReadOnlyList<string> Values { get; }

    public ValueTask<bool> MatchDomainAsync(string domain, CancellationToken cancellationToken) => new(_contents.MatchDomain(domain));

    public ValueTask<bool> MatchAddressAsync(IPAddress address, CancellationToken cancellationToken) => new(_contents.MatchAddress(address));

    public ValueTask<bool> MatchKeyAsync(string key, CancellationToken cancellationToken) => new(_contents.MatchKey(key));

    public ValueTask<bool> MatchMailAddressAsync(string address, CancellationToken cancellationToken) => new(_contents.MatchMailAddress(address));

    public ValueTask<TableEntry?> LookupAsync(string key, CancellationToken cancellationToken) => new(_contents.Lookup(key));

    public override string ToString() => Name;
}
