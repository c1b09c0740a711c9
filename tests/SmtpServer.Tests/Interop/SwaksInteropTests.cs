using System.Globalization;
using System.Text;
using SmtpServer.Core.Queue;
using SmtpServer.Tests.Infrastructure;
using Xunit.Abstractions;

namespace SmtpServer.Tests.Interop;

/// <summary>
/// swaks (a client nobody here wrote) against the real smtpd process; then the spool must hold
/// exactly what swaks sent, behind our Received header.
/// </summary>
public sealed class SwaksInteropTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Swaks_plain_message_is_spooled_with_our_Received_header()
    {
        var swaks = PeerTool.Swaks();
        await using var smtpd = await SmtpdProcess.StartAsync(output);
        var marker = Marker("plain");

        var result = await RunSwaksAsync(swaks, smtpd, "--header", $"Subject: {marker}", "--body", $"Hello from swaks, {marker}.");

        Assert.True(result.ExitCode == 0, $"swaks failed: {result}\nsmtpd:\n{smtpd.OutputTail()}");
        var stored = AssertSingleStored(smtpd, result);
        var content = SpoolMessage.Read(stored.MessagePath);
        Assert.Contains($"Subject: {marker}\r\n", content.ContentText, StringComparison.Ordinal);
        Assert.Contains($"\r\n\r\nHello from swaks, {marker}.\r\n", content.ContentText, StringComparison.Ordinal);
        Assert.Contains("X-Mailer: swaks", content.ContentText, StringComparison.Ordinal);
        Assert.Contains($"250 2.0.0 {stored.Id} Message accepted", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Swaks_with_pipelining_sends_mail_rcpt_data_in_one_go()
    {
        var swaks = PeerTool.Swaks();
        await using var smtpd = await SmtpdProcess.StartAsync(output);
        var marker = Marker("pipeline");

        var result = await RunSwaksAsync(swaks, smtpd, "--pipeline", "--header", $"Subject: {marker}", "--body", marker);

        Assert.True(result.ExitCode == 0, $"swaks failed: {result}\nsmtpd:\n{smtpd.OutputTail()}");

        // swaks really pipelined: MAIL, RCPT and DATA went out before the first of their replies.
        var transcript = result.StandardOutput;
        var data = transcript.IndexOf(" -> DATA", StringComparison.Ordinal);
        var mailReply = transcript.IndexOf("<-  250 2.1.0", StringComparison.Ordinal);
        Assert.True(data > 0 && mailReply > data, $"swaks did not pipeline:\n{transcript}");

        var stored = AssertSingleStored(smtpd, result);
        Assert.Contains($"Subject: {marker}\r\n", SpoolMessage.Read(stored.MessagePath).ContentText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Swaks_one_megabyte_body_arrives_byte_for_byte()
    {
        var swaks = PeerTool.Swaks();
        await using var smtpd = await SmtpdProcess.StartAsync(output);
        var marker = Marker("large");

        // 1 MB of 76-column lines, some starting with dots (swaks must stuff them, we unstuff).
        var random = new Random(42);
        var body = new StringBuilder(1_100_000).Append(marker).Append('\n');
        const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (var line = 0; body.Length < 1_000_000; line++)
        {
            if (line % 97 == 0)
            {
                body.Append(line % 2 == 0 ? "." : "..");
            }

            for (var i = 0; i < 76; i++)
            {
                body.Append(Alphabet[random.Next(Alphabet.Length)]);
            }

            body.Append('\n');
        }

        var bodyBytes = Encoding.ASCII.GetBytes(body.ToString());
        var bodyFile = smtpd.Directory.Combine("body.txt");
        await File.WriteAllBytesAsync(bodyFile, bodyBytes);

        var result = await RunSwaksAsync(swaks, smtpd, "--suppress-data", "--header", $"Subject: {marker}", "--body", "@" + bodyFile);

        Assert.True(result.ExitCode == 0, $"swaks failed: {result}\nsmtpd:\n{smtpd.OutputTail()}");
        var stored = AssertSingleStored(smtpd, result);
        var content = SpoolMessage.Read(stored.MessagePath).Content;
        var separator = content.AsSpan().IndexOf("\r\n\r\n"u8);
        Assert.True(separator > 0, "no end of header section in the stored message");
        var storedBody = content.AsSpan(separator + 4);
        var expected = SpoolMessage.Crlf(bodyBytes);
        Assert.True(storedBody.StartsWith(expected), $"stored body ({storedBody.Length} bytes) does not start with the {expected.Length} bytes swaks was given");
        Assert.True(stored.Size > 1_000_000, $"stored size {stored.Size}");
    }

    [Fact]
    public async Task Swaks_8bit_content_arrives_unchanged()
    {
        var swaks = PeerTool.Swaks();
        await using var smtpd = await SmtpdProcess.StartAsync(output);
        var marker = Marker("8bit");

        // A whole message as swaks's DATA: UTF-8 in a header and the body, 8bit transfer
        // encoding, dot lines. (swaks has no option for BODY=8BITMIME; the Python test sends that.)
        var data = Encoding.UTF8.GetBytes(
            $"From: Jörg Müller <me@example.com>\nTo: user@localhost\nSubject: {marker} Grüße\nMIME-Version: 1.0\n" +
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" +
            $"Grüße aus Köln, {marker}.\n.a line with a leading dot\n..two dots\n日本語のテキスト\nÿþ end\n");
        var dataFile = smtpd.Directory.Combine("data.eml");
        await File.WriteAllBytesAsync(dataFile, data);

        var result = await RunSwaksAsync(swaks, smtpd, "--data", "@" + dataFile);

        Assert.True(result.ExitCode == 0, $"swaks failed: {result}\nsmtpd:\n{smtpd.OutputTail()}");
        var stored = AssertSingleStored(smtpd, result);
        var content = SpoolMessage.Read(stored.MessagePath).Content;
        var expected = SpoolMessage.Crlf(data);
        Assert.True(content.AsSpan().StartsWith(expected), $"stored content differs from what swaks was given:\n{Encoding.UTF8.GetString(content)}");
    }

    [Fact]
    public async Task Swaks_message_over_maxMessageSize_gets_552_and_nothing_is_spooled()
    {
        var swaks = PeerTool.Swaks();
        await using var smtpd = await SmtpdProcess.StartAsync(output, maxMessageSize: "10KiB");
        var bodyFile = smtpd.Directory.Combine("big.txt");
        var line = new string('x', 70) + "\n";
        await File.WriteAllTextAsync(bodyFile, string.Concat(Enumerable.Repeat(line, 50_000 / line.Length)));

        var result = await RunSwaksAsync(swaks, smtpd, "--suppress-data", "--body", "@" + bodyFile);

        Assert.True(result.ExitCode != 0, $"swaks should fail on a 50 KB message with a 10 KiB limit: {result}");
        Assert.Contains("552", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("SIZE 10240", result.StandardOutput, StringComparison.Ordinal);
        Assert.Empty(smtpd.LoadQueue());
    }

    private static string Marker(string kind) => $"swaks-{kind}-{Guid.NewGuid():N}";

    private async Task<ToolResult> RunSwaksAsync(string swaks, SmtpdProcess smtpd, params string[] extra)
    {
        string[] arguments =
        [
            "--server", string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{smtpd.Port}"),
            "--to", "user@localhost",
            "--from", "me@example.com",
            "--helo", "swaks.test.example",
            "--timeout", "20",
            .. extra,
        ];
        var result = await PeerTool.RunAsync(swaks, arguments, smtpd.Directory.Path);
        output.WriteLine($"$ swaks {string.Join(' ', arguments)}\n{(result.StandardOutput.Length > 20_000 ? result.StandardOutput[..20_000] + "…" : result.StandardOutput)}{result.StandardError}");
        return result;
    }

    /// <summary>One message, one envelope, the envelope swaks gave, and our Received header on top.</summary>
    private static StoredMessage AssertSingleStored(SmtpdProcess smtpd, ToolResult result)
    {
        var queue = smtpd.LoadQueue();
        Assert.True(queue.Count == 1, $"expected 1 message in the spool, found {queue.Count}\n{result}");
        var stored = queue[0];
        var envelope = Assert.Single(stored.Envelopes);
        Assert.Equal(new AddressRecord("user", "localhost"), envelope.Recipient);
        Assert.Equal(new AddressRecord("me", "example.com"), envelope.Sender);
        Assert.Equal("swaks.test.example", envelope.Helo);
        Assert.Equal("127.0.0.1", envelope.ClientAddress);

        var received = SpoolMessage.Read(stored.MessagePath).Received;
        Assert.StartsWith("Received: from swaks.test.example (unknown [127.0.0.1])\r\n", received, StringComparison.Ordinal);
        Assert.Contains($"by {SmtpdProcess.Hostname} (smtpd) with ESMTP id {stored.Id}\r\n", received, StringComparison.Ordinal);
        Assert.Contains("for <user@localhost>;", received, StringComparison.Ordinal);
        Assert.Empty(smtpd.CorruptEntries());
        return stored;
    }
}
