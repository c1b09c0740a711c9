using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;
using MailKit.Net.Smtp;
using MimeKit;
using SmtpServer.Auth;
using SmtpServer.Testing;
using SmtpServer.Tests.Infrastructure;

namespace SmtpServer.Tests.Sockets;

/// <summary>
/// The routing issue's check, with real outcomes: the real host (Kestrel, session, scheduler,
/// agents) from a config file, on loopback, a real client (MailKit), and a scripted SMTP sink as
/// the smarthost. Two virtual domains, a catch-all, an alias to a remote address, an error:
/// alias, a |command and a /file alias, and relaying for authenticated users only. What is
/// asserted is where the mail went and byte for byte what arrived there.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // a /bin/sh program and Unix file modes
public sealed class RoutingEndToEndTests
{
    private static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(60);

    // Copies its stdin, argv and part of its environment to files in $1.
    private const string Handler = """
        #!/bin/sh
        out="$1"
        shift
        cat > "$out/stdin.tmp"
        printf '%s\n' "$@" > "$out/argv"
        printf 'RECIPIENT=%s\nSENDER=%s\n' "$RECIPIENT" "$SENDER" > "$out/env"
        mv "$out/stdin.tmp" "$out/stdin"
        """;

    /// <summary>One transaction as the sink received it.</summary>
    private sealed record SinkMessage(string MailFrom, IReadOnlyList<string> Recipients, string Data);

    /// <summary>A minimal SMTP server: accepts everything and records it, any number of transactions and connections.</summary>
    private static ScriptedLinePeer StartSink(ConcurrentQueue<SinkMessage> received) => new(async c =>
    {
        await c.WriteLineAsync("220 sink.test ESMTP");
        var from = string.Empty;
        var recipients = new List<string>();
        while (true)
        {
            var line = await c.ReadLineAsync();
            switch (line.Split(' ')[0].ToUpperInvariant())
            {
                case "EHLO":
                    await c.WriteAsync("250-sink.test\r\n250-8BITMIME\r\n250 PIPELINING\r\n");
                    break;
                case "MAIL":
                    (from, recipients) = (line, []);
                    await c.WriteLineAsync("250 2.1.0 ok");
                    break;
                case "RCPT":
                    recipients.Add(line);
                    await c.WriteLineAsync("250 2.1.5 ok");
                    break;
                case "DATA":
                    await c.WriteLineAsync("354 go ahead");
                    received.Enqueue(new SinkMessage(from, recipients, Unstuff(await c.ReadDataAsync())));
                    await c.WriteLineAsync("250 2.0.0 queued");
                    break;
                case "RSET" or "NOOP":
                    await c.WriteLineAsync("250 2.0.0 ok");
                    break;
                case "QUIT":
                    await c.WriteLineAsync("221 2.0.0 bye");
                    return;
                default:
                    await c.WriteLineAsync("502 5.5.1 unknown");
                    break;
            }
        }
    });

    /// <summary>RFC 5321 §4.5.2: the DATA lines without the final dot and with one leading dot removed.</summary>
    private static string Unstuff(string data)
    {
        var lines = data[..^".\r\n".Length].Split("\r\n");
        return string.Join("\r\n", lines.Select(l => l.StartsWith('.') ? l[1..] : l));
    }

    private static string WriteConfig(TempDirectory dir, int sinkPort, string handler, string handlerOut)
    {
        var d = dir.Path;
        File.WriteAllText(dir.Combine("credentials"), $"alice:{Sha512Crypt.Crypt("alice-pw", "$6$rounds=1000$alicesalt")}\n");
        File.WriteAllText(dir.Combine("virtual"), $"""
            # domain A: users, a command and a file; domain B: a user, a forward, an error and a catch-all
            alice@one.example:    alice
            pipe@one.example:     "|{handler} {handlerOut} 'an arg' $HOME;x"
            archive@one.example:  {d}/archive/list.mbox
            bob@two.example:      bob
            forward@two.example:  friend@remote.example
            gone@two.example:     error:550 5.1.6 Moved away, ask the sender
            @two.example:         catchall
            """);
        var config = dir.Combine("smtpd.yaml");
        File.WriteAllText(config, $$"""
            server: { hostname: mx.test.example }
            queue: { path: {{d}}/queue }
            listeners:
              - { name: mx, address: "127.0.0.1:0", auth: { mode: optional, credentials: users, allowPlaintext: true } }
            tables:
              users: { type: file, path: {{d}}/credentials, format: credentials }
              virtual: { type: file, path: {{d}}/virtual, format: aliases }
              domains: { type: list, values: [one.example, two.example] }
            actions:
              local:
                maildir: { path: "{{d}}/mail/{user}/Maildir" }
                virtual: virtual
                aliasTargets: { files: true, commands: true }
              outbound: { relay: { host: "smtp+notls://127.0.0.1:{{sinkPort}}" } }
            rules:
              - { from: any, for: { domain: domains }, action: local }
              - { from: { auth: true }, for: any, action: outbound }
              # What an alias produced has no client address (and matches "from local"); the
              # clients here are on loopback too, so this rule names what only expansion has.
              - { from: { not: { src: ["0.0.0.0/0", "::/0"] } }, for: any, action: outbound }
            """);
        return config;
    }

