using System.Buffers;
using System.Text;

namespace SmtpServer.Delivery;

/// <summary>An SMTP or LMTP reply read by our client: the code, the RFC 3463 enhanced code of its first line if any, and its text lines.</summary>
internal sealed record SmtpClientReply(int Code, string? EnhancedStatus, IReadOnlyList<string> Lines)
{
    /// <summary>Longest reply line accepted, CRLF included; a longer one is a protocol error (RFC 5321 §4.5.3.1.5 asks for 512).</summary>
    public const int MaxLineLength = 4096;

    /// <summary>Most lines in one reply (LHLO lists a dozen capabilities at most).</summary>
    public const int MaxLines = 100;

    private const int MaxDiagnosticLength = 1000;

    public bool IsPositive => Code is >= 200 and < 300;

    public bool IsPermanent => Code is >= 500 and < 600;

    /// <summary>"550 5.1.1 text text", bounded, for the envelope's last error and the DSN Diagnostic-Code.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(Code);
        foreach (var line in Lines)
        {
            text.Append(' ').Append(line);
            if (text.Length > MaxDiagnosticLength)
            {
                return text.ToString(0, MaxDiagnosticLength) + "...";
            }
        }

        return text.ToString();
    }

    /// <summary>
    /// Parses one reply line: three digits, then '-' (more lines follow), ' ' or the end.
    /// Control characters in the text become '?': the remote's text ends up in logs, the
    /// envelope file and DSNs (the CVE-2020-8794 class).
    /// </summary>
    public static bool TryParseLine(in ReadOnlySequence<byte> line, out int code, out bool more, out string text)
    {
        code = 0;
        more = false;
        text = string.Empty;
        if (line.Length < 3)
        {
            return false;
        }

        Span<byte> head = stackalloc byte[4];
        var headLength = (int)Math.Min(4, line.Length);
        line.Slice(0, headLength).CopyTo(head);
        if (!char.IsAsciiDigit((char)head[0]) || !char.IsAsciiDigit((char)head[1]) || !char.IsAsciiDigit((char)head[2]))
        {
            return false;
        }

        code = ((head[0] - '0') * 100) + ((head[1] - '0') * 10) + (head[2] - '0');
        if (headLength == 4)
        {
            if (head[3] is not ((byte)'-' or (byte)' '))
            {
                return false;
            }

            more = head[3] == '-';
        }

        var chars = Encoding.UTF8.GetString(line.Slice(headLength)).ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (char.IsControl(chars[i]))
            {
                chars[i] = '?';
            }
        }

        text = new string(chars);
        return true;
    }

    /// <summary>The enhanced status code at the start of <paramref name="text"/> (e.g. "5.1.1 no such user"), if its class matches the reply code.</summary>
    public static string? ParseEnhancedStatus(int code, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var end = text.IndexOf(' ', StringComparison.Ordinal);
        var candidate = end < 0 ? text : text[..end];
        var parts = candidate.Split('.');
        if (parts.Length != 3 || parts[0].Length != 1 || parts[0][0] - '0' != code / 100)
        {
            return null;
        }

        foreach (var part in parts)
        {
            if (part.Length is 0 or > 3 || !part.All(char.IsAsciiDigit))
            {
                return null;
            }
        }

        return candidate;
    }
}

/// <summary>The SMTP or LMTP server broke the protocol (malformed or oversized reply, unexpected code).</summary>
internal sealed class SmtpClientProtocolException(string message) : Exception(message);
