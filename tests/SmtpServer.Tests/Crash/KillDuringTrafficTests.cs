using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using SmtpServer.Core.Queue;
using SmtpServer.Testing;
using SmtpServer.Tests.Infrastructure;
using Xunit.Abstractions;

namespace SmtpServer.Tests.Crash;

/// <summary>
/// The durability contract (DESIGN.md decision 1) against the real process: SIGKILL while
/// clients are mid-send must lose no message that got a 250, and must leave nothing in the queue
/// that is not a complete copy of a message a client sent. (A process kill, not a power cut: the
/// page cache survives, so this proves the commit's ordering and atomicity, not the fsyncs.)
/// </summary>
public sealed class KillDuringTrafficTests(ITestOutputHelper output)
{
    private const int Clients = 8;
    private const int Rounds = 3;
    private const string Sender = "crash-sender@example.com";

    [Fact]
    public async Task Crash_SIGKILL_mid_traffic_loses_no_accepted_message_and_leaves_only_complete_ones()
    {
        var total = Stopwatch.StartNew();
        var seed = Environment.TickCount;
        output.WriteLine($"seed {seed}");
        var random = new Random(seed);
        var sent = new ConcurrentDictionary<string, SentMessage>(StringComparer.Ordinal);

        await using var smtpd = await SmtpdProcess.StartAsync(output);
        for (var round = 0; round < Rounds; round++)
        {
            if (round > 0)
            {
                await smtpd.RestartAsync();
            }

            // 300-1500 ms, a different stretch each round.
            var delay = TimeSpan.FromMilliseconds(300 + (round * 400) + random.Next(400));
            var traffic = new Traffic(smtpd.EndPoint, round, sent);
            var clients = Enumerable.Range(0, Clients).Select(traffic.RunClientAsync).ToArray();

            // The delay counts from the first 250: a cold process takes a while for its first commit.
            var flowing = await Task.WhenAny(traffic.FirstAccepted.Task, Task.Delay(TimeSpan.FromSeconds(10))) == traffic.FirstAccepted.Task;
            Assert.True(flowing, $"round {round}: no message accepted within 10 s:\n{string.Join("\n", traffic.Anomalies)}\nsmtpd:\n{smtpd.OutputTail()}");
            await Task.Delay(delay);

            traffic.KillIssued = true;
            await smtpd.KillAsync();
            await traffic.StopAsync(clients);

            var ofRound = sent.Values.Where(m => m.Round == round).ToList();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"round {round}: killed {delay.TotalMilliseconds} ms after the first 250; {ofRound.Count} messages started, {ofRound.Count(m => m.QueueId is not null)} accepted, {ofRound.Count(m => m.DataSent && m.QueueId is null)} cut off after DATA"));
            Assert.True(traffic.Anomalies.IsEmpty, $"round {round}: the server misbehaved before the kill:\n{string.Join("\n", traffic.Anomalies)}\nsmtpd:\n{smtpd.OutputTail()}");
            Assert.True(ofRound.Any(m => m.QueueId is not null), $"round {round}: no message was accepted before the kill; the round proves nothing.\nsmtpd:\n{smtpd.OutputTail()}");

