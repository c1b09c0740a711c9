using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace SmtpServer.Protocol;

/// <summary>MAIL FROM and RCPT TO with their ESMTP parameters (RFC 5321 §4.1.1.2-3, §4.1.2).</summary>
internal static partial class SmtpCommandParser
{
    // RFC 3461 §4.4: ENVID is at most 100 characters; §4.2: ORCPT at most 500.
    private const int MaxEnvelopeIdLength = 100;
    private const int MaxOriginalRecipientLength = 500;

    // RFC 4954 §5 sets no limit on AUTH=; this one keeps the decoding buffer on the stack.
    private const int MaxAuthLength = 500;

    // RFC 1870 §3: size-value ::= 1*20DIGIT.
    private const int MaxSizeDigits = 20;

    private static readonly Mailbox Postmaster = new("postmaster", string.Empty);

    [Flags]
    private enum Seen
    {
        None = 0,
        Size = 1,
        Body = 2,
        SmtpUtf8 = 4,
        Ret = 8,
        EnvId = 16,
        Auth = 32,
        Notify = 64,
        Orcpt = 128,
    }

    /// <summary>MAIL FROM:&lt;reverse-path&gt; [SP Mail-parameters]. <c>&lt;&gt;</c> gives a null <paramref name="sender"/>.</summary>
    public static bool TryParseMail(ReadOnlySpan<byte> arguments, out Mailbox? sender, [NotNullWhen(true)] out MailParameters? parameters, [NotNullWhen(false)] out SmtpReply? error)
    {
        sender = null;
        parameters = null;
        if (arguments.IsEmpty || arguments[0] != '<')
        {
            error = SmtpReplies.MailSyntax;
            return false;
        }

        PathStatus status = SmtpAddressParser.ParsePath(arguments, allowPostmaster: false, out int length, out Range localPart, out Range domain);
        if (status == PathStatus.Invalid || (length < arguments.Length && arguments[length] != SP))
        {
            error = SmtpReplies.BadSenderAddress;
            return false;
        }

        if (!TryParseMailParameters(arguments[length..], out MailParameters? parsed, out error))
        {
            return false;
        }

        if (status == PathStatus.Mailbox)
        {
            // RFC 6531 §3.4: a UTF-8 address is only allowed in a transaction opened with SMTPUTF8.
            if (!parsed.SmtpUtf8 && !Ascii.IsValid(arguments[..length]))
            {
                error = SmtpReplies.Utf8AddressWithoutSmtpUtf8;
                return false;
            }

            sender = new Mailbox(SmtpSyntax.ToText(arguments[localPart]), SmtpSyntax.ToText(arguments[domain]));
        }

        parameters = parsed;
        return true;
    }

    /// <summary>RCPT TO:&lt;forward-path&gt; [SP Rcpt-parameters]; <c>&lt;Postmaster&gt;</c> is allowed, <c>&lt;&gt;</c> is not.</summary>
    public static bool TryParseRcpt(ReadOnlySpan<byte> arguments, bool smtpUtf8, [NotNullWhen(true)] out Mailbox? recipient, [NotNullWhen(true)] out RcptParameters? parameters, [NotNullWhen(false)] out SmtpReply? error)
    {
        recipient = null;
        parameters = null;
        if (arguments.IsEmpty || arguments[0] != '<')
        {
            error = SmtpReplies.RcptSyntax;
            return false;
        }

        PathStatus status = SmtpAddressParser.ParsePath(arguments, allowPostmaster: true, out int length, out Range localPart, out Range domain);
        if (status == PathStatus.Invalid || (length < arguments.Length && arguments[length] != SP))
        {
            error = SmtpReplies.BadRecipientAddress;
            return false;
        }

        if (status == PathStatus.Null)
        {
            error = SmtpReplies.NullRecipient;
            return false;
        }

        if (!TryParseRcptParameters(arguments[length..], smtpUtf8, out parameters, out error))
        {
            return false;
        }

        if (status == PathStatus.Postmaster)
        {
            recipient = Postmaster;
            return true;
        }

        if (!smtpUtf8 && !Ascii.IsValid(arguments[..length]))
        {
            parameters = null;
            error = SmtpReplies.Utf8AddressWithoutSmtpUtf8;
            return false;
        }

        recipient = new Mailbox(SmtpSyntax.ToText(arguments[localPart]), SmtpSyntax.ToText(arguments[domain]));
        return true;
    }