    private static MimeMessage Message(string subject) => new(
        [new MailboxAddress("Sender", "sender@remote.example")],
        [new MailboxAddress("Alice", "alice@one.example")],
        subject,
        new TextPart("plain") { Text = "Hello.\n.a line with a leading dot\nFrom the body, a line mbox must quote.\nBye.\n" });

    /// <summary>The bytes MailKit sends for <paramref name="message"/> (CRLF, as it writes DATA).</summary>
    private static string WireBytes(MimeMessage message)
    {
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        using var stream = new MemoryStream();
        message.WriteTo(options, stream);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static async Task<SmtpClient> ConnectAsync(SocketSmtpServer server, bool login)
    {
        var client = new SmtpClient();
        await client.ConnectAsync(server.EndPoint.Address.ToString(), server.EndPoint.Port, MailKit.Security.SecureSocketOptions.None);
        if (login)
        {
            await client.AuthenticateAsync("alice", "alice-pw");
        }

        return client;
    }

    private static async Task<string> RefusedAsync(SmtpClient client, string recipient)
    {
        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => client.SendAsync(
            Message("refused"), MailboxAddress.Parse("sender@remote.example"), [MailboxAddress.Parse(recipient)]));
        Assert.Equal(SmtpErrorCode.RecipientNotAccepted, error.ErrorCode);
        return $"{(int)error.StatusCode} {error.Message}";
    }

