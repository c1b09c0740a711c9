using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;

namespace SmtpServer.Protocol;

/// <summary>
/// Parses SMTP command lines (RFC 5321 §4.1.1). Pure: spans in, values or an <see cref="SmtpReply"/>
/// out, no exceptions on client input. The verb dispatch does not allocate.
/// </summary>
internal static partial class SmtpCommandParser
{
    private const byte SP = (byte)' ';

    // Four ASCII letters, lower-cased by OR-ing 0x20 into each byte, read little-endian. OR-ing
    // 0x20 maps only 'A'-'Z' onto 'a'-'z', so no other byte can be mistaken for a letter.
    private const uint AsciiLowerMask = 0x20202020;
    private const uint Helo = 'h' | ('e' << 8) | ('l' << 16) | ((uint)'o' << 24);
    private const uint Ehlo = 'e' | ('h' << 8) | ('l' << 16) | ((uint)'o' << 24);
    private const uint Mail = 'm' | ('a' << 8) | ('i' << 16) | ((uint)'l' << 24);
    private const uint Rcpt = 'r' | ('c' << 8) | ('p' << 16) | ((uint)'t' << 24);
    private const uint Data = 'd' | ('a' << 8) | ('t' << 16) | ((uint)'a' << 24);
    private const uint Bdat = 'b' | ('d' << 8) | ('a' << 16) | ((uint)'t' << 24);
    private const uint Rset = 'r' | ('s' << 8) | ('e' << 16) | ((uint)'t' << 24);
    private const uint Noop = 'n' | ('o' << 8) | ('o' << 16) | ((uint)'p' << 24);
    private const uint Quit = 'q' | ('u' << 8) | ('i' << 16) | ((uint)'t' << 24);
    private const uint Help = 'h' | ('e' << 8) | ('l' << 16) | ((uint)'p' << 24);
    private const uint Vrfy = 'v' | ('r' << 8) | ('f' << 16) | ((uint)'y' << 24);
    private const uint Expn = 'e' | ('x' << 8) | ('p' << 16) | ((uint)'n' << 24);
    private const uint Auth = 'a' | ('u' << 8) | ('t' << 16) | ((uint)'h' << 24);
    private const uint Star = 's' | ('t' << 8) | ('a' << 16) | ((uint)'r' << 24);
    private const uint Ttls = 't' | ('t' << 8) | ('l' << 16) | ((uint)'s' << 24);

    /// <summary>
    /// Identifies the verb (case-insensitive) and returns its arguments: the rest of the line after
    /// one space, trailing spaces and tabs removed. For "MAIL FROM:" and "RCPT TO:" the arguments
    /// start after the colon; spaces after the colon are tolerated ("MAIL FROM: &lt;a@b&gt;" is common),
    /// a space before it is not (RFC 5321 §4.1.1.2). When MAIL is not followed by "FROM:" (or RCPT
    /// by "TO:") the arguments are the rest of the line *including* the separating space, so that
    /// <see cref="TryParseMail"/> / <see cref="TryParseRcpt"/> reject "MAIL &lt;a@b&gt;" with 501 instead
    /// of mistaking it for "MAIL FROM:&lt;a@b&gt;".
    /// </summary>
    public static SmtpVerb ParseVerb(ReadOnlySpan<byte> line, out ReadOnlySpan<byte> arguments)
    {
        arguments = default;
        if (line.Length < 4 || (line.Length > 4 && line[4] != SP && line.Length < 8))
        {
            return SmtpVerb.Unknown;
        }

        uint word = BinaryPrimitives.ReadUInt32LittleEndian(line) | AsciiLowerMask;
        if (line.Length > 4 && line[4] != SP)
        {
            // STARTTLS is the only verb longer than four letters.
            if (word == Star && (BinaryPrimitives.ReadUInt32LittleEndian(line[4..]) | AsciiLowerMask) == Ttls
                && (line.Length == 8 || line[8] == SP))
            {
                arguments = Arguments(line, 8);
                return SmtpVerb.StartTls;
            }

            return SmtpVerb.Unknown;
        }

        SmtpVerb verb = word switch
        {
            Helo => SmtpVerb.Helo,
            Ehlo => SmtpVerb.Ehlo,
            Mail => SmtpVerb.Mail,
            Rcpt => SmtpVerb.Rcpt,
            Data => SmtpVerb.Data,
            Bdat => SmtpVerb.Bdat,
            Rset => SmtpVerb.Rset,
            Noop => SmtpVerb.Noop,
            Quit => SmtpVerb.Quit,
            Help => SmtpVerb.Help,
            Vrfy => SmtpVerb.Vrfy,
            Expn => SmtpVerb.Expn,
            Auth => SmtpVerb.Auth,
            _ => SmtpVerb.Unknown,
        };

        if (verb == SmtpVerb.Unknown)
        {
            return verb;
        }

        if (verb is SmtpVerb.Mail or SmtpVerb.Rcpt)
        {
            ReadOnlySpan<byte> keyword = verb == SmtpVerb.Mail ? " from:"u8 : " to:"u8;
            if (SmtpSyntax.StartsWithIgnoreCase(line[4..], keyword))
            {
                arguments = SmtpSyntax.TrimTrailingWhitespace(line[(4 + keyword.Length)..]).TrimStart(SP);
            }
            else
            {
                arguments = SmtpSyntax.TrimTrailingWhitespace(line[4..]);
            }

            return verb;
        }

        arguments = Arguments(line, 4);
        return verb;
    }

