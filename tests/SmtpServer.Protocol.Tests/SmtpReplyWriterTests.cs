using System.Buffers;
using System.Text;
using SmtpServer.Protocol;

namespace SmtpServer.Protocol.Tests;

public class SmtpReplyWriterTests
{
    private static string Write(SmtpReply reply)
    {
        var output = new ArrayBufferWriter<byte>();
        SmtpReplyWriter.Write(output, reply);
        return Encoding.ASCII.GetString(output.WrittenSpan);
    }

    [Fact]
    public void Single_line_with_status() => Assert.Equal("250 2.0.0 Ok\r\n", Write(SmtpReplies.Ok));

    [Fact]
    public void Without_status() => Assert.Equal("354 Enter mail, end with \".\" on a line by itself\r\n", Write(SmtpReplies.StartData));

    [Fact]
    public void Multi_line() =>
        Assert.Equal("250-mx.example Hello\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n", Write(new SmtpReply(250, null, ["mx.example Hello", "PIPELINING", "SMTPUTF8"])));

    [Fact]
    public void Multi_line_with_status() =>
        Assert.Equal("214-2.0.0 a\r\n214 2.0.0 b\r\n", Write(new SmtpReply(214, "2.0.0", ["a", "b"])));

    [Fact]
    public void Empty_text() => Assert.Equal("250\r\n", Write(new SmtpReply(250, null, "")));

    [Fact]
    public void Control_and_non_ascii_characters_are_replaced()
    {
        Assert.Equal("501 5.5.4 a??b?c?\r\n", Write(new SmtpReply(501, "5.5.4", "a\r\nb\0cé")));
        Assert.Equal("550 5.6.11 Message contains bare CR or LF; see RFC 5321 section 2.3.8\r\n", Write(SmtpReplies.BareLineEnding));
    }

    [Fact]
    public void Lines_are_capped_at_512_octets()
    {
        string written = Write(new SmtpReply(500, "5.5.2", [new string('x', 5000), "short"]));
        string[] lines = written.Split("\r\n");
        Assert.Equal(512, lines[0].Length + 2);
        Assert.StartsWith("500-5.5.2 xxx", lines[0], StringComparison.Ordinal);
        Assert.Equal("500 5.5.2 short", lines[1]);
    }

    [Fact]
    public void Every_shared_reply_is_well_formed()
    {
        foreach (var field in typeof(SmtpReplies).GetFields().Where(f => f.FieldType == typeof(SmtpReply)))
        {
            var reply = (SmtpReply)field.GetValue(null)!;
            string text = Write(reply);
            Assert.Matches(@"^\d{3}[ -]", text);
            Assert.DoesNotContain("?", text.Replace("\"?\"", "", StringComparison.Ordinal), StringComparison.Ordinal);
            if (reply.Code != 354)
            {
                Assert.NotNull(reply.Status);
                Assert.Equal(reply.Code / 100, reply.Status![0] - '0');
            }
        }
    }
}