    /// <summary>Polls until <paramref name="done"/> holds; the scheduler delivers in the background.</summary>
    private static async Task WaitForAsync(Func<bool> done, Func<string> what)
    {
        var deadline = DateTime.UtcNow + DeliveryTimeout;
        while (!done())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for: " + what());
            await Task.Delay(50);
        }
    }

    private static string[] Maildir(TempDirectory dir, string user)
    {
        var path = dir.Combine("mail", user, "Maildir", "new");
        return Directory.Exists(path) ? Directory.GetFiles(path) : [];
    }

    [Fact]
    public async Task Each_route_ends_where_the_config_says_with_the_exact_message()
    {
        var received = new ConcurrentQueue<SinkMessage>();
        await using var sink = StartSink(received);
        var dir = new TempDirectory("smtpd-routing-e2e");
        var handlerOut = dir.Combine("handler");
        Directory.CreateDirectory(handlerOut);
        var handler = dir.Combine("handler.sh");
        File.WriteAllText(handler, Handler.Replace("\r\n", "\n", StringComparison.Ordinal) + "\n");
        File.SetUnixFileMode(handler, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await using var server = await SocketSmtpServer.StartFromConfigAsync(dir, WriteConfig(dir, sink.Port, handler, handlerOut));

        // An unauthenticated client: local recipients of both domains, the catch-all, a forward, a command and a file.
        var message = Message("routing");
        using (var client = await ConnectAsync(server, login: false))
        {
            var recipients = new[] { "alice@one.example", "Bob@Two.Example", "anyone@two.example", "forward@two.example", "pipe@one.example", "archive@one.example" };
            var reply = await client.SendAsync(message, MailboxAddress.Parse("sender@remote.example"), recipients.Select(MailboxAddress.Parse));
            Assert.Matches("^2.0.0 [0-9a-f]{16} Message accepted for delivery$", reply);

            Assert.Equal("550 5.1.6 Moved away, ask the sender", await RefusedAsync(client, "gone@two.example"));
            Assert.Equal("550 5.1.1 Invalid recipient: <nobody@one.example>: user unknown", await RefusedAsync(client, "nobody@one.example"));
            Assert.Equal("550 5.7.1 Invalid recipient: <someone@external.example>", await RefusedAsync(client, "someone@external.example"));
            await client.DisconnectAsync(quit: true);
        }

        // The same external recipient from an authenticated client is relayed.
        var relayed = Message("relayed");
        using (var client = await ConnectAsync(server, login: true))
        {
            await client.SendAsync(relayed, MailboxAddress.Parse("alice@one.example"), [MailboxAddress.Parse("someone@external.example")]);
            await client.DisconnectAsync(quit: true);
        }

        await WaitForAsync(
            () => server.Committed().Count == 0 && received.Count == 2 && File.Exists(Path.Combine(handlerOut, "stdin"))
                && Maildir(dir, "alice").Length == 1 && Maildir(dir, "bob").Length == 1 && Maildir(dir, "catchall").Length == 1,
            () => $"queue {server.Committed().Count}, sink {received.Count}, maildirs {Maildir(dir, "alice").Length}/{Maildir(dir, "bob").Length}/{Maildir(dir, "catchall").Length}, "
                + $"handler {File.Exists(Path.Combine(handlerOut, "stdin"))}; last errors: {string.Join(" | ", server.Committed().SelectMany(m => m.Envelopes).Select(e => e.LastError))}");

        // The stored message: our one Received header, then exactly what the client sent.
        var wire = WireBytes(message);
        var alice = await File.ReadAllTextAsync(Maildir(dir, "alice")[0]);
        var trace = "Return-Path: <sender@remote.example>\r\nDelivered-To: alice@one.example\r\n";
        Assert.StartsWith(trace + "Received: from ", alice, StringComparison.Ordinal);
        Assert.EndsWith("\r\n" + wire, alice, StringComparison.Ordinal);
        var stored = alice[trace.Length..];
        Assert.Equal(1, Regex.Count(stored, "^Received: ", RegexOptions.Multiline));

        // Each mailbox got that message, under its own Delivered-To: the case-folded user of domain B, the catch-all.
        Assert.Equal("Return-Path: <sender@remote.example>\r\nDelivered-To: bob@Two.Example\r\n" + stored, await File.ReadAllTextAsync(Maildir(dir, "bob")[0]));
        Assert.Equal("Return-Path: <sender@remote.example>\r\nDelivered-To: catchall@two.example\r\n" + stored, await File.ReadAllTextAsync(Maildir(dir, "catchall")[0]));

        // The forward reached the smarthost with the right envelope and the identical bytes.
        var forward = Assert.Single(received, m => m.Recipients.Contains("RCPT TO:<friend@remote.example>"));
        Assert.StartsWith("MAIL FROM:<sender@remote.example>", forward.MailFrom, StringComparison.Ordinal);
        Assert.Equal(["RCPT TO:<friend@remote.example>"], forward.Recipients);
        Assert.Equal(stored, forward.Data);

        // The authenticated relay too.
        var external = Assert.Single(received, m => m.Recipients.Contains("RCPT TO:<someone@external.example>"));
        Assert.StartsWith("MAIL FROM:<alice@one.example>", external.MailFrom, StringComparison.Ordinal);
        Assert.Equal(["RCPT TO:<someone@external.example>"], external.Recipients);
        Assert.StartsWith("Received: from ", external.Data, StringComparison.Ordinal);
        Assert.EndsWith("\r\n" + WireBytes(relayed), external.Data, StringComparison.Ordinal);

        // The command ran once, without a shell, with the message on stdin and the envelope in its environment.
        Assert.Equal("Return-Path: <sender@remote.example>\r\nDelivered-To: pipe@one.example\r\n" + stored, await File.ReadAllTextAsync(Path.Combine(handlerOut, "stdin")));
        Assert.Equal(["an arg", "$HOME;x"], await File.ReadAllLinesAsync(Path.Combine(handlerOut, "argv")));
        Assert.Equal(["RECIPIENT=pipe@one.example", "SENDER=sender@remote.example"], await File.ReadAllLinesAsync(Path.Combine(handlerOut, "env")));

        // The file got it as an mboxrd entry.
        var mbox = await File.ReadAllTextAsync(dir.Combine("archive", "list.mbox"));
        var entry = "Return-Path: <sender@remote.example>\nDelivered-To: archive@one.example\n"
            + Regex.Replace(stored.Replace("\r\n", "\n", StringComparison.Ordinal), "^(>*From )", ">$1", RegexOptions.Multiline) + "\n";
        Assert.Matches(@"^From sender@remote\.example [A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\n", mbox);
        Assert.Equal(entry, mbox[(mbox.IndexOf('\n', StringComparison.Ordinal) + 1)..]);
        Assert.Contains("\n>From the body, a line mbox must quote.\n", mbox, StringComparison.Ordinal);

        // smtpd --explain-route shows the same decision.
        var explained = new StringWriter();
        Assert.Equal(0, await RouteExplainer.ExplainAsync(server.Settings, "sender@remote.example", "pipe@one.example", "127.0.0.1", null, null, false, explained));
        Assert.Contains($"  <pipe@one.example> action local command |{handler} {handlerOut} 'an arg' $HOME;x\n", explained.ToString(), StringComparison.Ordinal);

        // Nothing else went anywhere.
        Assert.Equal(2, received.Count);
        Assert.Equal(["alice", "bob", "catchall"], Directory.GetDirectories(dir.Combine("mail")).Select(Path.GetFileName).Order());
        Assert.Empty(sink.Errors);
    }
}
