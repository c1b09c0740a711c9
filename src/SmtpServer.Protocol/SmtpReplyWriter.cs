using System.Buffers;

namespace SmtpServer.Protocol;

/// <summary>
/// Formats replies (RFC 5321 §4.2): "code-text" for every line but the last, "code text" for the
/// last, each with the enhanced status code when there is one (RFC 2034 §4).
/// </summary>
internal static class SmtpReplyWriter
{
    /// <summary>RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets including the CRLF.</summary>
    public const int MaxLineLength = 512;

    /// <summary>
    /// Writes the reply. Text is sanitized to printable ASCII ('?' for anything else, CR and LF
    /// included) and each line is cut at 512 octets: replies can echo client input, and OpenSMTPD's
    /// 2019-08 remote crash came from an over-long echoed reply (REFERENCE.md §4).
    /// </summary>
    public static void Write(IBufferWriter<byte> output, SmtpReply reply)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(reply);

        IReadOnlyList<string> lines = reply.Lines;
        int code = reply.Code;
        for (int n = 0; n < lines.Count; n++)
        {
            Span<byte> span = output.GetSpan(MaxLineLength);
            span[0] = (byte)('0' + (code / 100));
            span[1] = (byte)('0' + (code / 10 % 10));
            span[2] = (byte)('0' + (code % 10));
            span[3] = n == lines.Count - 1 ? (byte)' ' : (byte)'-';
            int position = 4;
            Span<byte> room = span[..(MaxLineLength - 2)];
            string text = lines[n];
            if (reply.Status is { } status)
            {
                position += CopySanitized(status, room[position..]);
                if (text.Length > 0 && position < room.Length)
                {
                    room[position++] = (byte)' ';
                }
            }

            position += CopySanitized(text, room[position..]);
            if (position == 4 && n == lines.Count - 1)
            {
                position = 3; // "250" rather than "250 " when there is no text at all
            }

            span[position++] = (byte)'\r';
            span[position++] = (byte)'\n';
            output.Advance(position);
        }
    }

    private static int CopySanitized(string text, Span<byte> destination)
    {
        int length = Math.Min(text.Length, destination.Length);
        for (int i = 0; i < length; i++)
        {
            char c = text[i];
            destination[i] = c is (>= ' ' and <= '~') or '\t' ? (byte)c : (byte)'?';
        }

        return length;
    }
}
