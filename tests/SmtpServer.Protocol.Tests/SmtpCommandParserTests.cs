using System.Text;
using SmtpServer.Protocol;

namespace SmtpServer.Protocol.Tests;

public class SmtpCommandParserTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    [Theory]
    [InlineData("NOOP", "Noop", "")]
    [InlineData("noop", "Noop", "")]
    [InlineData("NoOp  ", "Noop", "")]
    [InlineData("NOOP hello there \t", "Noop", "hello there")]
    [InlineData("HELO mx.example.org", "Helo", "mx.example.org")]
    [InlineData("ehlo [192.0.2.1]", "Ehlo", "[192.0.2.1]")]
    [InlineData("DATA", "Data", "")]
    [InlineData("BDAT 100 LAST", "Bdat", "100 LAST")]
    [InlineData("RSET", "Rset", "")]
    [InlineData("QUIT", "Quit", "")]
    [InlineData("HELP DATA", "Help", "DATA")]
    [InlineData("VRFY bob", "Vrfy", "bob")]
    [InlineData("EXPN list", "Expn", "list")]
    [InlineData("STARTTLS", "StartTls", "")]
    [InlineData("starttls x", "StartTls", "x")]
    [InlineData("AUTH PLAIN AGJvYgBzZWNyZXQ=", "Auth", "PLAIN AGJvYgBzZWNyZXQ=")]
    [InlineData("MAIL FROM:<a@b>", "Mail", "<a@b>")]
    [InlineData("mail from:<a@b> SIZE=10", "Mail", "<a@b> SIZE=10")]
    [InlineData("MAIL FROM: <a@b>", "Mail", "<a@b>")]
    [InlineData("MAIL FROM:<>", "Mail", "<>")]
    [InlineData("RCPT TO:<a@b>", "Rcpt", "<a@b>")]
    [InlineData("Rcpt To:   <a@b>  ", "Rcpt", "<a@b>")]
    [InlineData("MAIL <a@b>", "Mail", " <a@b>")]
    [InlineData("MAIL FROM <a@b>", "Mail", " FROM <a@b>")]
    [InlineData("MAIL", "Mail", "")]
    [InlineData("RCPT FROM:<a@b>", "Rcpt", " FROM:<a@b>")]
    [InlineData("", "Unknown", "")]
    [InlineData("NOP", "Unknown", "")]
    [InlineData("NOOPX", "Unknown", "")]
    [InlineData("NOOP\tx", "Unknown", "")]
    [InlineData("STARTTLSX", "Unknown", "")]
    [InlineData("STARTTL", "Unknown", "")]
    [InlineData("GET / HTTP/1.1", "Unknown", "")]
    [InlineData("XXXX", "Unknown", "")]
    [InlineData("N\u00cfOP", "Unknown", "")]
    public void ParseVerb(string line, string expectedVerb, string expectedArguments)
    {
        SmtpVerb verb = SmtpCommandParser.ParseVerb(B(line), out ReadOnlySpan<byte> arguments);
        Assert.Equal(Enum.Parse<SmtpVerb>(expectedVerb), verb);
        Assert.Equal(expectedArguments, Encoding.UTF8.GetString(arguments));
    }

    [Fact]
    public void ParseVerb_does_not_confuse_non_letters_with_letters()
    {
        // 'N'|0x20 == 'n', but e.g. 0x0E|0x20 == '.' (not a letter): only A-Z fold onto a-z.
        byte[] line = [(byte)'N', (byte)'O', (byte)'O', (byte)'P' ^ 0x40];
        Assert.Equal(SmtpVerb.Unknown, SmtpCommandParser.ParseVerb(line, out _));
    }

    [Theory]
    [InlineData("mx.example.org")]
    [InlineData("localhost")]
    [InlineData("a")]
    [InlineData("x-1.example")]
    [InlineData("[192.0.2.1]")]
    [InlineData("[IPv6:2001:db8::1]")]
    [InlineData("[ipv6:::1]")]
    [InlineData("[IPv6:::ffff:192.0.2.1]")]
    [InlineData("[x-tag:some-thing]")]
    [InlineData("bücher.example")]
    [InlineData("例え.テスト")]
    public void Helo_accepts(string argument)
    {
        Assert.True(SmtpCommandParser.TryParseHelo(B(argument), out string? domain, out SmtpReply? error));
        Assert.Equal(argument, domain);
        Assert.Null(error);
    }

    [Theory]
    [InlineData("my_pc")]
    [InlineData("-a.example")]
    [InlineData("a-.example")]
    [InlineData("a..example")]
    [InlineData(".example")]
    [InlineData("example.")]
    [InlineData("a b")]
    [InlineData("[192.0.2.256]")]
    [InlineData("[192.0.2]")]
    [InlineData("[1.2.3.4.5]")]
    [InlineData("[0x7f.0.0.1]")]
    [InlineData("[1234.0.0.1]")]
    [InlineData("[IPv6:2001:db8::1%eth0]")]
    [InlineData("[IPv6:192.0.2.1]")]
    [InlineData("[IPv6:zz::1]")]
    [InlineData("[]")]
    [InlineData("[192.0.2.1")]
    [InlineData("[tag:]")]
    [InlineData("[-tag:x]")]
    [InlineData("a\u0001b")]
    public void Helo_rejects_invalid_domains_with_501_5_5_4(string argument)
    {
        Assert.False(SmtpCommandParser.TryParseHelo(B(argument), out string? domain, out SmtpReply? error));
        Assert.Null(domain);
        Assert.Same(SmtpReplies.HeloInvalidDomain, error);
        Assert.Equal(501, error.Code);
        Assert.Equal("5.5.4", error.Status);
    }

    [Fact]
    public void Helo_empty_is_501_5_5_4()
    {
        Assert.False(SmtpCommandParser.TryParseHelo([], out _, out SmtpReply? error));
        Assert.Same(SmtpReplies.HeloDomainRequired, error);
        Assert.Equal((501, "5.5.4"), (error.Code, error.Status));
    }

    [Fact]
    public void Helo_invalid_utf8_is_rejected()
    {
        Assert.False(SmtpCommandParser.TryParseHelo([(byte)'a', 0xC3, 0x28], out _, out _));
        Assert.False(SmtpCommandParser.TryParseHelo([(byte)'a', 0xC2, 0x85], out _, out _)); // U+0085 (C1 control)
    }

    [Fact]
    public void Helo_label_and_domain_limits()
    {
        string label63 = new('a', 63);
        Assert.True(SmtpCommandParser.TryParseHelo(B(label63 + ".example"), out _, out _));
        Assert.False(SmtpCommandParser.TryParseHelo(B(new string('a', 64) + ".example"), out _, out _));

        // 255 octets total: four labels of 63 separated by dots = 255.
        string d255 = string.Join('.', label63, label63, label63, label63);
        Assert.Equal(255, d255.Length);
        Assert.True(SmtpCommandParser.TryParseHelo(B(d255), out _, out _));
        string d256 = string.Join('.', label63, label63, label63, new string('a', 62), "b");
        Assert.Equal(256, d256.Length);
        Assert.False(SmtpCommandParser.TryParseHelo(B(d256), out _, out _));
    }

    [Theory]
    [InlineData("0", 0L, false)]
    [InlineData("100", 100L, false)]
    [InlineData("100 LAST", 100L, true)]
    [InlineData("100 last", 100L, true)]
    [InlineData("0 LAST", 0L, true)]
    [InlineData("007 LAST", 7L, true)]
    [InlineData("999999999999999999", 999999999999999999L, false)]
    public void Bdat_accepts(string arguments, long size, bool last)
    {
        Assert.True(SmtpCommandParser.TryParseBdat(B(arguments), out long chunkSize, out bool isLast, out SmtpReply? error));
        Assert.Equal(size, chunkSize);
        Assert.Equal(last, isLast);
        Assert.Null(error);
    }

    [Theory]
    [InlineData("")]
    [InlineData("LAST")]
    [InlineData("-1")]
    [InlineData("1x")]
    [InlineData("10 LASTX")]
    [InlineData("10 FIRST")]
    [InlineData("10 LAST x")]
    [InlineData("1234567890123456789")]
    [InlineData("+5")]
    public void Bdat_rejects_with_501_5_5_4(string arguments)
    {
        Assert.False(SmtpCommandParser.TryParseBdat(B(arguments), out _, out _, out SmtpReply? error));
        Assert.Same(SmtpReplies.BdatSyntax, error);
        Assert.Equal((501, "5.5.4"), (error.Code, error.Status));
    }
}