    private static bool TryParseMailParameters(ReadOnlySpan<byte> rest, [NotNullWhen(true)] out MailParameters? parameters, [NotNullWhen(false)] out SmtpReply? error)
    {
        parameters = null;
        Seen seen = Seen.None;
        long? size = null;
        BodyType body = BodyType.SevenBit;
        DsnReturn ret = DsnReturn.Unspecified;
        string? envelopeId = null;
        string? auth = null;

        while (NextParameter(ref rest, out ReadOnlySpan<byte> keyword, out ReadOnlySpan<byte> value, out bool hasValue, out error))
        {
            Seen which = MailKeyword(keyword);
            if (which == Seen.None)
            {
                error = SmtpReplies.UnsupportedParameter(keyword);
                return false;
            }

            if ((seen & which) != 0)
            {
                // A repeated value-less SMTPUTF8 says nothing new; Python's smtplib sends it twice
                // when the caller asks for it and an address needs it. Any other repeat is an error.
                if (which == Seen.SmtpUtf8 && !hasValue)
                {
                    continue;
                }

                error = SmtpReplies.DuplicateParameter(keyword);
                return false;
            }

            seen |= which;
            bool ok = which switch
            {
                Seen.Size => hasValue && TryParseSize(value, out size),
                Seen.Body => hasValue && TryParseBody(value, out body),
                Seen.SmtpUtf8 => !hasValue, // RFC 6531 §3.4: SMTPUTF8 takes no value
                Seen.Ret => hasValue && TryParseRet(value, out ret),
                Seen.EnvId => hasValue && TryDecodeEnvelopeId(value, out envelopeId),
                Seen.Auth => hasValue && TryDecodeAuth(value, out auth),
                _ => false,
            };

            if (!ok)
            {
                error = SmtpReplies.InvalidParameterValue(keyword);
                return false;
            }
        }

        if (error is not null)
        {
            return false;
        }

        parameters = seen == Seen.None
            ? MailParameters.Empty
            : new MailParameters
            {
                Size = size,
                Body = body,
                SmtpUtf8 = (seen & Seen.SmtpUtf8) != 0,
                Ret = ret,
                EnvelopeId = envelopeId,
                Auth = auth,
            };
        return true;
    }

    private static bool TryParseRcptParameters(ReadOnlySpan<byte> rest, bool smtpUtf8, [NotNullWhen(true)] out RcptParameters? parameters, [NotNullWhen(false)] out SmtpReply? error)
    {
        parameters = null;
        Seen seen = Seen.None;
        DsnNotify notify = DsnNotify.None;
        string? orcptType = null;
        string? orcpt = null;

        while (NextParameter(ref rest, out ReadOnlySpan<byte> keyword, out ReadOnlySpan<byte> value, out bool hasValue, out error))
        {
            Seen which = SmtpSyntax.EqualsIgnoreCase(keyword, "notify"u8) ? Seen.Notify
                : SmtpSyntax.EqualsIgnoreCase(keyword, "orcpt"u8) ? Seen.Orcpt
                : Seen.None;
            if (which == Seen.None)
            {
                error = SmtpReplies.UnsupportedParameter(keyword);
                return false;
            }

            if ((seen & which) != 0)
            {
                error = SmtpReplies.DuplicateParameter(keyword);
                return false;
            }

            seen |= which;
            if (which == Seen.Notify)
            {
                if (!hasValue || !TryParseNotify(value, out notify))
                {
                    error = SmtpReplies.InvalidParameterValue(keyword);
                    return false;
                }

                if ((notify & DsnNotify.Never) != 0 && notify != DsnNotify.Never)
                {
                    error = SmtpReplies.NotifyNeverCombined;
                    return false;
                }
            }
            else if (!hasValue || !TryParseOriginalRecipient(value, smtpUtf8, out orcptType, out orcpt))
            {
                error = SmtpReplies.InvalidParameterValue(keyword);
                return false;
            }
        }

        if (error is not null)
        {
            return false;
        }

        parameters = seen == Seen.None
            ? RcptParameters.Empty
            : new RcptParameters { Notify = notify, OriginalRecipientType = orcptType, OriginalRecipient = orcpt };
        return true;
    }

