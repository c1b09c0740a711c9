namespace SmtpServer.Protocol;

/// <summary>
/// xtext (RFC 3461 §4): xchar = "!".."~" except "+" and "="; hexchar = "+" 2HEXDIG. The RFC
/// spells the hex digits upper-case; lower-case is accepted too (being strict buys nothing here).
/// </summary>
internal static class XText
{
    /// <summary>Decodes into <paramref name="destination"/>; false on malformed input or when it does not fit.</summary>
    /// <summary>Encodes <paramref name="value"/> (UTF-8) as xtext: "+", "=" and bytes outside 33..126 become "+HH" (RFC 3461 §4).</summary>
    public static string Encode(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var text = new System.Text.StringBuilder(value.Length);
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(value))
        {
            if (b is < 33 or > 126 or (byte)'+' or (byte)'=')
            {
                text.Append('+').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                text.Append((char)b);
            }
        }

        return text.ToString();
    }

    public static bool TryDecode(ReadOnlySpan<byte> xtext, Span<byte> destination, out int written)
    {
        written = 0;
        for (int i = 0; i < xtext.Length; i++)
        {
            byte c = xtext[i];
            if (c == '+')
            {
                if (i + 2 >= xtext.Length)
                {
                    return false;
                }

                int hi = HexValue(xtext[i + 1]);
                int lo = HexValue(xtext[i + 2]);
                if (hi < 0 || lo < 0)
                {
                    return false;
                }

                c = (byte)((hi << 4) | lo);
                i += 2;
            }
            else if (c is < 33 or > 126 or (byte)'=')
            {
                return false;
            }

            if (written == destination.Length)
            {
                return false;
            }

            destination[written++] = c;
        }

        return true;
    }

    /// <summary>
    /// utf-8-addr-xtext / utf-8-addr-unitext (RFC 6533 §3): QCHAR (xchar minus "\"), "\x{HEXPOINT}"
    /// escapes, and (unitext, only with SMTPUTF8) raw UTF-8. Decoded to UTF-8.
    /// </summary>
    public static bool TryDecodeUtf8Address(ReadOnlySpan<byte> value, bool allowRawUtf8, Span<byte> destination, out int written)
    {
        written = 0;
        for (int i = 0; i < value.Length; i++)
        {
            byte c = value[i];
            if (c == '\\')
            {
                // EmbeddedUnicodeChar = %x5C.78 "{" HEXPOINT "}"; HEXPOINT is 2 to 6 hex digits.
                if (i + 3 >= value.Length || value[i + 1] != 'x' || value[i + 2] != '{')
                {
                    return false;
                }

                int close = value[(i + 3)..].IndexOf((byte)'}');
                if (close is < 2 or > 6)
                {
                    return false;
                }

                int scalar = 0;
                foreach (byte h in value.Slice(i + 3, close))
                {
                    int digit = HexValue(h);
                    if (digit < 0)
                    {
                        return false;
                    }

                    scalar = (scalar << 4) | digit;
                }

                if (!System.Text.Rune.TryCreate(scalar, out System.Text.Rune rune)
                    || !rune.TryEncodeToUtf8(destination[written..], out int n))
                {
                    return false;
                }

                written += n;
                i += 3 + close;
                continue;
            }

            bool ok = c is >= 33 and <= 126 and not (byte)'+' and not (byte)'=' || (allowRawUtf8 && c >= 0x80);
            if (!ok || written == destination.Length)
            {
                return false;
            }

            destination[written++] = c;
        }

        return true;
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        _ => -1,
    };
}