            VerifySpool(smtpd, sent, $"after the kill in round {round}");
        }

        // The spool a SIGKILL left behind must not stop the server: it starts and takes mail.
        await smtpd.RestartAsync();
        string marker;
        await using (var client = await smtpd.ConnectAsync())
        {
            Assert.Equal(220, (await client.ReadReplyAsync()).Code);
            Assert.Equal(250, (await client.CommandAsync("EHLO after.crash.example")).Code);
            var message = SentMessage.Create(Rounds, 0, 0, new Random(seed), sizeHint: 2000);
            marker = message.Marker;
            sent[marker] = message;
            await client.SendAsync(message.Commands());
            Assert.Equal(250, (await client.ReadReplyAsync()).Code);
            for (var i = 0; i < message.Recipients.Length; i++)
            {
                Assert.Equal(250, (await client.ReadReplyAsync()).Code);
            }

            Assert.Equal(354, (await client.ReadReplyAsync()).Code);
            await client.SendAsync(message.Wire);
            var reply = await client.ReadReplyAsync();
            Assert.True(reply.Code == 250, $"after the restart: {reply}");
            message.QueueId = reply.Lines[0].Split(' ')[2];
            Assert.Equal(221, (await client.CommandAsync("QUIT")).Code);
        }

        await smtpd.KillAsync();
        VerifySpool(smtpd, sent, "after the restart");
        total.Stop();
        output.WriteLine($"total {total.Elapsed.TotalSeconds:F1} s");
        Assert.True(total.Elapsed < TimeSpan.FromSeconds(60), $"the crash test took {total.Elapsed}");
    }

    /// <summary>
    /// Every message that got a 250 is in the queue; everything in the queue is complete: the
    /// exact bytes a client sent after our Received header, and one envelope per recipient.
    /// </summary>
    private void VerifySpool(SmtpdProcess smtpd, ConcurrentDictionary<string, SentMessage> sent, string when)
    {
        var queue = smtpd.LoadQueue();
        var failures = new List<string>();
        Assert.True(smtpd.CorruptEntries().Count == 0, $"{when}: Load moved entries to corrupt/: {string.Join(", ", smtpd.CorruptEntries())}");
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(smtpd.QueuePath, "incoming")));

        var byId = new Dictionary<string, StoredMessage>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var unacknowledged = 0;
        foreach (var stored in queue)
        {
            var id = stored.Id.ToString();
            byId[id] = stored;
            var message = SpoolMessage.Read(stored.MessagePath);
            if (!message.Received.Contains($" id {id}\r\n", StringComparison.Ordinal))
            {
                failures.Add($"{id}: Received header does not name the queue id: {message.Received}");
            }

            var marker = SentMessage.MarkerOf(message.Content);
            if (marker is null || !sent.TryGetValue(marker, out var original))
            {
                failures.Add($"{id}: not a message any client sent (marker {marker ?? "none"}, {message.Content.Length} bytes)");
                continue;
            }

            if (!seen.Add(marker))
            {
                failures.Add($"{id}: {marker} is in the queue twice");
            }

            if (!message.Content.AsSpan().SequenceEqual(original.Content))
            {
                var common = message.Content.AsSpan().CommonPrefixLength(original.Content);
                failures.Add($"{id}: {marker} differs from what was sent: {message.Content.Length} bytes stored, {original.Content.Length} sent, first difference at {common}");
            }

            if (original.QueueId is null)
            {
                // The kill fell between the commit and the client reading its 250: allowed.
                unacknowledged++;
            }
            else if (original.QueueId != id)
            {
                failures.Add($"{id}: {marker} was acknowledged as {original.QueueId}");
            }

            var recipients = stored.Envelopes.Select(e => e.RecipientMailbox.Address).ToArray();
            if (!recipients.SequenceEqual(original.Recipients))
            {
                failures.Add($"{id}: envelopes for [{string.Join(", ", recipients)}], sent to [{string.Join(", ", original.Recipients)}]");
            }

            foreach (var envelope in stored.Envelopes)
            {
                if (envelope.MessageId != stored.Id || envelope.SenderMailbox?.Address != Sender || envelope.Attempts < 0)
                {
                    failures.Add($"{id}: envelope {envelope.Id} incomplete: message {envelope.MessageId}, sender {envelope.SenderMailbox}");
                }
            }
        }

        var accepted = sent.Values.Where(m => m.QueueId is not null).ToList();
        foreach (var lost in accepted.Where(m => !byId.ContainsKey(m.QueueId!)))
        {
            failures.Add($"LOST: {lost.Marker} got 250 as {lost.QueueId} but is not in the queue");
        }

        output.WriteLine($"{when}: {queue.Count} messages in the queue, {accepted.Count} acknowledged so far, {unacknowledged} committed without the client seeing the 250");
        Assert.True(failures.Count == 0, $"{when}:\n{string.Join("\n", failures.Take(50))}\nsmtpd:\n{smtpd.OutputTail()}");
    }

    /// <summary>One round of concurrent raw-socket clients, each sending pipelined transactions in a loop.</summary>
    private sealed class Traffic(IPEndPoint endPoint, int round, ConcurrentDictionary<string, SentMessage> sent)
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
                        var message = SentMessage.Create(round, client, sequence++, random);
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
                        if (words.Length < 4 || words[1] != "2.0.0" || !QueueId.TryParse(words[2], out _) || !reply.Lines[0].Contains("Message accepted", StringComparison.Ordinal))
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

    private sealed class UnexpectedReplyException(string message) : Exception(message);

    /// <summary>A message as one client sent it; <see cref="QueueId"/> is set when its 250 arrived.</summary>
    private sealed class SentMessage
    {
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

        /// <summary>The message as the server must store it (after our Received header).</summary>
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

        public static SentMessage Create(int round, int client, int sequence, Random random, int? sizeHint = null)
        {
            var marker = $"crash-r{round}-c{client}-m{sequence}-{Guid.NewGuid():N}";
            var recipients = Enumerable.Range(0, 1 + random.Next(3)).Select(i => $"user{client}.{i}@localhost").ToArray();

            // Mostly a few KB; every seventh 200 KB, so kills also land inside long transfers.
            var size = sizeHint ?? (sequence % 7 == 3 ? 200_000 : random.Next(1_000, 8_000));
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
}
