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
    private const string Sender = SentMessage.Sender;

    /// <summary>Each client to mailboxes of its own at localhost; the 250 must say the message was accepted.</summary>
    private static readonly CrashMessageShape Shape = new(
        "crash", (client, random) => [.. Enumerable.Range(0, 1 + random.Next(3)).Select(i => $"user{client}.{i}@localhost")], 1_000, 8_000, "Message accepted");

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
            var traffic = new CrashTraffic(smtpd.EndPoint, round, sent, Shape);
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
            var message = SentMessage.Create(Shape, Rounds, 0, 0, new Random(seed), sizeHint: 2000);
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
}
