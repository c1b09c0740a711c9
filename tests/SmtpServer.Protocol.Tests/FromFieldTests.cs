using System.Buffers;
using System.Text;
using SmtpServer.Protocol;

namespace SmtpServer.Protocol.Tests;

/// <summary>masquerade's From: rewrite: which display name survives, and that the old address never does.</summary>
public class FromFieldTests
{
    [Theory]
    [InlineData(" Other Person <other@evil.example>", "Other Person")]
    [InlineData(" \"Person, Other\" <other@evil.example>", "\"Person, Other\"")]
    [InlineData(" \"Quoted <fake@x>, and \\\" escaped\" <other@evil.example>", "\"Quoted <fake@x>, and \\\" escaped\"")]
    [InlineData(" =?UTF-8?B?w4lsb2TDrWU=?= <other@evil.example>", "=?UTF-8?B?w4lsb2TDrWU=?=")]
    [InlineData(" =?UTF-8?Q?A?=\r\n =?UTF-8?Q?B?=\r\n\t<other@evil.example>", "=?UTF-8?Q?A?=\r\n =?UTF-8?Q?B?=")]
    [InlineData(" Name (with a comment, and <brackets>) <other@evil.example>", "Name (with a comment, and <brackets>)")]
    [InlineData(" First <a@evil.example>, Second <b@evil.example>", "First")]
    [InlineData(" <@relay.example,@other.example:a@evil.example> ", "")]
    [InlineData(" Old <@relay.example,@other.example:a@evil.example>, B <b@x>", "Old")]
    [InlineData(" other@evil.example", "")]
    [InlineData(" other@evil.example (Other Person)", "")]
    [InlineData(" <other@evil.example>", "")]
    [InlineData(" Undisclosed senders:;", "")]
    [InlineData(" Friends: a@x, b@y;", "")]
    [InlineData(" \"unterminated <other@evil.example>", "")]
    [InlineData(" Name (unterminated <other@evil.example>", "")]
    [InlineData(" Name <other@evil.example", "")]
    [InlineData("", "")]
    public void Display_name_of_the_first_mailbox(string value, string expected)
    {
        Assert.Equal(expected, Encoding.UTF8.GetString(FromField.DisplayName(Encoding.UTF8.GetBytes(value))));
    }

    [Theory]
    [InlineData("From: Other <other@evil.example>\r\n", "From: Other <alice@example.org>\r\n")]
    [InlineData("FROM:Other <other@evil.example>\r\n", "FROM: Other <alice@example.org>\r\n")]
    [InlineData("From: other@evil.example\r\n", "From: alice@example.org\r\n")]
    [InlineData("From: Friends: a@x, b@y;\r\n", "From: alice@example.org\r\n")]
    [InlineData("From: \"Other\r\n Person\" <other@evil.example>", "From: \"Other\r\n Person\" <alice@example.org>\r\n")]
    public void Rewrite_keeps_the_name_and_replaces_the_address(string field, string expected)
    {
        var output = new ArrayBufferWriter<byte>();
        FromField.Rewrite(Encoding.UTF8.GetBytes(field), "alice@example.org"u8, output);
        Assert.Equal(expected, Encoding.UTF8.GetString(output.WrittenSpan));
    }

    [Fact]
    public void An_internationalized_sender_is_written_as_utf8()
    {
        // RFC 6532 §3.2: with SMTPUTF8 the header may carry the UTF-8 address itself.
        var output = new ArrayBufferWriter<byte>();
        FromField.Rewrite("From: Other <other@evil.example>\r\n"u8, Encoding.UTF8.GetBytes("jörg@bücher.example"), output);
        Assert.Equal("From: Other <jörg@bücher.example>\r\n", Encoding.UTF8.GetString(output.WrittenSpan));
    }
}
