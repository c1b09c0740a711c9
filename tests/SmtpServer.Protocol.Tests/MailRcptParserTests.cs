using System.Text;
using SmtpServer.Protocol;

namespace SmtpServer.Protocol.Tests;

public class MailRcptParserTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static (bool Ok, Mailbox? Sender, MailParameters? Parameters, SmtpReply? Error) Mail(string arguments)
    {
        bool ok = SmtpCommandParser.TryParseMail(B(arguments), out Mailbox? sender, out MailParameters? parameters, out SmtpReply? error);
        Assert.Equal(ok, error is null);
        Assert.Equal(ok, parameters is not null);
        return (ok, sender, parameters, error);
    }

    private static (bool Ok, Mailbox? Recipient, RcptParameters? Parameters, SmtpReply? Error) Rcpt(string arguments, bool smtpUtf8 = false)
    {
        bool ok = SmtpCommandParser.TryParseRcpt(B(arguments), smtpUtf8, out Mailbox? recipient, out RcptParameters? parameters, out SmtpReply? error);
        Assert.Equal(ok, error is null);
        Assert.Equal(ok, recipient is not null);
        return (ok, recipient, parameters, error);
    }

    private static void AssertReply(SmtpReply? reply, int code, string status)
    {
        Assert.NotNull(reply);
        Assert.Equal((code, status), (reply.Code, reply.Status));
    }

    [Theory]
    [InlineData("<a@b>", "a", "b")]
    [InlineData("<user.name+tag@Example.ORG>", "user.name+tag", "Example.ORG")]
    [InlineData("<!#$%&'*+-/=?^_`{|}~@x>", "!#$%&'*+-/=?^_`{|}~", "x")]
    [InlineData("<\"john doe\"@example.org>", "\"john doe\"", "example.org")]
    [InlineData("<\"a\\\"b\\\\c\"@example.org>", "\"a\\\"b\\\\c\"", "example.org")]
    [InlineData("<\"a@b>c\"@example.org>", "\"a@b>c\"", "example.org")]
    [InlineData("<\"\"@example.org>", "\"\"", "example.org")]
    [InlineData("<@relay.example:a@b>", "a", "b")]
    [InlineData("<@r1.example,@r2.example:a@b>", "a", "b")]
    [InlineData("<a@[192.0.2.1]>", "a", "[192.0.2.1]")]
    [InlineData("<a@[IPv6:2001:db8::1]>", "a", "[IPv6:2001:db8::1]")]
    [InlineData("<a@[x-tag:stuff]>", "a", "[x-tag:stuff]")]
    public void Mail_accepts_addresses(string arguments, string localPart, string domain)
    {
        var (ok, sender, parameters, _) = Mail(arguments);
        Assert.True(ok);
        Assert.Equal(new Mailbox(localPart, domain), sender);
        Assert.Same(MailParameters.Empty, parameters);
    }

    [Fact]
    public void Mail_null_sender()
    {
        var (ok, sender, parameters, _) = Mail("<>");
        Assert.True(ok);
        Assert.Null(sender);
        Assert.Same(MailParameters.Empty, parameters);

        var withSize = Mail("<> SIZE=100");
        Assert.True(withSize.Ok);
        Assert.Null(withSize.Sender);
        Assert.Equal(100, withSize.Parameters!.Size);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a@b")]
    [InlineData(" <a@b>")]
    [InlineData(" FROM <a@b>")]
    [InlineData("TO:<a@b>")]
    public void Mail_command_syntax_is_501_5_5_4(string arguments)
    {
        var (ok, _, _, error) = Mail(arguments);
        Assert.False(ok);
        Assert.Same(SmtpReplies.MailSyntax, error);
        AssertReply(error, 501, "5.5.4");
    }

    [Theory]
    [InlineData("<a@b")]
    [InlineData("<a>")]
    [InlineData("<@b>")]
    [InlineData("<a@>")]
    [InlineData("<a@b>x")]
    [InlineData("<.a@b>")]
    [InlineData("<a.@b>")]
    [InlineData("<a..b@c>")]
    [InlineData("<a b@c>")]
    [InlineData("<a@b..c>")]
    [InlineData("<a@-b>")]
    [InlineData("<a@b.>")]
    [InlineData("<a@b_c>")]
    [InlineData("<a@[300.1.1.1]>")]
    [InlineData("<a@[IPv6:1.2.3.4]>")]
    [InlineData("<\"unterminated@b>")]
    [InlineData("<\"a\u0001\"@b>")]
    [InlineData("<\"a\\\u0001\"@b>")]
    [InlineData("<a\u0000@b>")]
    [InlineData("<a@b@c>")]
    [InlineData("<@r1.example a@b>")]
    [InlineData("<@r1.example,r2.example:a@b>")]
    [InlineData("<@:a@b>")]
    [InlineData("<postmaster>")]
    [InlineData("<<a@b>>")]
    public void Mail_bad_address_is_501_5_1_7(string arguments)
    {
        var (ok, _, _, error) = Mail(arguments);
        Assert.False(ok);
        Assert.Same(SmtpReplies.BadSenderAddress, error);
        AssertReply(error, 501, "5.1.7");
    }

    [Fact]
    public void Mail_invalid_utf8_is_bad_syntax()
    {
        byte[] arguments = [(byte)'<', (byte)'a', 0xFF, (byte)'@', (byte)'b', (byte)'>', (byte)' ', .. B("SMTPUTF8")];
        Assert.False(SmtpCommandParser.TryParseMail(arguments, out _, out _, out SmtpReply? error));
        AssertReply(error, 501, "5.1.7");

        byte[] overlong = [(byte)'<', 0xC0, 0xAF, (byte)'@', (byte)'b', (byte)'>', (byte)' ', .. B("SMTPUTF8")];
        Assert.False(SmtpCommandParser.TryParseMail(overlong, out _, out _, out _));
    }

    [Fact]
    public void Local_part_and_domain_limits()
    {
        string l64 = new('a', 64);
        Assert.True(Mail($"<{l64}@b>").Ok);
        AssertReply(Mail($"<{new string('a', 65)}@b>").Error, 501, "5.1.7");

        // Quoted local part counts its quotes: 62 + 2 = 64.
        Assert.True(Mail($"<\"{new string('a', 62)}\"@b>").Ok);
        Assert.False(Mail($"<\"{new string('a', 63)}\"@b>").Ok);

        // Whole path <= 256 octets including the brackets: "<a@" + domain + ">" = domain + 4.
        string label63 = new('d', 63);
        string d252 = string.Join('.', label63, label63, label63, new string('d', 60));
        Assert.Equal(252, d252.Length);
        Assert.True(Mail($"<a@{d252}>").Ok);
        string d253 = d252 + "d";
        Assert.False(Mail($"<a@{d253}>").Ok);

        // Domain > 255 is invalid regardless.
        string d256 = string.Join('.', label63, label63, label63, label63) + "x";
        Assert.False(Mail($"<a@{d256}>").Ok);
    }

    [Fact]
    public void Mail_utf8_address_requires_smtputf8()
    {
        var refused = Mail("<jöran@bücher.example>");
        Assert.Same(SmtpReplies.Utf8AddressWithoutSmtpUtf8, refused.Error);
        AssertReply(refused.Error, 553, "5.6.7");

        var accepted = Mail("<jöran@bücher.example> SMTPUTF8");
        Assert.True(accepted.Ok);
        Assert.Equal(new Mailbox("jöran", "bücher.example"), accepted.Sender);
        Assert.True(accepted.Parameters!.SmtpUtf8);
        Assert.True(accepted.Sender!.IsInternationalized);

        Assert.True(Mail("<\"jö ran\"@例え.テスト> smtputf8").Ok);
        Assert.Equal(553, Mail("<a@例え.テスト>").Error!.Code);
        Assert.True(Mail("<a@b> SMTPUTF8").Ok); // ASCII address with SMTPUTF8 is fine
    }

    [Fact]
    public void Mail_parameters()
    {
        var (ok, _, p, _) = Mail("<a@b> SIZE=12345 BODY=8BITMIME RET=HDRS ENVID=QQ+2B+3Dx AUTH=bob+2Bx@example.org");
        Assert.True(ok);
        Assert.Equal(12345, p!.Size);
        Assert.Equal(BodyType.EightBitMime, p.Body);
        Assert.Equal(DsnReturn.Headers, p.Ret);
        Assert.Equal("QQ+=x", p.EnvelopeId);
        Assert.Equal("bob+x@example.org", p.Auth);
        Assert.False(p.SmtpUtf8);

        var lower = Mail("<a@b>  size=1   body=binarymime ret=full envid=x auth=<>");
        Assert.True(lower.Ok);
        Assert.Equal(BodyType.BinaryMime, lower.Parameters!.Body);
        Assert.Equal(DsnReturn.Full, lower.Parameters.Ret);
        Assert.Equal("<>", lower.Parameters.Auth);
        Assert.Equal(BodyType.SevenBit, Mail("<a@b> BODY=7BIT").Parameters!.Body);
    }

    [Fact]
    public void Size_limits()
    {
        Assert.Equal(99999999999999999L, Mail("<a@b> SIZE=99999999999999999").Parameters!.Size);
        Assert.Equal(long.MaxValue, Mail("<a@b> SIZE=99999999999999999999").Parameters!.Size); // 20 digits saturate
        AssertReply(Mail("<a@b> SIZE=999999999999999999999").Error, 501, "5.5.4");              // 21 digits
        AssertReply(Mail("<a@b> SIZE=-1").Error, 501, "5.5.4");
        AssertReply(Mail("<a@b> SIZE=").Error, 501, "5.5.4");
        AssertReply(Mail("<a@b> SIZE").Error, 501, "5.5.4");
        AssertReply(Mail("<a@b> SIZE=1k").Error, 501, "5.5.4");
    }

    [Theory]
    [InlineData("<a@b> BODY=9BIT")]
    [InlineData("<a@b> RET=ALL")]
    [InlineData("<a@b> SMTPUTF8=yes")]
    [InlineData("<a@b> ENVID=a+2")]
    [InlineData("<a@b> ENVID=a+zz")]
    [InlineData("<a@b> ENVID=a+00b")]
    [InlineData("<a@b> ENVID=a+0Ab")]
    [InlineData("<a@b> AUTH=a+00")]
    [InlineData("<a@b> AUTH=")]
    [InlineData("<a@b> BODY=8BITMIME=x")]
    [InlineData("<a@b> =x")]
    [InlineData("<a@b> -SIZE=1")]
    [InlineData("<a@b> SI_ZE=1")]
    [InlineData("<a@b> ENVID=\u00e9")]
    public void Malformed_parameters_are_501_5_5_4(string arguments)
    {
        var (ok, _, _, error) = Mail(arguments);
        Assert.False(ok);
        AssertReply(error, 501, "5.5.4");
    }

    [Fact]
    public void Envid_length_is_checked_after_decoding()
    {
        Assert.Equal(new string('x', 100), Mail($"<a@b> ENVID={new string('x', 100)}").Parameters!.EnvelopeId);
        AssertReply(Mail($"<a@b> ENVID={new string('x', 101)}").Error, 501, "5.5.4");

        // 100 decoded characters from 300 encoded ones.
        string encoded = string.Concat(Enumerable.Repeat("+2B", 100));
        Assert.Equal(new string('+', 100), Mail($"<a@b> ENVID={encoded}").Parameters!.EnvelopeId);
        AssertReply(Mail($"<a@b> ENVID={encoded}+2B").Error, 501, "5.5.4");
    }

    [Fact]
    public void Repeated_smtputf8_is_accepted_as_python_smtplib_sends_it()
    {
        // Regression: smtplib's send_message(mail_options=['SMTPUTF8']) to a UTF-8 address sends
        // "SMTPUTF8 SMTPUTF8 BODY=8BITMIME"; refusing it made such mail undeliverable to us.
        var mail = Mail("<jörg@b> size=279 SMTPUTF8 SMTPUTF8 BODY=8BITMIME");
        Assert.Null(mail.Error);
        Assert.True(mail.Parameters!.SmtpUtf8);
        Assert.Equal(BodyType.EightBitMime, mail.Parameters.Body);
        AssertReply(Mail("<a@b> SMTPUTF8 SMTPUTF8=yes").Error, 501, "5.5.4");
    }

    [Fact]
    public void Duplicate_parameter_is_501_and_unknown_is_555()
    {
        var dup = Mail("<a@b> SIZE=1 size=2");
        AssertReply(dup.Error, 501, "5.5.4");
        Assert.Contains("SIZE", dup.Error!.Lines[0], StringComparison.Ordinal);
        AssertReply(Mail("<a@b> BODY=8BITMIME BODY=8BITMIME").Error, 501, "5.5.4");

        var unknown = Mail("<a@b> X-FOO=bar");
        AssertReply(unknown.Error, 555, "5.5.4");
        Assert.Contains("X-FOO", unknown.Error!.Lines[0], StringComparison.Ordinal);

        // NOTIFY is a RCPT parameter, not a MAIL one.
        AssertReply(Mail("<a@b> NOTIFY=NEVER").Error, 555, "5.5.4");
        AssertReply(Rcpt("<a@b> SIZE=1").Error, 555, "5.5.4");

        // An echoed keyword is truncated.
        var huge = Mail("<a@b> " + new string('X', 1000));
        Assert.True(huge.Error!.Lines[0].Length < 100);
    }

    [Theory]
    [InlineData("<a@b>", "a", "b")]
    [InlineData("<Postmaster@Example.org>", "Postmaster", "Example.org")]
    [InlineData("<@r.example:a@b>", "a", "b")]
    [InlineData("<\"x y\"@[IPv6:::1]>", "\"x y\"", "[IPv6:::1]")]
    public void Rcpt_accepts(string arguments, string localPart, string domain)
    {
        var (ok, recipient, parameters, _) = Rcpt(arguments);
        Assert.True(ok);
        Assert.Equal(new Mailbox(localPart, domain), recipient);
        Assert.Same(RcptParameters.Empty, parameters);
    }

    [Theory]
    [InlineData("<postmaster>")]
    [InlineData("<POSTMASTER>")]
    [InlineData("<PostMaster>")]
    public void Rcpt_bare_postmaster(string arguments)
    {
        var (ok, recipient, _, _) = Rcpt(arguments);
        Assert.True(ok);
        Assert.Equal(new Mailbox("postmaster", ""), recipient);
        Assert.Equal("postmaster", recipient!.Address);
    }

    [Fact]
    public void Rcpt_null_path_is_501_5_1_3()
    {
        var (ok, _, _, error) = Rcpt("<>");
        Assert.False(ok);
        AssertReply(error, 501, "5.1.3");
    }

    [Theory]
    [InlineData("<a>")]
    [InlineData("<postmaster >")]
    [InlineData("<@x:postmaster>")]
    [InlineData("<a@b> x=")]
    [InlineData("<a@b")]
    [InlineData("<a@b>>")]
    public void Rcpt_bad_address(string arguments)
    {
        var (ok, _, _, error) = Rcpt(arguments);
        Assert.False(ok);
        Assert.Equal(501, error!.Code);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a@b")]
    [InlineData(" <a@b>")]
    public void Rcpt_command_syntax(string arguments)
    {
        Assert.Same(SmtpReplies.RcptSyntax, Rcpt(arguments).Error);
    }

    [Fact]
    public void Rcpt_bad_address_code()
    {
        AssertReply(Rcpt("<a..b@c>").Error, 501, "5.1.3");
        Assert.Same(SmtpReplies.BadRecipientAddress, Rcpt("<a@b_c>").Error);
    }

    [Fact]
    public void Rcpt_utf8_depends_on_transaction()
    {
        AssertReply(Rcpt("<jöran@b>").Error, 553, "5.6.7");
        var ok = Rcpt("<jöran@b>", smtpUtf8: true);
        Assert.True(ok.Ok);
        Assert.Equal("jöran", ok.Recipient!.LocalPart);
    }

    [Theory]
    [InlineData("NEVER", 1)]
    [InlineData("never", 1)]
    [InlineData("SUCCESS", 2)]
    [InlineData("SUCCESS,FAILURE", 6)]
    [InlineData("delay,Failure,SUCCESS", 14)]
    public void Notify(string value, int expected)
    {
        Assert.Equal((DsnNotify)expected, Rcpt($"<a@b> NOTIFY={value}").Parameters!.Notify);
    }

    [Theory]
    [InlineData("NEVER,SUCCESS")]
    [InlineData("FAILURE,NEVER")]
    [InlineData("DELAY,NEVER,SUCCESS")]
    public void Notify_never_with_others_is_501(string value)
    {
        var error = Rcpt($"<a@b> NOTIFY={value}").Error;
        Assert.Same(SmtpReplies.NotifyNeverCombined, error);
        AssertReply(error, 501, "5.5.4");
    }

    [Theory]
    [InlineData("NOTIFY=")]
    [InlineData("NOTIFY")]
    [InlineData("NOTIFY=SOMETIMES")]
    [InlineData("NOTIFY=SUCCESS,")]
    [InlineData("NOTIFY=,SUCCESS")]
    [InlineData("NOTIFY=SUCCESS;FAILURE")]
    [InlineData("NOTIFY=NEVER NOTIFY=NEVER")]
    [InlineData("ORCPT=rfc822")]
    [InlineData("ORCPT=rfc822;")]
    [InlineData(";a@b")]
    [InlineData("ORCPT=;a@b")]
    [InlineData("ORCPT=rfc822;a+zz")]
    [InlineData("ORCPT=rfc822;a+00")]
    [InlineData("ORCPT=utf-8;a\\x{0}")]
    [InlineData("ORCPT=utf-8;a\\x{D800}")]
    [InlineData("ORCPT=utf-8;a\\x{110000}")]
    [InlineData("ORCPT=utf-8;a\\x{}")]
    [InlineData("ORCPT=utf-8;a\\y{41}")]
    [InlineData("ORCPT=utf-8;a+41")]
    [InlineData("ORCPT=rf(c;a@b")]
    [InlineData("ORCPT=rfc822;a@b ORCPT=rfc822;a@b")]
    public void Rcpt_malformed_parameters_are_501(string parameters)
    {
        var error = Rcpt($"<a@b> {parameters}").Error;
        Assert.NotNull(error);
        AssertReply(error, 501, "5.5.4");
    }

    [Fact]
    public void Orcpt()
    {
        var p = Rcpt("<a@b> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob+2Bx@example.org").Parameters!;
        Assert.Equal(DsnNotify.Success | DsnNotify.Failure, p.Notify);
        Assert.Equal("rfc822", p.OriginalRecipientType);
        Assert.Equal("Bob+x@example.org", p.OriginalRecipient);

        Assert.Equal("rfc822", Rcpt("<a@b> ORCPT=RFC822;a@b").Parameters!.OriginalRecipientType);
        Assert.Equal("x-custom", Rcpt("<a@b> ORCPT=x-custom;a@b").Parameters!.OriginalRecipientType);

        // RFC 6533: utf-8-addr-xtext with \x{HEX} escapes.
        var utf8 = Rcpt("<a@b> ORCPT=utf-8;j\\x{F6}ran@b\\x{FC}cher.example").Parameters!;
        Assert.Equal("utf-8", utf8.OriginalRecipientType);
        Assert.Equal("jöran@bücher.example", utf8.OriginalRecipient);

        // utf-8-addr-unitext (raw UTF-8) only with SMTPUTF8.
        Assert.Equal("jöran@b", Rcpt("<a@b> ORCPT=utf-8;jöran@b", smtpUtf8: true).Parameters!.OriginalRecipient);
        AssertReply(Rcpt("<a@b> ORCPT=utf-8;jöran@b").Error, 501, "5.5.4");

        // At most 500 characters.
        string addr496 = new string('x', 500 - "rfc822;".Length);
        Assert.True(Rcpt($"<a@b> ORCPT=rfc822;{addr496}").Ok);
        AssertReply(Rcpt($"<a@b> ORCPT=rfc822;{addr496}x").Error, 501, "5.5.4");
    }

    [Fact]
    public void Parsed_values_do_not_alias_the_input()
    {
        byte[] line = B("<a@b>");
        Assert.True(SmtpCommandParser.TryParseRcpt(line, false, out Mailbox? mailbox, out _, out _));
        line.AsSpan().Fill((byte)'z');
        Assert.Equal("a@b", mailbox!.Address);
    }
}
