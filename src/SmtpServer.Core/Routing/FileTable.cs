using System.Net;

namespace SmtpServer.Core.Routing;

/// <summary>
/// A <c>type: file</c> table. The file is parsed on first use and again whenever its
/// modification time or length changes (one <c>stat</c> per lookup, no watcher threads), or after
/// <see cref="Invalidate"/> (<c>smtpctl update table</c>). A file that cannot be read makes every
/// lookup throw <see cref="TableUnavailableException"/>: a temporary failure, never an answer
/// from a table that may be out of date or half written.
/// </summary>
internal sealed class FileTable : ILookupTable
{
    private readonly Lock _lock = new();
    private readonly char _delimiter;
    private volatile Snapshot? _current;

    public FileTable(string name, string path, TableFormat format, char delimiter = '+')
    {
        Name = name;
        Path = path;
        Format = format;
        _delimiter = delimiter;
    }

    public string Name { get; }

    public string Path { get; }

    public TableFormat Format { get; }

    /// <summary>The current contents, re-read when the file changed.</summary>
    /// <exception cref="TableUnavailableException">The file is missing or unreadable.</exception>
    public TableContents Contents => Load().Contents;

    /// <summary>Lines of the current version that were skipped.</summary>
    public IReadOnlyList<TableProblem> Problems => Load().Problems;

    /// <summary>Forgets the loaded version: the next lookup reads the file.</summary>
    public void Invalidate() => _current = null;

    public ValueTask<bool> MatchDomainAsync(string domain, CancellationToken cancellationToken) => new(Contents.MatchDomain(domain));

    public ValueTask<bool> MatchAddressAsync(IPAddress address, CancellationToken cancellationToken) => new(Contents.MatchAddress(address));

    public ValueTask<bool> MatchKeyAsync(string key, CancellationToken cancellationToken) => new(Contents.MatchKey(key));

    public ValueTask<bool> MatchMailAddressAsync(string address, CancellationToken cancellationToken) => new(Contents.MatchMailAddress(address));

    public ValueTask<TableEntry?> LookupAsync(string key, CancellationToken cancellationToken) => new(Contents.Lookup(key));

    public override string ToString() => Name;

    private Snapshot Load()
    {
        var (stamp, length) = Stat();
        var current = _current;
        if (current is not null && current.Stamp == stamp && current.Length == length)
        {
            return current;
        }

        lock (_lock)
        {
            current = _current;
            if (current is not null && current.Stamp == stamp && current.Length == length)
            {
                return current;
            }

            string[] lines;
            try
            {
                lines = File.ReadAllLines(Path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new TableUnavailableException(Name, $"cannot read '{Path}': {e.Message}", e);
            }

            var problems = new List<TableProblem>();
            var entries = TableFileParser.Parse(lines, Format, problems);
            current = new Snapshot(stamp, length, new TableContents(entries, _delimiter), problems);
            _current = current;
            return current;
        }
    }

    private (DateTime Stamp, long Length) Stat()
    {
        try
        {
            var info = new FileInfo(Path);
            if (!info.Exists)
            {
                throw new TableUnavailableException(Name, $"'{Path}' does not exist");
            }

            return (info.LastWriteTimeUtc, info.Length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not TableUnavailableException)
        {
            throw new TableUnavailableException(Name, $"cannot stat '{Path}': {e.Message}", e);
        }
    }

    private sealed record Snapshot(DateTime Stamp, long Length, TableContents Contents, IReadOnlyList<TableProblem> Problems);
}
