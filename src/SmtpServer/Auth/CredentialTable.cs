using Microsoft.Extensions.Logging;

namespace SmtpServer.Auth;

/// <summary>
/// A <c>format: credentials</c> file table: <c>user:hash</c> (or <c>user hash</c>, as OpenSMTPD's
/// table(5)) per line, <c>#</c> comments. Re-read when the file's modification time changes, so
/// users are added without a restart. A user name that is not in the table still costs one hash
/// computation of the same kind as a real one, so timing does not reveal which users exist.
/// </summary>
internal sealed class CredentialTable(string path, ILogger logger)
{
    private readonly Lock _lock = new();
    private DateTime _stamp;
    private Dictionary<string, (string Name, string Hash)> _users = new(StringComparer.OrdinalIgnoreCase);
    private string? _decoy;

    /// <summary>The table's spelling of the user when the password matches; null otherwise.</summary>
    /// <exception cref="IOException">The file cannot be read (a temporary failure, 454).</exception>
    public string? Authenticate(string user, string password)
    {
        var (users, decoy) = Current();
        if (users.TryGetValue(user, out var entry))
        {
            return PasswordHash.Verify(password, entry.Hash) ? entry.Name : null;
        }

        // Same cost as a real user: verify against some real hash and throw the answer away.
        _ = PasswordHash.Verify(password, decoy ?? DefaultDecoy);
        return null;
    }

    private (Dictionary<string, (string Name, string Hash)> Users, string? Decoy) Current()
    {
        lock (_lock)
        {
            if (!File.Exists(path))
            {
                throw new FileNotFoundException($"credentials table '{path}' does not exist", path);
            }

            var stamp = File.GetLastWriteTimeUtc(path);
            if (stamp != _stamp)
            {
                (_users, _decoy) = Parse(File.ReadAllLines(path), path, logger);
                _stamp = stamp;
            }

            return (_users, _decoy);
        }
    }

    internal static (Dictionary<string, (string Name, string Hash)>, string?) Parse(IEnumerable<string> lines, string path, ILogger logger)
    {
        var users = new Dictionary<string, (string Name, string Hash)>(StringComparer.OrdinalIgnoreCase);
        string? decoy = null;
        var number = 0;
        foreach (var raw in lines)
        {
            number++;
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var separator = line.IndexOfAny([':', ' ', '\t']);
            var user = separator <= 0 ? string.Empty : line[..separator].Trim();
            var hash = separator <= 0 ? string.Empty : line[(separator + 1)..].Trim();
            if (user.Length == 0 || !PasswordHash.IsSupported(hash))
            {
                // Never log the line itself: it may hold a password written in clear by mistake.
                AuthLog.BadCredentialLine(logger, path, number);
                continue;
            }

            users[user] = (user, hash);
            decoy ??= hash;
        }

        return (users, decoy);
    }

    // Used only when the table is empty: any valid hash of the default cost.
    private const string DefaultDecoy = "$6$decoydecoydecoy$0VFBbsF8mz0yK4S3y/6S2tRsDJxvEvr7sOHaKQwx6C0Db5SbYNH/kiHZk.T1C1Rs3pjyZS3WxOqM8a5ym6N0n/";
}
