using SmtpServer.Tests.Infrastructure;
using SmtpServer.Testing;

namespace SmtpServer.Tests.InMemory;

/// <summary>submission: true adds Message-ID and Date when missing (RFC 6409 §8.2, §8.3), for DATA and BDAT.</summary>
public sealed class SubmissionTests
{
    private static InMemorySmtpServer Server(bool submission = true) =>
        new(s => s with { Listeners = [s.Listeners[0] with { Submission = submission }] });

    private static async Task<string> SendAsync(InMemorySmtpServer server, string content, bool bdat = false)
    {
        await using var c = await server.ConnectAndGreetAsync();
        Assert.Equal(250, (await c.CommandAsync("EHLO client.example")).Code);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@example.com>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<user@example.org>")).Code);
        if (bdat)
        {
            var bytes = System.Text.Encoding.ASCII.GetBytes(content);
            var half = bytes.Length / 2;
            await c.SendAsync($"BDAT {half}\r\n");
            await c.SendAsync(bytes[..half]);
            Assert.Equal(250, (await c.ReadReplyAsync()).Code);
            await c.SendAsync($"BDAT {bytes.Length - half} LAST\r\n");
            await c.SendAsync(bytes[half..]);
            Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        }
        else
        {
            Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
            Assert.Equal(250, (await c.CommandAsync(content + ".")).Code);
        }

        Assert.Equal(221, (await c.CommandAsync("QUIT")).Code);
        await server.WaitForSessionsAsync();
        var stored = server.Committed().OrderByDescending(m => File.GetLastWriteTimeUtc(m.MessagePath)).First();
        var text = await File.ReadAllTextAsync(stored.MessagePath);
        // Skip our Received field (its first line and the folded ones).
        var position = 0;
        while (text.AsSpan(position).StartsWith("Received:") || text[position] == '\t')
        {
            position = text.IndexOf("\r\n", position, StringComparison.Ordinal) + 2;
        }

        return text[position..];
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Missing_message_id_and_date_are_added_at_the_end_of_the_header_section(bool bdat)
    {
        await using var server = Server();
        var text = await SendAsync(server, "Subject: hi\r\nFrom: a@example.com\r\n\r\nbody line\r\nDate: in the body\r\n", bdat);
        Assert.Matches($@"^Subject: hi\r\nFrom: a@example.com\r\nMessage-ID: <[0-9a-f]+\.[0-9a-f]{{8}}@{TestSettings.Hostname}>\r\nDate: \w{{3}}, \d\d \w{{3}} \d{{4}} \d\d:\d\d:\d\d [+-]\d{{4}}\r\n\r\nbody line\r\nDate: in the body\r\n$", text);
    }

    [Fact]
    public async Task Present_headers_are_left_alone_whatever_their_case()
    {
        await using var server = Server();
        const string content = "message-id: <x@y>\r\nSubject: folded\r\n line\r\nDATE: Thu, 1 Jan 2026 00:00:00 +0000\r\n\r\nbody\r\n";
        Assert.Equal(content, await SendAsync(server, content));
    }

    [Fact]
    public async Task A_message_without_body_gets_the_fields_at_its_end()
    {
        await using var server = Server();
        var text = await SendAsync(server, "Subject: only headers\r\n");
        Assert.StartsWith("Subject: only headers\r\nMessage-ID: <", text, StringComparison.Ordinal);
        Assert.Contains("\r\nDate: ", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Other_listeners_do_not_touch_the_message()
    {
        await using var server = Server(submission: false);
        Assert.Equal("Subject: hi\r\n\r\nbody\r\n", await SendAsync(server, "Subject: hi\r\n\r\nbody\r\n"));
    }
}
