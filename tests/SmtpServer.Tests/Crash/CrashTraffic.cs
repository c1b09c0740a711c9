using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using SmtpServer.Core.Queue;
using SmtpServer.Testing;

namespace SmtpServer.Tests.Crash;

/// <summary>
/// What the crash tests send and how the messages look: a marker prefix, the recipients of a
/// client's message, the usual size range, and the text an accepting 250 must hold (null: any).
/// </summary>
internal sealed record CrashMessageShape(string MarkerPrefix, Func<int, Random, string[]> Recipients, int MinSize, int MaxSize, string? AcceptedText);

/// <summary>One round of concurrent raw-socket clients, each sending pipelined transactions in a loop.</summary>
internal sealed class CrashTraffic(IPEndPoint endPoint, int round, ConcurrentDictionary<string, SentMessage> sent, CrashMessageShape shape)
{
    private readonly CancellationTokenSource _stop = new();

    public volatile bool KillIssued;

    public ConcurrentQueue<string> Anomalies { get; } = new();

    public TaskCompletionSource FirstAccepted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task StopAsync(Task[] clients)
    {
        await _stop.CancelAsync();
        var all = Task.WhenAll(clients);
        if (await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(20))) != all)
        {
            Assert.Fail("the clients did not stop within 20 s of the kill");
        }

        await all;
        _stop.Dispose();
    }

    public async Task RunClientAsync(int client)
    {
        var random = new Random(HashCode.Combine(round, client, Environment.TickCount));
        var sequence = 0;
        while (!_stop.IsCancellationRequested)
        {
            SmtpTestClient? connection = null;
            try
            {
                connection = await SmtpTestClient.ConnectAsync(endPoint, _stop.Token);
                connection.Timeout = TimeSpan.FromSeconds(10);
                Expect(await connection.ReadReplyAsync(), 220, "greeting");
                Expect(await connection.CommandAsync($"EHLO client{client}.crash.example"), 250, "EHLO");

                // A few messages per connection, then a new connection: both paths get killed.
                for (var n = 0; n < 10 && !_stop.IsCancellationRequested; n++)
                {
                    var message = SentMessage.Create(shape, round, client, sequence++, random);
                    sent[message.Marker] = message;

                    // PIPELINING: MAIL, every RCPT and DATA in one write (RFC 2920 §3.1).
                    await connection.SendAsync(message.Commands());
                    Expect(await connection.ReadReplyAsync(), 250, "MAIL");
                    foreach (var recipient in message.Recipients)
                    {
                        Expect(await connection.ReadReplyAsync(), 250, "RCPT " + recipient);
                    }

                    Expect(await connection.ReadReplyAsync(), 354, "DATA");
                    message.DataSent = true;
                    await connection.SendAsync(message.Wire);
                    var reply = await connection.ReadReplyAsync();
                    Expect(reply, 250, "end of data");
                    var words = reply.Lines[0].Split(' ');
                    if (words.Length < 4 || words[1] != "2.0.0" || !QueueId.TryParse(words[2], out _)
                        || (shape.AcceptedText is { } accepted && !reply.Lines[0].Contains(accepted, StringComparison.Ordinal)))
                    {
                        Anomalies.Enqueue($"unexpected 250 text: {reply}");
                        return;
                    }

                    message.QueueId = words[2];
                    FirstAccepted.TrySetResult();
                }
            }
            catch (Exception e) when (e is IOException or SocketException or EndOfStreamException or OperationCanceledException or ObjectDisposedException)
            {
                // The kill: connections die, connects are refused. Before the kill, a failure is the server's.
                if (!KillIssued)
                {
                    Anomalies.Enqueue($"client {client}: connection failed before the kill: {e.GetType().Name}: {e.Message}");
                    return;
                }

                try
                {
                    await Task.Delay(20, _stop.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
            catch (UnexpectedReplyException e)
            {
                Anomalies.Enqueue($"client {client}: {e.Message}");
                return;
            }
            finally
            {
                if (connection is not null)
                {
                    try
                    {
                        await connection.DisposeAsync();
                    }
                    catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
                    {
                    }
                }
            }
        }
    }

    private void Expect(SmtpTestReply reply, int code, string what)
    {
        // A 4xx/5xx once the kill is under way cannot happen (the process is gone), so any
        // other reply is the server's fault.
        if (reply.Code != code)
        {
            throw new UnexpectedReplyException($"{what}: expected {code}, got {reply} (kill issued: {KillIssued})");
        }
    }
}

internal sealed class UnexpectedReplyException(string message) : Exception(message);

/// <summary>A message as one client sent it; <see cref="QueueId"/> is set when its 250 arrived.</summary>
internal sealed class SentMessage
{
    public const string Sender = "crash-sender@example.com";

    private const string Printable = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

    private volatile string? _queueId;
    private volatile bool _dataSent;

    private SentMessage(int round, string marker, string[] recipients, byte[] content)
    {
        Round = round;
        Marker = marker;
        Recipients = recipients;
        Content = content;
        Wire = Stuff(content);
    }

    public int Round { get; }

    public string Marker { get; }

    public string[] Recipients { get; }

    /// <summary>The message as the server must store it (after our Received header; in a maildir, after Return-Path and Delivered-To too).</summary>
    public byte[] Content { get; }

    /// <summary>The DATA bytes: dot-stuffed, ending in CRLF.CRLF.</summary>
    public byte[] Wire { get; }

    public string? QueueId
    {
        get => _queueId;
        set => _queueId = value;
    }

    public bool DataSent
    {
        get => _dataSent;
        set => _dataSent = value;
    }

    public static SentMessage Create(CrashMessageShape shape, int round, int client, int sequence, Random random, int? sizeHint = null)
    {
        var marker = $"{shape.MarkerPrefix}-r{round}-c{client}-m{sequence}-{Guid.NewGuid():N}";
        var recipients = shape.Recipients(client, random);

        // Mostly a few KB; every seventh 200 KB, so kills also land inside long transfers
        // (and long copies into a maildir's tmp/).
        var size = sizeHint ?? (sequence % 7 == 3 ? 200_000 : random.Next(shape.MinSize, shape.MaxSize));
        var text = new StringBuilder(size + 200)
            .Append("From: <").Append(Sender).Append(">\r\n")
            .Append("To: <").Append(recipients[0]).Append(">\r\n")
            .Append("Subject: ").Append(marker).Append("\r\n")
            .Append("Message-ID: <").Append(marker).Append("@crash.example>\r\n")
            .Append("\r\n")
            .Append("marker ").Append(marker).Append("\r\n");
        while (text.Length < size)
        {
            // Lines a dot-stuffing bug would mangle: ".", "..", ".x", and plain ones.
            switch (random.Next(12))
            {
                case 0:
                    text.Append('.');
                    break;
                case 1:
                    text.Append("..");
                    break;
                case 2:
                    text.Append(".x");
                    break;
            }

            var length = random.Next(0, 78);
            for (var i = 0; i < length; i++)
            {
                text.Append(Printable[random.Next(Printable.Length)]);
            }

            text.Append("\r\n");
        }

        return new SentMessage(round, marker, recipients, Encoding.ASCII.GetBytes(text.ToString()));
    }

    public string Commands()
    {
        var commands = new StringBuilder().Append("MAIL FROM:<").Append(Sender).Append(">\r\n");
        foreach (var recipient in Recipients)
        {
            commands.Append("RCPT TO:<").Append(recipient).Append(">\r\n");
        }

        return commands.Append("DATA\r\n").ToString();
    }

    /// <summary>The marker in a stored message's Subject, or null.</summary>
    public static string? MarkerOf(byte[] content)
    {
        var text = Encoding.ASCII.GetString(content, 0, Math.Min(content.Length, 1000));
        var start = text.IndexOf("\r\nSubject: ", StringComparison.Ordinal);
        if (start < 0)
        {
            return null;
        }

        start += "\r\nSubject: ".Length;
        var end = text.IndexOf("\r\n", start, StringComparison.Ordinal);
        return end < 0 ? null : text[start..end];
    }

    private static byte[] Stuff(byte[] content)
    {
        var wire = new List<byte>(content.Length + 1000);
        var lineStart = true;
        foreach (var b in content)
        {
            if (lineStart && b == (byte)'.')
            {
                wire.Add((byte)'.');
            }

            wire.Add(b);
            lineStart = b == (byte)'\n';
        }

        wire.AddRange(".\r\n"u8.ToArray());
        return [.. wire];
    }
}
