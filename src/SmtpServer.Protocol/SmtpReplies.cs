namespace SmtpServer.Protocol;

/// <summary>
/// The replies the protocol layer produces, shared so the hot path does not allocate them.
/// Codes follow RFC 5321 §4.2 and the enhanced codes RFC 3463 (plus RFC 6531 X.6.7 and
/// RFC 4954 X.5.6); wording follows ../shared/REFERENCE.md §2 where it is sound.
/// </summary>
internal static class SmtpReplies
{
    public static readonly SmtpReply Ok = new(250, "2.0.0", "Ok");
    public static readonly SmtpReply SenderOk = new(250, "2.1.0", "Ok");
    public static readonly SmtpReply RecipientOk = new(250, "2.1.5", "Ok");
    public static readonly SmtpReply Reset = new(250, "2.0.0", "Reset state");
    public static readonly SmtpReply Bye = new(221, "2.0.0", "Bye");
    public static readonly SmtpReply StartData = new(354, null, "Enter mail, end with \".\" on a line by itself");
    public static readonly SmtpReply ReadyToStartTls = new(220, "2.0.0", "Ready to start TLS");
    public static readonly SmtpReply CannotVerify = new(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");

    public static readonly SmtpReply CommandUnrecognized = new(500, "5.5.1", "Command unrecognized");

    /// <summary>Generic "500 syntax error" (RFC 5321 §4.2.2 reply 500, RFC 3463 X.5.2).</summary>
    public static readonly SmtpReply SyntaxError = new(500, "5.5.2", "Syntax error");

    /// <summary>Generic "501 syntax error in parameters or arguments" (RFC 3463 X.5.4).</summary>
    public static readonly SmtpReply ArgumentSyntaxError = new(501, "5.5.4", "Syntax error in parameters or arguments");

    public static readonly SmtpReply NoArgumentsAllowed = new(501, "5.5.4", "Command does not accept arguments");

    /// <summary>
    /// A command line over the limit (RFC 5321 §4.2.2: 500 "may include errors such as command
    /// line too long"). X.5.2 rather than X.5.6: RFC 4954 registers X.5.6 for AUTH exchange lines only.
    /// </summary>
    public static readonly SmtpReply LineTooLong = new(500, "5.5.2", "Line too long");

    /// <summary>An AUTH exchange line over the limit (RFC 4954 §4, X.5.6).</summary>
    public static readonly SmtpReply AuthLineTooLong = new(500, "5.5.6", "Authentication exchange line is too long");

    public static readonly SmtpReply BadSequence = new(503, "5.5.1", "Bad sequence of commands");
    public static readonly SmtpReply NoRecipients = new(503, "5.5.1", "No valid recipients");

    // HELO/EHLO (RFC 5321 §4.1.1.1).
    public static readonly SmtpReply HeloDomainRequired = new(501, "5.5.4", "Syntax: EHLO/HELO domain-or-address-literal");
    public static readonly SmtpReply HeloInvalidDomain = new(501, "5.5.4", "Invalid domain name");

    // MAIL / RCPT command syntax: "MAIL" not followed by "FROM:<", "RCPT" not followed by "TO:<".
    public static readonly SmtpReply MailSyntax = new(501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]");
    public static readonly SmtpReply RcptSyntax = new(501, "5.5.4", "Syntax: RCPT TO:<address> [parameters]");

    /// <summary>RFC 3463 X.1.7: bad sender's mailbox address syntax.</summary>
    public static readonly SmtpReply BadSenderAddress = new(501, "5.1.7", "Bad sender address syntax");

    /// <summary>RFC 3463 X.1.3: bad destination mailbox address syntax.</summary>
    public static readonly SmtpReply BadRecipientAddress = new(501, "5.1.3", "Bad recipient address syntax");

    public static readonly SmtpReply NullRecipient = new(501, "5.1.3", "Null recipient <> not allowed");

    /// <summary>RFC 6531 §3.4/§3.7.4.1: a UTF-8 address without the SMTPUTF8 parameter.</summary>
    public static readonly SmtpReply Utf8AddressWithoutSmtpUtf8 = new(553, "5.6.7", "Non-ASCII address requires the SMTPUTF8 parameter");

    public static readonly SmtpReply NotifyNeverCombined = new(501, "5.5.4", "NOTIFY=NEVER cannot be combined with other values");

    public static readonly SmtpReply BdatSyntax = new(501, "5.5.4", "Syntax: BDAT chunk-size [LAST]");

    // End of data (RFC 5321 §4.1.1.4: the reply to the end of data is 250 or a failure for the whole message).

    /// <summary>RFC 1870 §6.2, RFC 3463 X.3.4.</summary>
    public static readonly SmtpReply MessageTooLarge = new(552, "5.3.4", "Message too big for system");

    /// <summary>
    /// RFC 5321 §4.5.3.1.6 text line limit. Not X.3.4 (the message is not too big, a line is):
    /// X.6.0 "other media error" with 554 "transaction failed", the usual end-of-data refusal.
    /// </summary>
    public static readonly SmtpReply TextLineTooLong = new(554, "5.6.0", "Message contains a line that is too long; see RFC 5321 section 4.5.3.1.6");

    /// <summary>SMTP smuggling defence (DESIGN.md decision 5); wording as Postfix's.</summary>
    public static readonly SmtpReply BareLineEnding = new(550, "5.6.11", "Message contains bare CR or LF; see RFC 5321 section 2.3.8");

    public static readonly SmtpReply HeaderTooLarge = new(552, "5.3.4", "Message header section too large");

    /// <summary>RFC 5321 §6.3 loop detection, RFC 3463 X.4.6 routing loop detected.</summary>
    public static readonly SmtpReply TooManyHops = new(554, "5.4.6", "Too many hops (mail loop detected)");

    public static SmtpReply For(MessageContentError error) => error switch
    {
        MessageContentError.TooLarge => MessageTooLarge,
        MessageContentError.LineTooLong => TextLineTooLong,
        MessageContentError.BareLineEnding => BareLineEnding,
        MessageContentError.HeaderTooLarge => HeaderTooLarge,
        MessageContentError.TooManyHops => TooManyHops,
        _ => throw new ArgumentOutOfRangeException(nameof(error), error, "No reply for this content error."),
    };

    // Parameter errors echo the keyword (truncated; SmtpReplyWriter also sanitizes) so the client's
    // operator can see which one was refused. Error path only: allocation is fine here.
    private const int MaxEchoedKeyword = 32;

    /// <summary>RFC 5321 §4.1.2/§4.2.2: 555 for an unrecognized MAIL/RCPT parameter.</summary>
    public static SmtpReply UnsupportedParameter(ReadOnlySpan<byte> keyword) =>
        new(555, "5.5.4", $"Unsupported parameter {Echo(keyword)}");

    public static SmtpReply DuplicateParameter(ReadOnlySpan<byte> keyword) =>
        new(501, "5.5.4", $"Duplicate parameter {Echo(keyword)}");

    public static SmtpReply InvalidParameterValue(ReadOnlySpan<byte> keyword) =>
        new(501, "5.5.4", $"Invalid value for parameter {Echo(keyword)}");

    private static string Echo(ReadOnlySpan<byte> keyword)
    {
        ReadOnlySpan<byte> shown = keyword.Length > MaxEchoedKeyword ? keyword[..MaxEchoedKeyword] : keyword;
        return System.Text.Encoding.ASCII.GetString(shown).ToUpperInvariant();
    }
}