    /// <summary>
    /// Takes the next esmtp-param (RFC 5321 §4.1.2): esmtp-keyword ["=" esmtp-value], separated by
    /// SP (several spaces tolerated). esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-");
    /// esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 (RFC 6531 §4.3). Returns false at the end,
    /// or with <paramref name="error"/> set on a malformed parameter.
    /// </summary>
    private static bool NextParameter(ref ReadOnlySpan<byte> rest, out ReadOnlySpan<byte> keyword, out ReadOnlySpan<byte> value, out bool hasValue, out SmtpReply? error)
    {
        keyword = default;
        value = default;
        hasValue = false;
        error = null;
        rest = rest.TrimStart(SP);
        if (rest.IsEmpty)
        {
            return false;
        }

        int end = rest.IndexOf(SP);
        ReadOnlySpan<byte> token = end < 0 ? rest : rest[..end];
        rest = end < 0 ? default : rest[end..];

        int equals = token.IndexOf((byte)'=');
        keyword = equals < 0 ? token : token[..equals];
        if (keyword.IsEmpty || !SmtpSyntax.IsLetDig(keyword[0]) || keyword.IndexOfAnyExcept(SmtpSyntax.Ldh) >= 0)
        {
            error = SmtpReplies.ArgumentSyntaxError;
            return false;
        }

        if (equals >= 0)
        {
            hasValue = true;
            value = token[(equals + 1)..];
            if (value.IsEmpty || value.IndexOf((byte)'=') >= 0 || !SmtpSyntax.IsSafeText(value))
            {
                error = SmtpReplies.InvalidParameterValue(keyword);
                return false;
            }
        }

        return true;
    }

    private static Seen MailKeyword(ReadOnlySpan<byte> keyword) => keyword.Length switch
    {
        4 when SmtpSyntax.EqualsIgnoreCase(keyword, "size"u8) => Seen.Size,
        4 when SmtpSyntax.EqualsIgnoreCase(keyword, "body"u8) => Seen.Body,
        4 when SmtpSyntax.EqualsIgnoreCase(keyword, "auth"u8) => Seen.Auth,
        3 when SmtpSyntax.EqualsIgnoreCase(keyword, "ret"u8) => Seen.Ret,
        5 when SmtpSyntax.EqualsIgnoreCase(keyword, "envid"u8) => Seen.EnvId,
        8 when SmtpSyntax.EqualsIgnoreCase(keyword, "smtputf8"u8) => Seen.SmtpUtf8,
        _ => Seen.None,
    };

    private static bool TryParseSize(ReadOnlySpan<byte> value, out long? size)
    {
        size = null;
        if (value.Length > MaxSizeDigits || value.IndexOfAnyExceptInRange((byte)'0', (byte)'9') >= 0)
        {
            return false;
        }

        // 20 digits can exceed long.MaxValue: saturate; the session refuses it as too big anyway.
        long result = 0;
        foreach (byte b in value)
        {
            int digit = b - '0';
            if (result > (long.MaxValue - digit) / 10)
            {
                result = long.MaxValue;
                break;
            }

            result = (result * 10) + digit;
        }

        size = result;
        return true;
    }

    private static bool TryParseBody(ReadOnlySpan<byte> value, out BodyType body)
    {
        // RFC 6152 §2 (7BIT, 8BITMIME), RFC 3030 §3 (BINARYMIME).
        if (SmtpSyntax.EqualsIgnoreCase(value, "7bit"u8))
        {
            body = BodyType.SevenBit;
        }
        else if (SmtpSyntax.EqualsIgnoreCase(value, "8bitmime"u8))
        {
            body = BodyType.EightBitMime;
        }
        else if (SmtpSyntax.EqualsIgnoreCase(value, "binarymime"u8))
        {
            body = BodyType.BinaryMime;
        }
        else
        {
            body = BodyType.SevenBit;
            return false;
        }

        return true;
    }

