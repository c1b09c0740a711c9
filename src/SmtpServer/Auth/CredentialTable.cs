using Microsoft.Extensions.Logging;
using SmtpServer.Core.Routing;

namespace SmtpServer.Auth;

/// <summary>
/// AUTH over a <c>format: credentials</c> file table (<c>user:hash</c> or <c>user hash</c> per
/// line, <c>#</c> comments): the same <see cref="FileTable"/> the rules use, so it re-reads the
/// file when it changes and answers case-insensitively. A user name that is not in the table
/// still costs one hash computation of the same kind as a real one, so timing does not reveal
/// which users exist.
/// </summary>
internal sealed class CredentialTable
{
    private readonly FileTable _table;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private TableContents? _checked;
    private string? _decoy;

    public CredentialTable(string path, ILogger logger)
        : this(new FileTable(path, path, TableFormat.Credentials), logger)
    {
    }

    public CredentialTable(FileTable table, ILogger logger)
    {
        _table = table;
        _logger = logger;
    }

    /// <summary>The table's spelling of the user when the password matches; null otherwise.</summary>
    /// <exception cref="IOException">The file cannot be read (a temporary failure, 454).</exception>
    public string? Authenticate(string user, string password)
    {
        var contents = _table.Contents;
        var decoy = Check(contents);
        if (contents.Lookup(user) is { } entry && PasswordHash.IsSupported(entry.Values[0]))
        {
            return PasswordHash.Verify(password, entry.Values[0]) ? entry.Key : null;
        }

        // Same cost as a real user: verify against some real hash and throw the answer away.
        _ = PasswordHash.Verify(password, decoy ?? DefaultDecoy);
        return null;
    }

    /// <summary>Logs the bad lines of a new version of the file once, and picks its decoy hash.</summary>
    private string? Check(TableContents contents)
    {
        lock (_lock)
        {
            if (ReferenceEquals(contents, _checked))
            {
                return _decoy;
            }

            _decoy = null;
            foreach (var problem in _table.Problems)
            {
                AuthLog.BadCredentialLine(_logger, _table.Path, problem.Line);
            }

            foreach (var entry in contents.Entries)
            {
                if (PasswordHash.IsSupported(entry.Values[0]))
                {
                    _decoy ??= entry.Values[0];
                }
                else
                {
                    // Never log the line itself: it may hold a password written in clear by mistake.
                    AuthLog.BadCredentialLine(_logger, _table.Path, 0);
                }
            }

            _checked = contents;
            return _decoy;
        }
    }

    // Used only when the table is empty: any valid hash of the default cost.
    private const string DefaultDecoy = "$6$decoydecoydecoy$0VFBbsF8mz0yK4S3y/6S2tRsDJxvEvr7sOHaKQwx6C0Db5SbYNH/kiHZk.T1C1Rs3pjyZS3WxOqM8a5ym6N0n/";
}