    private static ReadOnlySpan<byte> Arguments(ReadOnlySpan<byte> line, int verbLength) =>
        line.Length <= verbLength + 1 ? default : SmtpSyntax.TrimTrailingWhitespace(line[(verbLength + 1)..]);

    /// <summary>
    /// HELO/EHLO argument (RFC 5321 §4.1.1.1): a Domain or an address-literal, UTF-8 U-labels
    /// allowed (RFC 6531 §3.3). Returned as sent.
    /// </summary>
    public static bool TryParseHelo(ReadOnlySpan<byte> arguments, [NotNullWhen(true)] out string? domain, [NotNullWhen(false)] out SmtpReply? error)
    {
        domain = null;
        if (arguments.IsEmpty)
        {
            error = SmtpReplies.HeloDomainRequired;
            return false;
        }

        int length = SmtpAddressParser.DomainOrAddressLiteral(arguments);
        if (length != arguments.Length || !SmtpSyntax.IsSafeText(arguments))
        {
            error = SmtpReplies.HeloInvalidDomain;
            return false;
        }

        domain = SmtpSyntax.ToText(arguments);
        error = null;
        return true;
    }

    /// <summary>BDAT SP chunk-size [ SP "LAST" ] (RFC 3030 §2, §3); chunk-size = 1*DIGIT, at most 18 here so it fits a long.</summary>
    public static bool TryParseBdat(ReadOnlySpan<byte> arguments, out long chunkSize, out bool last, [NotNullWhen(false)] out SmtpReply? error)
    {
        const int MaxDigits = 18;
        chunkSize = 0;
        last = false;
        int digits = arguments.IndexOfAnyExceptInRange((byte)'0', (byte)'9');
        if (digits < 0)
        {
            digits = arguments.Length;
        }

        if (digits is 0 or > MaxDigits)
        {
            error = SmtpReplies.BdatSyntax;
            return false;
        }

        ReadOnlySpan<byte> rest = arguments[digits..];
        if (!rest.IsEmpty)
        {
            if (rest[0] != SP || !SmtpSyntax.EqualsIgnoreCase(rest.TrimStart(SP), "last"u8))
            {
                error = SmtpReplies.BdatSyntax;
                return false;
            }

            last = true;
        }

        long size = 0;
        foreach (byte b in arguments[..digits])
        {
            size = (size * 10) + (b - '0');
        }

        chunkSize = size;
        error = null;
        return true;
    }
}
