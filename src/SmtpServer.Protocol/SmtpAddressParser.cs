using System.Net;
using System.Net.Sockets;

namespace SmtpServer.Protocol;

/// <summary>
/// Recursive-descent parser for RFC 5321 §4.1.2 paths, named after the ABNF productions, with
/// RFC 6531 §3.3 UTF-8. Works on spans and reports ranges: the caller decides when to allocate.
/// </summary>
internal static class SmtpAddressParser
{
    // RFC 5321 §4.5.3.1.1-3.
    public const int MaxLocalPartLength = 64;
    public const int MaxDomainLength = 255;
    public const int MaxPathLength = 256;
    private const int MaxLabelLength = 63;

    /// <summary>
    /// Path = "&lt;" [ A-d-l ":" ] Mailbox "&gt;", or "&lt;&gt;", or "&lt;Postmaster&gt;". The input starts at
    /// the "&lt;"; <paramref name="length"/> is the number of bytes of the path, "&gt;" included.
    /// A source route (A-d-l) is checked for syntax and then ignored (RFC 5321 §4.1.2, Appendix C).
    /// </summary>
    public static PathStatus ParsePath(ReadOnlySpan<byte> s, bool allowPostmaster, out int length, out Range localPart, out Range domain)
    {
        length = 0;
        localPart = default;
        domain = default;
        if (s.Length < 2 || s[0] != '<')
        {
            return PathStatus.Invalid;
        }

        if (s[1] == '>')
        {
            length = 2;
            return PathStatus.Null;
        }

        int i = 1;
        if (s[i] == '@')
        {
            if (!TrySkipSourceRoute(s, ref i))
            {
                return PathStatus.Invalid;
            }
        }
        else if (allowPostmaster && SmtpSyntax.StartsWithIgnoreCase(s[i..], "postmaster>"u8))
        {
            length = i + "postmaster>".Length;
            return PathStatus.Postmaster;
        }

        int localStart = i;
        int localLength = i < s.Length && s[i] == '"'
            ? QuotedString(s[i..])
            : DotString(s[i..]);
        if (localLength <= 0 || localLength > MaxLocalPartLength)
        {
            return PathStatus.Invalid;
        }

        i += localLength;
        if (i >= s.Length || s[i] != '@')
        {
            return PathStatus.Invalid;
        }

        i++;
        int domainStart = i;
        int domainLength = DomainOrAddressLiteral(s[i..]);
        if (domainLength <= 0)
        {
            return PathStatus.Invalid;
        }

        i += domainLength;
        if (i >= s.Length || s[i] != '>')
        {
            return PathStatus.Invalid;
        }

        length = i + 1;
        if (length > MaxPathLength || !SmtpSyntax.IsSafeText(s[..length]))
        {
            return PathStatus.Invalid;
        }

        localPart = new Range(localStart, localStart + localLength);
        domain = new Range(domainStart, domainStart + domainLength);
        return PathStatus.Mailbox;
    }

    // A-d-l = At-domain *( "," At-domain ) ":" ; At-domain = "@" Domain
    private static bool TrySkipSourceRoute(ReadOnlySpan<byte> s, ref int i)
    {
        while (true)
        {
            if (i >= s.Length || s[i] != '@')
            {
                return false;
            }

            i++;
            int length = Domain(s[i..]);
            if (length <= 0)
            {
                return false;
            }

            i += length;
            if (i < s.Length && s[i] == ',')
            {
                i++;
                continue;
            }

            if (i < s.Length && s[i] == ':')
            {
                i++;
                return true;
            }

            return false;
        }
    }

    /// <summary>Dot-string = Atom *("." Atom). Returns the length, or 0 when there is none.</summary>
    public static int DotString(ReadOnlySpan<byte> s)
    {
        int i = 0;
        while (true)
        {
            int atom = s[i..].IndexOfAnyExcept(SmtpSyntax.Atext);
            if (atom < 0)
            {
                atom = s.Length - i;
            }

            if (atom == 0)
            {
                return 0; // empty atom: leading, trailing or doubled dot
            }

            i += atom;
            if (i < s.Length && s[i] == '.')
            {
                i++;
                continue;
            }

            return i;
        }
    }

    /// <summary>
    /// Quoted-string = DQUOTE *QcontentSMTP DQUOTE, kept verbatim by the caller (quotes included).
    /// Returns the length including both quotes, or 0.
    /// </summary>
    public static int QuotedString(ReadOnlySpan<byte> s)
    {
        if (s.IsEmpty || s[0] != '"')
        {
            return 0;
        }

        for (int i = 1; i < s.Length; i++)
        {
            byte c = s[i];
            if (c == '"')
            {
                return i + 1;
            }

            if (c == '\\')
            {
                // quoted-pairSMTP = %d92 %d32-126
                i++;
                if (i >= s.Length || s[i] is < 32 or > 126)
                {
                    return 0;
                }
            }
            else if (c is < 32 or 127)
            {
                return 0; // qtextSMTP excludes controls; non-ASCII is RFC 6531 UTF8-non-ascii
            }
        }

        return 0;
    }

