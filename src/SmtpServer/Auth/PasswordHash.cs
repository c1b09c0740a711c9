namespace SmtpServer.Auth;

/// <summary>
/// Checks a password against a stored crypt(3)-style hash: bcrypt (<c>$2a$</c>, <c>$2b$</c>,
/// <c>$2y$</c>) or SHA-512-crypt (<c>$6$</c>). Both compare in constant time. Anything else
/// never matches (a plain-text password in the table is refused, not compared).
/// </summary>
internal static partial class PasswordHash
{
    public static bool IsSupported(string hash) =>
        hash.StartsWith(Sha512Crypt.Prefix, StringComparison.Ordinal) || Bcrypt().IsMatch(hash);

    // $2b$ cost $ 22 characters of salt and 31 of hash, in bcrypt's base-64 alphabet.
    [System.Text.RegularExpressions.GeneratedRegex(@"^\$2[aby]\$[0-3][0-9]\$[./A-Za-z0-9]{53}$")]
    private static partial System.Text.RegularExpressions.Regex Bcrypt();

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
