namespace SmtpServer.Auth;

/// <summary>
/// Checks a password against a stored crypt(3)-style hash: bcrypt (<c>$2a$</c>, <c>$2b$</c>,
/// <c>$2y$</c>) or SHA-512-crypt (<c>$6$</c>). Both compare in constant time. Anything else
/// never matches (a plain-text password in the table is refused, not compared).
/// </summary>
internal static class PasswordHash
{
    public static bool IsSupported(string hash) =>
        hash.StartsWith(Sha512Crypt.Prefix, StringComparison.Ordinal)
        || hash.StartsWith("$2a$", StringComparison.Ordinal)
        || hash.StartsWith("$2b$", StringComparison.Ordinal)
        || hash.StartsWith("$2y$", StringComparison.Ordinal);

    public static bool Verify(string password, string hash)
    {
        if (hash.StartsWith(Sha512Crypt.Prefix, StringComparison.Ordinal))
        {
            return Sha512Crypt.Verify(password, hash);
        }

        if (IsSupported(hash))
        {
            try
            {
                return BCrypt.Net.BCrypt.Verify(password, hash);
            }
            catch (BCrypt.Net.SaltParseException)
            {
                return false;
            }
        }

        return false;
    }
}