    /// <summary>Domain / address-literal. Returns the length, or 0.</summary>
    public static int DomainOrAddressLiteral(ReadOnlySpan<byte> s) =>
        !s.IsEmpty && s[0] == '[' ? AddressLiteral(s) : Domain(s);

    /// <summary>
    /// Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str] or a U-label
    /// (RFC 6531 §3.3). ASCII labels are at most 63 octets (RFC 1035 §2.3.4); the label length of a
    /// U-label is only known after punycode, so for those only the 255-octet total applies.
    /// Returns the length, or 0. A trailing dot is not part of the Domain production.
    /// </summary>
    public static int Domain(ReadOnlySpan<byte> s)
    {
        int i = 0;
        while (true)
        {
            int label = s[i..].IndexOfAnyExcept(SmtpSyntax.LabelChars);
            if (label < 0)
            {
                label = s.Length - i;
            }

            if (label == 0 || s[i] == '-' || s[i + label - 1] == '-')
            {
                return 0;
            }

            if (label > MaxLabelLength && System.Text.Ascii.IsValid(s.Slice(i, label)))
            {
                return 0;
            }

            i += label;
            if (i > MaxDomainLength)
            {
                return 0;
            }

            if (i < s.Length && s[i] == '.')
            {
                i++;
                continue;
            }

            return i;
        }
    }

    /// <summary>
    /// address-literal = "[" ( IPv4-address-literal / IPv6-address-literal / General-address-literal ) "]".
    /// Returns the length including the brackets, or 0.
    /// </summary>
    public static int AddressLiteral(ReadOnlySpan<byte> s)
    {
        if (s.IsEmpty || s[0] != '[')
        {
            return 0;
        }

        int close = s.IndexOf((byte)']');
        if (close < 2 || close + 1 > MaxDomainLength)
        {
            return 0;
        }

        ReadOnlySpan<byte> content = s[1..close];
        bool ok = SmtpSyntax.StartsWithIgnoreCase(content, "ipv6:"u8)
            ? IsIPv6(content[5..])
            : SmtpSyntax.IsDigit(content[0]) ? IsIPv4(content) : IsGeneralLiteral(content);
        return ok ? close + 1 : 0;
    }

    // IPv4-address-literal = Snum 3("." Snum); Snum = 1*3DIGIT representing 0-255.
    // Parsed by hand: IPAddress.TryParse also accepts "1.2.3" and "0x7f.1", which RFC 5321 does not.
    private static bool IsIPv4(ReadOnlySpan<byte> s)
    {
        int parts = 0;
        int i = 0;
        while (true)
        {
            int digits = 0;
            int value = 0;
            while (i < s.Length && SmtpSyntax.IsDigit(s[i]) && digits < 4)
            {
                value = (value * 10) + (s[i] - '0');
                digits++;
                i++;
            }

            if (digits is 0 or > 3 || value > 255)
            {
                return false;
            }

            parts++;
            if (i == s.Length)
            {
                return parts == 4;
            }

            if (s[i] != '.' || parts == 4)
            {
                return false;
            }

            i++;
        }
    }

    private static bool IsIPv6(ReadOnlySpan<byte> s)
    {
        if (s.IsEmpty || s.IndexOfAnyExcept(SmtpSyntax.Ipv6Chars) >= 0 || s.Length > 45)
        {
            return false;
        }

        Span<char> chars = stackalloc char[45];
        for (int i = 0; i < s.Length; i++)
        {
            chars[i] = (char)s[i];
        }

        return IPAddress.TryParse(chars[..s.Length], out IPAddress? address)
            && address.AddressFamily == AddressFamily.InterNetworkV6;
    }

    // General-address-literal = Standardized-tag ":" 1*dcontent; dcontent = %d33-90 / %d94-126.
    private static bool IsGeneralLiteral(ReadOnlySpan<byte> s)
    {
        int colon = s.IndexOf((byte)':');
        if (colon <= 0 || colon == s.Length - 1)
        {
            return false;
        }

        ReadOnlySpan<byte> tag = s[..colon];
        if (tag.IndexOfAnyExcept(SmtpSyntax.Ldh) >= 0 || tag[^1] == '-' || tag[0] == '-')
        {
            return false;
        }

        foreach (byte c in s[(colon + 1)..])
        {
            if (c is < 33 or > 126 or (>= 91 and <= 93))
            {
                return false;
            }
        }

        return true;
    }
}
