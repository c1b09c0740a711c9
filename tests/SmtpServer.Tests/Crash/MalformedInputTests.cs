using System.Net.Sockets;
using System.Text;
using SmtpServer.Testing;
using SmtpServer.Tests.Infrastructure;
using Xunit.Abstractions;

namespace SmtpServer.Tests.Crash;

/// <summary>
/// "Malformed input never kills the process (the next connection still gets 220)", against the
/// real smtpd process: junk of every kind over raw sockets, then the process must still run,
/// greet, take a message, have logged no internal session error, and have queued nothing from
/// the junk.
/// </summary>
public sealed class MalformedInputTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Crash_malformed_input_never_kills_the_process()
    {
        await using var smtpd = await SmtpdProcess.StartAsync(output);
        var random = new Random(20260101);

        var junk = new (string Name, Func<Task> Send)[]
        {
            ("random bytes", () => RawAsync(smtpd, Random(random, 256 * 1024))),
            ("random bytes, then RST", () => RawAsync(smtpd, Random(random, 64 * 1024), reset: true)),
            ("NULs", () => RawAsync(smtpd, [.. new byte[16 * 1024], .. "EHLO \0\0\r\nMAIL FROM:<\0@x>\r\nRCPT TO:<a\0b@localhost>\r\n\0\r\n"u8])),
            ("1 MB line without LF, then close", () => RawAsync(smtpd, Encoding.ASCII.GetBytes(new string('A', 1024 * 1024)))),
            ("1 MB line of CRs without LF", () => RawAsync(smtpd, Enumerable.Repeat((byte)'\r', 1024 * 1024).ToArray())),
            ("half a command, then close", () => RawAsync(smtpd, "EHLO half.exam"u8.ToArray())),
            ("half a command, then RST", () => RawAsync(smtpd, "MAIL FROM:<someone@exa"u8.ToArray(), reset: true)),
            ("DATA cut off, then close", () => CutDataAsync(smtpd, random, reset: false)),
            ("DATA cut off, then RST", () => CutDataAsync(smtpd, random, reset: true)),
            ("BDAT chunk cut off", () => TransactionThenAsync(smtpd, "BDAT 1000000 LAST\r\nonly a few bytes"u8.ToArray())),
            ("BDAT absurd sizes", () => TransactionThenAsync(smtpd, "BDAT 99999999999999999999999 LAST\r\nBDAT -1\r\nBDAT 18446744073709551616\r\nxyz"u8.ToArray())),
            ("bare LF and CR in DATA", () => TransactionThenAsync(smtpd, "DATA\r\nSubject: smuggle\n\nbody\n.\nMAIL FROM:<evil@x>\r\nbare\rCR\r\n.\r\n"u8.ToArray())),
            ("TLS ClientHello", () => RawAsync(smtpd, [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, .. Random(random, 508)])),
            ("HTTP request", () => RawAsync(smtpd, "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: h2c\r\n\r\n"u8.ToArray())),
            ("invalid UTF-8 and controls in commands", () => RawAsync(smtpd, [.. "EHLO "u8, 0xff, 0xfe, .. "\r\nMAIL FROM:<"u8, 0xc3, 0x28, .. "@x> SMTPUTF8\r\nRCPT TO:<\x1b[2J@localhost>\r\nAUTH PLAIN "u8, 0xf8, 0x88, .. "\r\nSTARTTLS\r\n"u8])),
            ("overlong parameters", () => RawAsync(smtpd, Encoding.ASCII.GetBytes("EHLO x\r\nMAIL FROM:<a@b> SIZE=" + new string('9', 5000) + " ENVID=" + new string('+', 3000) + "\r\nRCPT TO:<" + new string('x', 100_000) + "@localhost>\r\n"))),
            ("20k pipelined NOOPs, replies never read", () => RawAsync(smtpd, Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("NOOP\r\n", 20_000))))),
            ("50 connect-and-drop", () => Task.WhenAll(Enumerable.Range(0, 50).Select(_ => RawAsync(smtpd, [], reset: true)))),
        };

        foreach (var (name, send) in junk)
        {
            await send();
            Assert.True(smtpd.IsRunning, $"smtpd exited after '{name}':\n{smtpd.OutputTail()}");
        }

        // The server handles the junk asynchronously; let the last sessions end.
        await Task.Delay(500);
        Assert.True(smtpd.IsRunning, $"smtpd exited:\n{smtpd.OutputTail()}");

        // The over-long line is cut off and the same session goes on.
        await using (var client = await smtpd.ConnectAsync())
        {
            Assert.Equal(220, (await client.ReadReplyAsync()).Code);
            await client.SendAsync(Encoding.ASCII.GetBytes(new string('B', 1024 * 1024)));
            await client.SendAsync("\r\nNOOP\r\n");
            Assert.Equal(500, (await client.ReadReplyAsync()).Code);
            Assert.Equal(250, (await client.ReadReplyAsync()).Code);
        }

        // The next connection gets 220 and a message goes through.
        await using (var client = await smtpd.ConnectAsync())
        {
            var greeting = await client.ReadReplyAsync();
            Assert.True(greeting.Code == 220, $"after the junk: {greeting}\n{smtpd.OutputTail()}");
            Assert.Equal(250, (await client.CommandAsync("EHLO healthy.example")).Code);
            Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<healthy@example.com>")).Code);
            Assert.Equal(250, (await client.CommandAsync("RCPT TO:<user@localhost>")).Code);
            Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
            var accepted = await client.CommandAsync("Subject: healthy\r\n\r\nstill alive\r\n.");
            Assert.True(accepted.Code == 250, $"after the junk: {accepted}");
            Assert.Equal(221, (await client.CommandAsync("QUIT")).Code);
        }

        Assert.True(smtpd.IsRunning, $"smtpd exited:\n{smtpd.OutputTail()}");

        var log = smtpd.Output;
        Assert.DoesNotContain("Unhandled exception", log, StringComparison.Ordinal);
        Assert.DoesNotContain(" FTL ", log, StringComparison.Ordinal);

        // Nothing from the junk was queued: only the healthy message.
        await smtpd.KillAsync();
        var stored = Assert.Single(smtpd.LoadQueue());
        Assert.Contains("still alive", SpoolMessage.Read(stored.MessagePath).ContentText, StringComparison.Ordinal);
        Assert.Empty(smtpd.CorruptEntries());
    }

    /// <summary>
    /// A client that pipelines up to DATA (or BDAT) and hangs up is an ordinary event: the
    /// session must end as a disconnect, not as an internal error with a stack trace in the log
    /// (the catch-all in SmtpSession.RunAsync is for bugs).
    /// </summary>
    [Fact]
    public async Task Crash_client_hanging_up_right_after_DATA_is_not_an_internal_error()
    {
        await using var smtpd = await SmtpdProcess.StartAsync(output);
        for (var i = 0; i < 20; i++)
        {
            await TransactionThenAsync(smtpd, i % 2 == 0 ? "DATA\r\n"u8.ToArray() : "BDAT 10 LAST\r\n"u8.ToArray());
        }

        await using (var client = await smtpd.ConnectAsync())
        {
            Assert.Equal(220, (await client.ReadReplyAsync()).Code);
            Assert.Equal(221, (await client.CommandAsync("QUIT")).Code);
        }

        await Task.Delay(300);
        Assert.True(smtpd.IsRunning, $"smtpd exited:\n{smtpd.OutputTail()}");
        Assert.False(smtpd.Output.Contains("smtp session error", StringComparison.Ordinal),
            $"a client hanging up after DATA was logged as an internal session error:\n{smtpd.OutputTail(3000)}");
    }

    private static byte[] Random(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>Connects, sends the bytes without reading a reply, then closes (or resets).</summary>
    private static async Task RawAsync(SmtpdProcess smtpd, byte[] bytes, bool reset = false)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(smtpd.EndPoint, cts.Token);
        await SendIgnoringClosureAsync(socket, bytes, cts.Token);
        Close(socket, reset);
    }

    /// <summary>A transaction up to DATA's 354, part of a message, then the connection goes away.</summary>
    private static async Task CutDataAsync(SmtpdProcess smtpd, Random random, bool reset)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(smtpd.EndPoint, cts.Token);
        await socket.SendAsync("EHLO cut.example\r\nMAIL FROM:<cut@example.com>\r\nRCPT TO:<user@localhost>\r\nDATA\r\n"u8.ToArray(), SocketFlags.None, cts.Token);
        var replies = new StringBuilder();
        var buffer = new byte[4096];
        while (!replies.ToString().Contains("\r\n354 ", StringComparison.Ordinal))
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            Assert.True(n > 0, $"connection closed before 354: {replies}");
            replies.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }

        var body = new StringBuilder("Subject: cut off\r\n\r\n");
        while (body.Length < 100_000)
        {
            body.Append(random.Next()).Append("\r\n");
        }

        // Everything but the final CRLF.CRLF: the message must never reach the queue.
        await SendIgnoringClosureAsync(socket, Encoding.ASCII.GetBytes(body.Append("\r\n.").ToString()), cts.Token);
        Close(socket, reset);
    }

    /// <summary>EHLO, MAIL, RCPT on a raw socket, then the bytes, then close.</summary>
    private static Task TransactionThenAsync(SmtpdProcess smtpd, byte[] bytes) =>
        RawAsync(smtpd, [.. "EHLO junk.example\r\nMAIL FROM:<junk@example.com>\r\nRCPT TO:<user@localhost>\r\n"u8, .. bytes]);

    private static async Task SendIgnoringClosureAsync(Socket socket, byte[] bytes, CancellationToken cancellationToken)
    {
        try
        {
            var sent = 0;
            while (sent < bytes.Length)
            {
                sent += await socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None, cancellationToken);
            }
        }
        catch (SocketException)
        {
            // The server may close on us (too many errors); that is its right.
        }
    }

    private static void Close(Socket socket, bool reset)
    {
        if (reset)
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        else
        {
            try
            {
                socket.Shutdown(SocketShutdown.Send);
            }
            catch (SocketException)
            {
            }
        }

        socket.Close();
    }
}
