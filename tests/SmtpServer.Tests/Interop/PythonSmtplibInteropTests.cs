using System.Globalization;
using System.Text;
using SmtpServer.Core.Queue;
using SmtpServer.Protocol;
using SmtpServer.Tests.Infrastructure;
using Xunit.Abstractions;

namespace SmtpServer.Tests.Interop;

/// <summary>
/// Python's smtplib (Debian's /usr/bin/python3) against the real smtpd process. The script saves
/// the exact bytes smtplib handed to DATA, so the spool can be compared byte for byte.
/// </summary>
public sealed class PythonSmtplibInteropTests(ITestOutputHelper output)
{
    // argv: port, mode, marker, file to save the DATA bytes to.
    private const string Script = """
        import smtplib, sys
        from email.message import EmailMessage

        port, mode, marker, saved = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

        class Client(smtplib.SMTP):
            def data(self, msg):
                with open(saved, "wb") as f:
                    f.write(msg if isinstance(msg, bytes) else msg.encode("utf-8"))
                reply = super().data(msg)
                print("data-reply", reply[0], reply[1].decode("utf-8", "replace"))
                return reply

        m = EmailMessage()
        m["Subject"] = "python " + marker
        options = []
        if mode == "plain":
            m["From"] = "Python Sender <me@example.com>"
            m["To"] = "user@localhost"
            m.set_content("Hello from smtplib, " + marker + ".\n.leading dot\nlast line\n")
        elif mode == "8bitmime":
            m["From"] = "me@example.com"
            m["To"] = "user@localhost"
            m.set_content("Grüße aus Köln, " + marker + ".\n日本語\n", cte="8bit")
            options = ["BODY=8BITMIME"]
        elif mode in ("smtputf8-option", "smtputf8-auto"):
            m["From"] = "Jörg <jörg@localhost>"
            m["To"] = "jörg@localhost"
            m.set_content("Hallo Jörg, " + marker + ".\n")
            if mode == "smtputf8-option":
                options = ["SMTPUTF8"]
        else:
            sys.exit("unknown mode " + mode)

        with Client("127.0.0.1", port, local_hostname="python.test.example", timeout=20) as s:
            s.set_debuglevel(1)
            refused = s.send_message(m, mail_options=options)
            print("sent", refused)
        """;

    [Fact]
    public async Task Python_send_message_is_spooled_byte_for_byte()
    {
        var (smtpd, result, sent) = await SendAsync("plain");
        await using (smtpd)
        {
            var stored = AssertStored(smtpd, result, sent, new AddressRecord("me", "example.com"), new AddressRecord("user", "localhost"));
            Assert.Equal(BodyType.SevenBit, stored.Envelopes[0].Body);
            Assert.False(stored.Envelopes[0].SmtpUtf8);
        }
    }

