using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace SmtpServer.Protocol;

/// <summary>Character classes of the RFC 5321 §4.1.2 ABNF, extended by RFC 6531 §3.3 with UTF-8.</summary>
internal static class SmtpSyntax
{
    private const string Alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    /// <summary>atext (RFC 5322 §3.2.3) plus every non-ASCII byte (RFC 6531 §3.3 UTF8-non-ascii; validated as UTF-8 separately).</summary>
    public static readonly SearchValues<byte> Atext = SearchValues.Create(Bytes(Alnum + "!#$%&'*+-/=?^_`{|}~", withNonAscii: true));

    /// <summary>Let-dig and hyphen of a sub-domain, plus non-ASCII bytes for U-labels (RFC 6531 §3.3).</summary>
    public static readonly SearchValues<byte> LabelChars = SearchValues.Create(Bytes(Alnum + "-", withNonAscii: true));

    /// <summary>Letters and digits: an esmtp-keyword starts with one (RFC 5321 §4.1.2).</summary>
    public static readonly SearchValues<byte> LetDig = SearchValues.Create(Bytes(Alnum, withNonAscii: false));

    /// <summary>Ldh-str characters (ASCII only), for keywords and Standardized-tag.</summary>
    public static readonly SearchValues<byte> Ldh = SearchValues.Create(Bytes(Alnum + "-", withNonAscii: false));

    /// <summary>Hex digits accepted in an IPv6 literal; anything else (a zone index "%eth0") is rejected before IPAddress.TryParse.</summary>
    public static readonly SearchValues<byte> Ipv6Chars = SearchValues.Create(Bytes("0123456789abcdefABCDEF:.", withNonAscii: false));

    private static byte[] Bytes(string ascii, bool withNonAscii)
    {
        var list = new List<byte>(Encoding.ASCII.GetBytes(ascii));
        if (withNonAscii)
        {
            for (int b = 0x80; b <= 0xFF; b++)
            {
                list.Add((byte)b);
            }
        }

        return [.. list];
    }

    public static bool IsLetDig(byte b) => LetDig.Contains(b);

    public static bool IsDigit(byte b) => (uint)(b - '0') <= 9;

    /// <summary>
    /// Well-formed UTF-8 with no C0/C1 control characters and no DEL: what we accept anywhere a
    /// client's text ends up in a queue file, a header or a log.
    /// </summary>
    public static bool IsSafeText(ReadOnlySpan<byte> text)
    {
        if (text.IndexOfAnyInRange((byte)0x00, (byte)0x1F) >= 0 || text.Contains((byte)0x7F))
        {
            return false;
        }

        if (Ascii.IsValid(text))
        {
            return true;
        }

        if (!Utf8.IsValid(text))
        {
            return false;
        }

        // C1 controls U+0080..U+009F are encoded as C2 80..C2 9F.
        for (int i = text.IndexOf((byte)0xC2); i >= 0 && i + 1 < text.Length;)
        {
            if (text[i + 1] is >= 0x80 and <= 0x9F)
            {
                return false;
            }

            int next = text[(i + 1)..].IndexOf((byte)0xC2);
            i = next < 0 ? -1 : i + 1 + next;
        }

        return true;
    }

    /// <summary>ASCII case-insensitive comparison against a lower-case ASCII literal.</summary>
    public static bool EqualsIgnoreCase(ReadOnlySpan<byte> value, ReadOnlySpan<byte> lowerLiteral) =>
        Ascii.EqualsIgnoreCase(value, lowerLiteral);

    public static bool StartsWithIgnoreCase(ReadOnlySpan<byte> value, ReadOnlySpan<byte> lowerLiteral) =>
        value.Length >= lowerLiteral.Length && Ascii.EqualsIgnoreCase(value[..lowerLiteral.Length], lowerLiteral);

    public static ReadOnlySpan<byte> TrimTrailingWhitespace(ReadOnlySpan<byte> value) => value.TrimEnd(" \t"u8);

    public static string ToText(ReadOnlySpan<byte> utf8) => Encoding.UTF8.GetString(utf8);
}