    private static bool TryParseRet(ReadOnlySpan<byte> value, out DsnReturn ret)
    {
        ret = SmtpSyntax.EqualsIgnoreCase(value, "full"u8) ? DsnReturn.Full
            : SmtpSyntax.EqualsIgnoreCase(value, "hdrs"u8) ? DsnReturn.Headers
            : DsnReturn.Unspecified;
        return ret != DsnReturn.Unspecified;
    }

    private static bool TryDecodeEnvelopeId(ReadOnlySpan<byte> value, out string? envelopeId)
    {
        envelopeId = null;
        Span<byte> decoded = stackalloc byte[MaxEnvelopeIdLength];

        // RFC 3461 §4.4: before xtext encoding the ENVID is printable US-ASCII (graphic and space).
        if (!XText.TryDecode(value, decoded, out int length)
            || decoded[..length].IndexOfAnyExceptInRange((byte)' ', (byte)'~') >= 0)
        {
            return false;
        }

        envelopeId = Encoding.ASCII.GetString(decoded[..length]);
        return true;
    }

    private static bool TryDecodeAuth(ReadOnlySpan<byte> value, out string? auth)
    {
        // RFC 4954 §5: AUTH=xtext, where "<>" means the submitter is not known.
        auth = null;
        Span<byte> decoded = stackalloc byte[MaxAuthLength];
        if (!XText.TryDecode(value, decoded, out int length) || length == 0 || !SmtpSyntax.IsSafeText(decoded[..length]))
        {
            return false;
        }

        auth = SmtpSyntax.ToText(decoded[..length]);
        return true;
    }

    private static bool TryParseNotify(ReadOnlySpan<byte> value, out DsnNotify notify)
    {
        // RFC 3461 §4.1: "NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ).
        notify = DsnNotify.None;
        foreach (Range item in value.Split((byte)','))
        {
            ReadOnlySpan<byte> word = value[item];
            DsnNotify flag = SmtpSyntax.EqualsIgnoreCase(word, "never"u8) ? DsnNotify.Never
                : SmtpSyntax.EqualsIgnoreCase(word, "success"u8) ? DsnNotify.Success
                : SmtpSyntax.EqualsIgnoreCase(word, "failure"u8) ? DsnNotify.Failure
                : SmtpSyntax.EqualsIgnoreCase(word, "delay"u8) ? DsnNotify.Delay
                : DsnNotify.None;
            if (flag == DsnNotify.None)
            {
                notify = DsnNotify.None;
                return false;
            }

            notify |= flag;
        }

        return true;
    }

    private static bool TryParseOriginalRecipient(ReadOnlySpan<byte> value, bool smtpUtf8, out string? type, out string? address)
    {
        // RFC 3461 §4.2: ORCPT=addr-type ";" xtext, at most 500 characters; addr-type is an atom.
        // RFC 6533 §3: with addr-type utf-8 the address is utf-8-addr-xtext (or unitext under SMTPUTF8).
        type = null;
        address = null;
        int semicolon = value.IndexOf((byte)';');
        if (value.Length > MaxOriginalRecipientLength || semicolon <= 0 || semicolon == value.Length - 1)
        {
            return false;
        }

        ReadOnlySpan<byte> addrType = value[..semicolon];
        ReadOnlySpan<byte> encoded = value[(semicolon + 1)..];
        if (addrType.IndexOfAnyExcept(SmtpSyntax.Atext) >= 0 || !Ascii.IsValid(addrType))
        {
            return false;
        }

        bool utf8Type = SmtpSyntax.EqualsIgnoreCase(addrType, "utf-8"u8);
        Span<byte> decoded = stackalloc byte[MaxOriginalRecipientLength];
        int length;
        bool ok = utf8Type
            ? XText.TryDecodeUtf8Address(encoded, smtpUtf8, decoded, out length)
            : XText.TryDecode(encoded, decoded, out length);
        if (!ok || length == 0 || !SmtpSyntax.IsSafeText(decoded[..length]))
        {
            return false;
        }

        type = utf8Type ? "utf-8"
            : SmtpSyntax.EqualsIgnoreCase(addrType, "rfc822"u8) ? "rfc822"
            : Encoding.ASCII.GetString(addrType);
        address = SmtpSyntax.ToText(decoded[..length]);
        return true;
    }
}
