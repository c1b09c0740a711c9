using System.Net;
using SmtpServer.Core.Routing;

namespace SmtpServer.Core.Dns;

/// <summary>
/// hosts(5) for reverse lookups: the first name listed for an address (its canonical name), as
/// the system's resolver answers it before DNS. Read again when the file's modification time
/// or length changes (Docker rewrites /etc/hosts of a running container); a file that cannot
/// be read, or is larger than <see cref="MaxLength"/>, answers nothing and DNS decides.
/// </summary>
internal sealed class HostsFile(string path)
{
    public const string SystemPath = "/etc/hosts";

    /// <summary>Far above any real hosts file; a bound on what a misconfiguration can cost.</summary>
    public const long MaxLength = 1024 * 1024;

    private readonly Lock _lock = new();
    private (DateTime Modified, long Length) _version;
    private Dictionary<IPAddress, string> _names = [];

    public string Path { get; } = path;

    public string? NameOf(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var names = Current();
        return names.TryGetValue(NetworkAddress.Unmap(address), out var name) ? name : null;
    }

    private Dictionary<IPAddress, string> Current()
    {
        (DateTime, long) version;
        try
        {
            var info = new FileInfo(Path);
            version = info.Exists ? (info.LastWriteTimeUtc, info.Length) : default;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            version = default;
        }

        lock (_lock)
        {
            if (version != _version)
            {
                _names = version == default || version.Item2 > MaxLength ? [] : Read(Path);
                _version = version;
            }

            return _names;
        }
    }

    private static Dictionary<IPAddress, string> Read(string path)
    {
        var names = new Dictionary<IPAddress, string>();
        try
        {
            foreach (var raw in File.ReadLines(path))
            {
                var hash = raw.IndexOf('#', StringComparison.Ordinal);
                var fields = (hash < 0 ? raw : raw[..hash]).Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);

                // "address name [aliases...]": the first line of an address wins, as in glibc.
                if (fields.Length >= 2 && IPAddress.TryParse(fields[0], out var address) && DomainName.IsHostName(fields[1].TrimEnd('.')))
                {
                    names.TryAdd(NetworkAddress.Unmap(address), fields[1].TrimEnd('.'));
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }

        return names;
    }
}
