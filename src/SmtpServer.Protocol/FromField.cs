using System.Buffers;

namespace SmtpServer.Protocol;

/// <summary>
/// The From: field as masquerade rewrites it (OpenSMTPD's <c>senders &lt;table&gt; masquerade</c>):
/// the address becomes the envelope sender, the display name of the first mailbox stays, byte for
/// byte (encoded words, quoted strings, comments and folding included). Works on the raw field,
/// whose size the header section bound already limits, in one linear pass.
/// </summary>
internal static class FromField
{
    /// <summary>
    /// Writes <c>Name: display-name &lt;address&gt;</c> CRLF (or <c>Name: address</c> without a
    /// display name) in place of <paramref name="field"/>: one header field, name to end,
    /// continuation lines included. A list of mailboxes becomes the one address; a group, or a
    /// value that is no mailbox list, keeps no display name (never the old address: a value we
    /// cannot parse must not get through unchanged).
    /// </summary>
    public static void Rewrite(ReadOnlySpan<byte> field, ReadOnlySpan<byte> address, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var colon = field.IndexOf((byte)':');
        if (colon < 0)
        {
            throw new ArgumentException("not a header field", nameof(field));
        }

        var phrase = DisplayName(field[(colon + 1)..]);
        output.Write(field[..colon]);
        output.Write(": "u8);
        if (phrase.IsEmpty)
        {
            output.Write(address);
        }
        else
        {
            output.Write(phrase);
            output.Write(" <"u8);
            output.Write(address);
            output.Write(">"u8);
        }

        output.Write("\r\n"u8);
    }

    /// <summary>
    /// The display name (RFC 5322 §3.4 <c>name-addr</c>) of the first mailbox of a From: value,
    /// without surrounding white space; empty when the first mailbox is a bare addr-spec, the
    /// value is a group, or it does not parse (an open quoted string, comment or angle bracket).
    /// </summary>
    public static ReadOnlySpan<byte> DisplayName(ReadOnlySpan<byte> value)
    {
        var quoted = false;
        var escaped = false;
        var comment = 0;
        var angleStart = -1;
        var angleEnd = -1;
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (escaped)
            {
                // quoted-pair (§3.2.1) inside a quoted string or comment.
                escaped = false;
                continue;
            }

            if (quoted || comment > 0)
            {
                switch (c)
                {
                    case (byte)'\\':
                        escaped = true;
                        break;
                    case (byte)'"' when quoted:
                        quoted = false;
                        break;
                    case (byte)'(' when !quoted:
                        comment++;
                        break;
                    case (byte)')' when !quoted:
                        comment--;
                        break;
                }

                continue;
            }

            switch (c)
            {
                case (byte)'"':
                    quoted = true;
                    break;
                case (byte)'(':
                    comment = 1;
                    break;
                case (byte)'<' when angleStart < 0:
                    angleStart = i;
                    break;
                case (byte)'>' when angleStart >= 0 && angleEnd < 0:
                    angleEnd = i;
                    break;
                case (byte)':' when angleStart < 0:
                    // A group (§3.4: display-name ":" [group-list] ";"): its name is no mailbox's.
                    return default;
                case (byte)',' when angleStart < 0 || angleEnd >= 0:
                    // The end of the first mailbox (a comma inside <...> is an obs-route's).
                    return Phrase(value, angleStart, angleEnd);
            }
        }

        return quoted || escaped || comment > 0 ? default : Phrase(value, angleStart, angleEnd);
    }

    private static ReadOnlySpan<byte> Phrase(ReadOnlySpan<byte> value, int angleStart, int angleEnd)
        => angleStart < 0 || angleEnd < 0 ? default : value[..angleStart].Trim(" \t\r\n"u8);
}
