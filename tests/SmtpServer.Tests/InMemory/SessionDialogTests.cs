using System.Net;
using System.Text;
using SmtpServer.Tests.Infrastructure;
using SmtpServer.Testing;

namespace SmtpServer.Tests.InMemory;

/// <summary>The whole session over in-memory pipes: every reply a client can trigger.</summary>
public sealed class SessionDialogTests
{
    private static async Task<SmtpTestClient> EhloAsync(InMemorySmtpServer server, IPAddress? client = null)
    {
        var c = await server.ConnectAndGreetAsync(client);
        var ehlo = await c.CommandAsync("EHLO client.example");
        Assert.Equal(250, ehlo.Code);
        return c;
    }

    [Fact]
    public async Task Greeting_names_the_host()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = server.Connect();
        var greeting = await c.ReadReplyAsync();
        Assert.Equal($"220 {TestSettings.Hostname} ESMTP smtpd ready", greeting.Text);
    }

    [Fact]
    public async Task Ehlo_advertises_the_extensions()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await server.ConnectAndGreetAsync();
        var reply = await c.CommandAsync("EHLO client.example");
        Assert.Equal(
        [
            $"250-{TestSettings.Hostname} Hello client.example [127.0.0.1]",
            "250-PIPELINING",
            "250-SIZE 36700160",
            "250-8BITMIME",
            "250-SMTPUTF8",
            "250-CHUNKING",
            "250-DSN",
            "250-ENHANCEDSTATUSCODES",
            "250 HELP",
        ], reply.Lines);
        Assert.DoesNotContain(reply.Lines, l => l.Contains("STARTTLS", StringComparison.Ordinal) || l.Contains("AUTH", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Helo_gives_a_single_line()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await server.ConnectAndGreetAsync();
        var reply = await c.CommandAsync("HELO client.example");
        Assert.Equal($"250 {TestSettings.Hostname} Hello client.example [127.0.0.1]", reply.Text);
    }

    [Theory]
    [InlineData("EHLO", 501)]
    [InlineData("EHLO bad..name", 501)]
    [InlineData("HELO -bad", 501)]
    public async Task Bad_helo_arguments_are_refused(string command, int code)
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await server.ConnectAndGreetAsync();
        var reply = await c.CommandAsync(command);
        Assert.Equal(code, reply.Code);
        Assert.StartsWith("5.", reply.Status, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Helo_accepts_address_literals()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await server.ConnectAndGreetAsync();
        Assert.Equal(250, (await c.CommandAsync("EHLO [127.0.0.1]")).Code);
        Assert.Equal(250, (await c.CommandAsync("EHLO [IPv6:::1]")).Code);
    }

    [Fact]
    public async Task A_whole_transaction_is_committed_with_a_received_header()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await EhloAsync(server);
        Assert.Equal("250 2.1.0 Ok", (await c.CommandAsync("MAIL FROM:<sender@example.com>")).Text);
        Assert.Equal("250 2.1.5 Recipient ok", (await c.CommandAsync("RCPT TO:<user@example.org>")).Text);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        await c.SendAsync("Subject: hi\r\n\r\nHello\r\n..dot\r\n.\r\n");
        var accepted = await c.ReadReplyAsync();
        Assert.Equal(250, accepted.Code);
        Assert.Equal("2.0.0", accepted.Status);
        Assert.EndsWith("Message accepted for delivery", accepted.Text, StringComparison.Ordinal);
        Assert.Equal("221 2.0.0 " + TestSettings.Hostname + " Bye", (await c.CommandAsync("QUIT")).Text);
        Assert.True(await c.IsClosedAsync());

        var stored = Assert.Single(server.Committed());
        Assert.Contains(stored.Id.ToString(), accepted.Text, StringComparison.Ordinal);
        var envelope = Assert.Single(stored.Envelopes);
        Assert.Equal("user", envelope.Recipient.LocalPart);
        Assert.Equal("example.org", envelope.Recipient.Domain);
        Assert.Equal("local", envelope.Action);
        Assert.Equal("client.example", envelope.Helo);
        var bytes = await File.ReadAllTextAsync(stored.MessagePath);
        Assert.StartsWith($"Received: from client.example (unknown [127.0.0.1])\r\n\tby {TestSettings.Hostname} (smtpd) with ESMTP id {stored.Id}\r\n\tfor <user@example.org>;\r\n\t", bytes, StringComparison.Ordinal);
        Assert.EndsWith("\r\nSubject: hi\r\n\r\nHello\r\n.dot\r\n", bytes, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pipelined_commands_are_answered_in_order_in_one_flush()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await server.ConnectAndGreetAsync(IPAddress.Parse("192.0.2.10"));
        Assert.Equal(1, server.LastOutput!.Flushes);
        await c.SendAsync("EHLO client.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<c@nowhere.invalid>\r\nRCPT TO:<d@example.org>\r\nDATA\r\n");
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.Equal("550 5.7.1 Invalid recipient: <c@nowhere.invalid>", (await c.ReadReplyAsync()).Text);
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.Equal(354, (await c.ReadReplyAsync()).Code);
        Assert.Equal(2, server.LastOutput.Flushes);

        // The end of data and QUIT in one packet: OpenSMTPD loses this message (REFERENCE.md §0.1).
        await c.SendAsync("Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n");
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.Equal(221, (await c.ReadReplyAsync()).Code);
        Assert.True(await c.IsClosedAsync());
        var stored = Assert.Single(server.Committed());
        Assert.Equal(2, stored.Envelopes.Count);
    }

    [Fact]
    public async Task Second_ehlo_resets_the_transaction()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await EhloAsync(server);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@example.com>")).Code);
        Assert.Equal(250, (await c.CommandAsync("EHLO again.example")).Code);
        Assert.Equal(503, (await c.CommandAsync("RCPT TO:<b@example.org>")).Code);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@example.com>")).Code);
    }

    [Theory]
    [InlineData("MAIL FROM:<a@example.com>", "503 5.5.1")]
    [InlineData("RCPT TO:<a@example.org>", "503 5.5.1")]
    [InlineData("DATA", "503 5.5.1")]
    public async Task Commands_out_of_sequence_before_helo(string command, string expected)
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await server.ConnectAndGreetAsync();
        Assert.StartsWith(expected, (await c.CommandAsync(command)).Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sequence_errors_inside_a_session()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await EhloAsync(server, IPAddress.Parse("192.0.2.10"));
        Assert.StartsWith("503 5.5.1", (await c.CommandAsync("RCPT TO:<a@example.org>")).Text, StringComparison.Ordinal);
        Assert.StartsWith("503 5.5.1", (await c.CommandAsync("DATA")).Text, StringComparison.Ordinal);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<>")).Code);
        Assert.StartsWith("503 5.5.1", (await c.CommandAsync("MAIL FROM:<a@example.com>")).Text, StringComparison.Ordinal);
        Assert.StartsWith("503 5.5.1", (await c.CommandAsync("DATA")).Text, StringComparison.Ordinal);
        Assert.Equal(550, (await c.CommandAsync("RCPT TO:<x@elsewhere.invalid>")).Code);
        Assert.StartsWith("554 5.5.1", (await c.CommandAsync("DATA")).Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("MAIL FROM:a@example.com", 501)]
    [InlineData("MAIL FROM:<a@example.com> FOO=BAR", 555)]
    [InlineData("MAIL FROM:<a@example.com> SIZE=abc", 501)]
    [InlineData("MAIL FROM:<a@example.com> BODY=8BITMIME BODY=7BIT", 501)]
    [InlineData("MAIL FROM:<a@example.com> SIZE=36700161", 552)]
    [InlineData("MAIL FROM:<ü@example.com>", 553)]
    [InlineData("MAIL FROM:<a@exa mple.com>", 501)]
    [InlineData("MAIL FROM:<;sleep 66;>", 501)]
    [InlineData("MAIL FROM:<a@example.com> BODY=BINARYMIME", 555)]
    public async Task Bad_mail_commands(string command, int code)
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await EhloAsync(server);
        var reply = await c.CommandAsync(command);
        Assert.Equal(code, reply.Code);
        Assert.Matches(@"^5\.\d\.\d+$", reply.Status);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@example.com>")).Code);
    }

    [Fact]
    public async Task Size_at_the_limit_is_accepted()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await EhloAsync(server);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@example.com> SIZE=36700160")).Code);
    }

    [Theory]
    [InlineData("RCPT TO:<>", 501)]
    [InlineData("RCPT TO:b@example.org", 501)]
    [InlineData("RCPT TO:<b@example.org> NOTIFY=NEVER,SUCCESS", 501)]
    [InlineData("RCPT TO:<b@example.org> FOO", 555)]
    [InlineData("RCPT TO:<ü@example.org>", 553)]
    [InlineData("RCPT TO:<b@blocked.example>", 550)]
    [InlineData("RCPT TO:<b@relay.invalid>", 550)]
    public async Task Bad_rcpt_commands_from_a_remote_client(string command, int code)
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await EhloAsync(server, IPAddress.Parse("192.0.2.10"));
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@example.com>")).Code);
        var reply = await c.CommandAsync(command);
        Assert.Equal(code, reply.Code);
        Assert.Matches(@"^5\.\d\.\d+$", reply.Status);
    }

    [Fact]
    public async Task Loopback_clients_may_relay_and_remote_ones_may_not()
    {
        await using var server = new InMemorySmtpServer();
        await using (var local = await EhloAsync(server))
        {
            await local.CommandAsync("MAIL FROM:<a@example.com>");
            Assert.Equal(250, (await local.CommandAsync("RCPT TO:<someone@elsewhere.example>")).Code);
        }

        await using var remote = await EhloAsync(server, IPAddress.Parse("198.51.100.7"));
        await remote.CommandAsync("MAIL FROM:<a@example.com>");
        Assert.Equal("550 5.7.1 Invalid recipient: <someone@elsewhere.example>", (await remote.CommandAsync("RCPT TO:<someone@elsewhere.example>")).Text);
        Assert.Equal(250, (await remote.CommandAsync("RCPT TO:<someone@sub.example.net>")).Code);
        Assert.Equal(250, (await remote.CommandAsync("RCPT TO:<postmaster>")).Code);
    }

    [Fact]
    public async Task Smtputf8_addresses_need_the_parameter()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await EhloAsync(server);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<jörg@example.com> SMTPUTF8")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<ünï@example.org>")).Code);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        await c.SendAsync("Subject: ü\r\n\r\nü\r\n.\r\n");
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        var stored = Assert.Single(server.Committed());
        Assert.Equal("ünï", stored.Envelopes[0].Recipient.LocalPart);
        Assert.Contains("with UTF8SMTP id", await File.ReadAllTextAsync(stored.MessagePath), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dsn_parameters_are_kept_with_the_envelope()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await EhloAsync(server);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@example.com> RET=HDRS ENVID=QQ+2B314 SIZE=100 BODY=8BITMIME")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<b@example.org> NOTIFY=FAILURE,DELAY ORCPT=rfc822;b+2Bx@example.org")).Code);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        await c.SendAsync("\r\n.\r\n");
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        var envelope = Assert.Single(Assert.Single(server.Committed()).Envelopes);
        Assert.Equal("QQ+314", envelope.EnvelopeIdParameter);
        Assert.Equal("b+x@example.org", envelope.OriginalRecipient);
        Assert.Equal("rfc822", envelope.OriginalRecipientType);
        Assert.Equal(Protocol.DsnNotify.Failure | Protocol.DsnNotify.Delay, envelope.Notify);
        Assert.Equal(Protocol.DsnReturn.Headers, envelope.Ret);
        Assert.Equal(Protocol.BodyType.EightBitMime, envelope.Body);
    }

    [Fact]
    public async Task Helo_sessions_may_not_use_esmtp_parameters()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await server.ConnectAndGreetAsync();
        Assert.Equal(250, (await c.CommandAsync("HELO client.example")).Code);
        Assert.Equal(555, (await c.CommandAsync("MAIL FROM:<a@example.com> SIZE=10")).Code);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@example.com>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<b@example.org>")).Code);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        await c.SendAsync("x\r\n.\r\n");
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.Contains("with SMTP id", await File.ReadAllTextAsync(Assert.Single(server.Committed()).MessagePath), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simple_commands()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await EhloAsync(server);
        Assert.Equal("250 2.0.0 Ok", (await c.CommandAsync("NOOP")).Text);
        Assert.Equal("250 2.0.0 Ok", (await c.CommandAsync("NOOP with arguments")).Text);
        Assert.Equal("250 2.0.0 Ok", (await c.CommandAsync("RSET")).Text);
        Assert.Equal(501, (await c.CommandAsync("RSET now")).Code);
        Assert.Equal(214, (await c.CommandAsync("HELP")).Code);
        Assert.StartsWith("252 2.5.0", (await c.CommandAsync("VRFY root")).Text, StringComparison.Ordinal);
        Assert.Equal(501, (await c.CommandAsync("VRFY")).Code);
        Assert.StartsWith("502 5.5.1", (await c.CommandAsync("EXPN staff")).Text, StringComparison.Ordinal);
        Assert.StartsWith("502 5.5.1", (await c.CommandAsync("STARTTLS")).Text, StringComparison.Ordinal);
        Assert.StartsWith("502 5.5.1", (await c.CommandAsync("AUTH PLAIN")).Text, StringComparison.Ordinal);
        Assert.StartsWith("500 5.5.1", (await c.CommandAsync("WIZ")).Text, StringComparison.Ordinal);
        Assert.Equal(501, (await c.CommandAsync("DATA now")).Code);
        Assert.Equal(501, (await c.CommandAsync("QUIT now")).Code);
        Assert.Equal(221, (await c.CommandAsync("quit")).Code);
    }

    [Fact]
    public async Task Rset_discards_the_transaction()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await EhloAsync(server);
        await c.CommandAsync("MAIL FROM:<a@example.com>");
        await c.CommandAsync("RCPT TO:<b@example.org>");
        Assert.Equal(250, (await c.CommandAsync("RSET")).Code);
        Assert.Equal(503, (await c.CommandAsync("DATA")).Code);
        Assert.Empty(server.Committed());
    }

    [Fact]
    public async Task Http_requests_are_hung_up_on()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await server.ConnectAndGreetAsync();
        var reply = await c.CommandAsync("GET / HTTP/1.1");
        Assert.Equal(421, reply.Code);
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task Null_sender_and_quoted_local_parts()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await EhloAsync(server);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<\"john doe\"@example.org>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<@relay.example:jane@example.org>")).Code);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        await c.SendAsync(".\r\n");
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        var stored = Assert.Single(server.Committed());
        Assert.Null(stored.Envelopes[0].Sender);
        Assert.Equal("\"john doe\"", stored.Envelopes[0].Recipient.LocalPart);
        Assert.Equal("jane", stored.Envelopes[1].Recipient.LocalPart);
        Assert.DoesNotContain("\tfor <", await File.ReadAllTextAsync(stored.MessagePath), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Several_messages_in_one_session()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await EhloAsync(server);
        for (var i = 0; i < 3; i++)
        {
            await c.SendAsync($"MAIL FROM:<a@example.com>\r\nRCPT TO:<b{i}@example.org>\r\nDATA\r\n");
            Assert.Equal(250, (await c.ReadReplyAsync()).Code);
            Assert.Equal(250, (await c.ReadReplyAsync()).Code);
            Assert.Equal(354, (await c.ReadReplyAsync()).Code);
            await c.SendAsync(Encoding.ASCII.GetBytes($"Subject: {i}\r\n\r\n{i}\r\n.\r\n"));
            Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        }

        Assert.Equal(3, server.Committed().Count);
    }
}