    [Fact]
    public async Task Python_send_message_with_BODY_8BITMIME_is_spooled_byte_for_byte()
    {
        var (smtpd, result, sent) = await SendAsync("8bitmime");
        await using (smtpd)
        {
            Assert.Contains("BODY=8BITMIME", result.StandardError, StringComparison.Ordinal);
            var stored = AssertStored(smtpd, result, sent, new AddressRecord("me", "example.com"), new AddressRecord("user", "localhost"));
            Assert.Equal(BodyType.EightBitMime, stored.Envelopes[0].Body);
            Assert.Contains("Grüße aus Köln", SpoolMessage.Read(stored.MessagePath).ContentText, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// smtplib adds SMTPUTF8 (and BODY=8BITMIME) by itself when an address is not ASCII.
    /// </summary>
    [Fact]
    public async Task Python_send_message_to_a_UTF8_mailbox_is_spooled_with_the_UTF8_local_part()
    {
        var (smtpd, result, sent) = await SendAsync("smtputf8-auto");
        await using (smtpd)
        {
            AssertUtf8Stored(smtpd, result, sent);
        }
    }

    /// <summary>
    /// The documented way to ask smtplib for SMTPUTF8: <c>mail_options=['SMTPUTF8']</c>. With an
    /// internationalized address send_message appends its own SMTPUTF8 as well, so the server
    /// sees <c>MAIL FROM:&lt;jörg@localhost&gt; SMTPUTF8 SMTPUTF8 BODY=8BITMIME</c>.
    /// </summary>
    [Fact]
    public async Task Python_send_message_with_SMTPUTF8_option_to_a_UTF8_mailbox_is_accepted()
    {
        var (smtpd, result, sent) = await SendAsync("smtputf8-option");
        await using (smtpd)
        {
            AssertUtf8Stored(smtpd, result, sent);
        }
    }

    private static void AssertUtf8Stored(SmtpdProcess smtpd, ToolResult result, byte[] sent)
    {
        var stored = AssertStored(smtpd, result, sent, new AddressRecord("jörg", "localhost"), new AddressRecord("jörg", "localhost"));
        var envelope = stored.Envelopes[0];
        Assert.True(envelope.SmtpUtf8);
        Assert.Equal("jörg@localhost", envelope.RecipientMailbox.Address);
        var message = SpoolMessage.Read(stored.MessagePath);
        Assert.Contains("with UTF8SMTP id", message.Received, StringComparison.Ordinal);
        Assert.Contains("for <jörg@localhost>;", message.Received, StringComparison.Ordinal);
        Assert.Contains("To: jörg@localhost\r\n", message.ContentText, StringComparison.Ordinal);
    }

    private async Task<(SmtpdProcess Smtpd, ToolResult Result, byte[] Sent)> SendAsync(string mode)
    {
        var python = PeerTool.Python3();
        var smtpd = await SmtpdProcess.StartAsync(output);
        try
        {
            var script = smtpd.Directory.Combine("send.py");
            var saved = smtpd.Directory.Combine("sent.eml");
            await File.WriteAllTextAsync(script, Script, new UTF8Encoding(false));
            var marker = $"{mode}-{Guid.NewGuid():N}";
            var result = await PeerTool.RunAsync(python, [script, smtpd.Port.ToString(CultureInfo.InvariantCulture), mode, marker, saved], smtpd.Directory.Path);
            output.WriteLine($"$ python3 send.py {mode}\n{result}");
            Assert.True(result.ExitCode == 0, $"smtplib failed: {result}\nsmtpd:\n{smtpd.OutputTail()}");
            Assert.Contains("sent {}", result.StandardOutput, StringComparison.Ordinal);
            Assert.Contains("data-reply 250 2.0.0 ", result.StandardOutput, StringComparison.Ordinal);
            var sent = await File.ReadAllBytesAsync(saved);
            Assert.Contains(marker, Encoding.UTF8.GetString(sent), StringComparison.Ordinal);
            return (smtpd, result, sent);
        }
        catch
        {
            await smtpd.DisposeAsync();
            throw;
        }
    }

    /// <summary>Exactly one message: the bytes smtplib gave DATA (CRLF-terminated), behind our Received header.</summary>
    private static StoredMessage AssertStored(SmtpdProcess smtpd, ToolResult result, byte[] sent, AddressRecord sender, AddressRecord recipient)
    {
        var queue = smtpd.LoadQueue();
        Assert.True(queue.Count == 1, $"expected 1 message in the spool, found {queue.Count}\n{result}");
        var stored = queue[0];
        Assert.Contains($"data-reply 250 2.0.0 {stored.Id} ", result.StandardOutput, StringComparison.Ordinal);
        var envelope = Assert.Single(stored.Envelopes);
        Assert.Equal(sender, envelope.Sender);
        Assert.Equal(recipient, envelope.Recipient);
        Assert.Equal("python.test.example", envelope.Helo);

        var expected = sent.AsSpan().EndsWith("\r\n"u8) ? sent : [.. sent, (byte)'\r', (byte)'\n'];
        var message = SpoolMessage.Read(stored.MessagePath);
        Assert.Contains($" id {stored.Id}\r\n", message.Received, StringComparison.Ordinal);
        Assert.True(message.Content.AsSpan().SequenceEqual(expected),
            $"stored content differs from smtplib's DATA.\nsent:\n{Encoding.UTF8.GetString(expected)}\nstored:\n{message.ContentText}");
        Assert.Empty(smtpd.CorruptEntries());
        return stored;
    }
}
