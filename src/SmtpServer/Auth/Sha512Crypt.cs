using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace SmtpServer.Auth;

/// <summary>
/// SHA-512-crypt (<c>$6$</c>), as specified by Ulrich Drepper, "Unix crypt using SHA-256 and
/// SHA-512" (https://www.akkadia.org/drepper/SHA-crypt.txt): the format of glibc crypt(3),
/// <c>openssl passwd -6</c>, <c>mkpasswd -m sha-512</c> and OpenSMTPD's <c>smtpctl encrypt</c>.
/// </summary>
internal static class Sha512Crypt
{
    public const string Prefix = "$6$";
    private const string RoundsPrefix = "rounds=";
    private const int DefaultRounds = 5000;
    private const int MinRounds = 1000;
    private const int MaxRounds = 999_999_999;
    private const int MaxSaltLength = 16;
    private const string Alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    /// <summary>A new hash with a random 16-character salt and the default 5000 rounds.</summary>
    public static string Hash(string password)
    {
        Span<char> salt = stackalloc char[MaxSaltLength];
        for (var i = 0; i < salt.Length; i++)
        {
            salt[i] = Alphabet[RandomNumberGenerator.GetInt32(Alphabet.Length)];
        }

        return Crypt(password, Prefix + new string(salt));
    }

    /// <summary>
    /// crypt(password, setting): <paramref name="setting"/> is <c>$6$[rounds=N$]salt[$...]</c>
    /// (an existing hash works: what follows the salt is ignored).
    /// </summary>
    public static string Crypt(string password, string setting)
    {
        if (!setting.StartsWith(Prefix, StringComparison.Ordinal))
        {
            throw new FormatException("not a $6$ setting");
        }

        var rest = setting.AsSpan(Prefix.Length);
        var rounds = DefaultRounds;
        var customRounds = false;
        if (rest.StartsWith(RoundsPrefix, StringComparison.Ordinal))
        {
            var end = rest.IndexOf('$');
            if (end < 0 || !ulong.TryParse(rest[RoundsPrefix.Length..end], NumberStyles.None, CultureInfo.InvariantCulture, out var requested))
            {
                throw new FormatException("bad rounds= in a $6$ setting");
            }

            rounds = (int)Math.Clamp(requested, MinRounds, MaxRounds);
            customRounds = true;
            rest = rest[(end + 1)..];
        }

        var saltEnd = rest.IndexOf('$');
        var saltText = saltEnd < 0 ? rest : rest[..saltEnd];
        if (saltText.Length > MaxSaltLength)
        {
            saltText = saltText[..MaxSaltLength];
        }

        var key = Encoding.UTF8.GetBytes(password);
        var salt = Encoding.UTF8.GetBytes(saltText.ToString());
        try
        {
            var hash = Compute(key, salt, rounds);
            var result = new StringBuilder(Prefix.Length + 30 + salt.Length + 86).Append(Prefix);
            if (customRounds)
            {
                result.Append(RoundsPrefix).Append(rounds.ToString(CultureInfo.InvariantCulture)).Append('$');
            }

            result.Append(saltText).Append('$');
            Encode(hash, result);
            CryptographicOperations.ZeroMemory(hash);
            return result.ToString();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>True when <paramref name="password"/> hashes to <paramref name="hash"/>; compared in constant time.</summary>
    public static bool Verify(string password, string hash)
    {
        string computed;
        try
        {
            computed = Crypt(password, hash);
        }
        catch (FormatException)
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(computed), Encoding.ASCII.GetBytes(hash));
    }

    private static byte[] Compute(byte[] key, byte[] salt, int rounds)
    {
        // Steps 4-8: digest B = SHA512(key salt key).
        var b = SHA512.HashData([.. key, .. salt, .. key]);

        // Steps 1-3, 9-12: digest A.
        using var a = IncrementalHash.CreateHash(HashAlgorithmName.SHA512);
        a.AppendData(key);
        a.AppendData(salt);
        int n;
        for (n = key.Length; n > 64; n -= 64)
        {
            a.AppendData(b);
        }

        a.AppendData(b, 0, n);
        for (n = key.Length; n > 0; n >>= 1)
        {
            a.AppendData((n & 1) != 0 ? b : key);
        }

        var c = a.GetHashAndReset();

        // Steps 13-16: byte sequence P from digest DP = SHA512(key repeated len(key) times).
        for (var i = 0; i < key.Length; i++)
        {
            a.AppendData(key);
        }

        var p = Repeat(a.GetHashAndReset(), key.Length);

        // Steps 17-20: byte sequence S from digest DS = SHA512(salt repeated 16 + A[0] times).
        for (var i = 0; i < 16 + c[0]; i++)
        {
            a.AppendData(salt);
        }

        var s = Repeat(a.GetHashAndReset(), salt.Length);

        // Step 21: the rounds.
        for (var i = 0; i < rounds; i++)
        {
            a.AppendData((i & 1) != 0 ? p : c);
            if (i % 3 != 0)
            {
                a.AppendData(s);
            }

            if (i % 7 != 0)
            {
                a.AppendData(p);
            }

            a.AppendData((i & 1) != 0 ? c : p);
            a.GetHashAndReset(c);
        }

        CryptographicOperations.ZeroMemory(p);
        return c;
    }

    private static byte[] Repeat(byte[] digest, int length)
    {
        var result = new byte[length];
        for (var i = 0; i < length; i += digest.Length)
        {
            digest.AsSpan(0, Math.Min(digest.Length, length - i)).CopyTo(result.AsSpan(i));
        }

        CryptographicOperations.ZeroMemory(digest);
        return result;
    }

    // Step 22: the spec's permuted base-64 of the 64-byte digest.
    private static void Encode(byte[] h, StringBuilder output)
    {
        ReadOnlySpan<byte> order =
        [
            0, 21, 42, 22, 43, 1, 44, 2, 23, 3, 24, 45, 25, 46, 4, 47, 5, 26, 6, 27, 48, 28, 49, 7,
            50, 8, 29, 9, 30, 51, 31, 52, 10, 53, 11, 32, 12, 33, 54, 34, 55, 13, 56, 14, 35, 15, 36, 57,
            37, 58, 16, 59, 17, 38, 18, 39, 60, 40, 61, 19, 62, 20, 41,
        ];
        for (var i = 0; i < order.Length; i += 3)
        {
            Base64From24(h[order[i]], h[order[i + 1]], h[order[i + 2]], 4, output);
        }

        Base64From24(0, 0, h[63], 2, output);
    }

    private static void Base64From24(byte b2, byte b1, byte b0, int count, StringBuilder output)
    {
        var w = (b2 << 16) | (b1 << 8) | b0;
        for (var i = 0; i < count; i++)
        {
            output.Append(Alphabet[w & 0x3f]);
            w >>= 6;
        }
    }
}
