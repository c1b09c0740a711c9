using System.Text.Json;
using Microsoft.Extensions.Logging;
using SmtpServer.Core.Queue;
using SmtpServer.Testing;

namespace SmtpServer.Core.Tests.Queue;

/// <summary>
/// An envelope's attempt history: bounded in entries and text whatever peers answer, stored as
/// plain JSON data, and compatible both ways with records written before it existed.
/// </summary>
public sealed class AttemptHistoryTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2025, 11, 26, 8, 0, 0, TimeSpan.Zero);
    private readonly QueueFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private static AttemptRecord Attempt(int number, string? reply = "451 4.7.1 greylisted") => new()
    {
        Number = number,
        At = T0 + TimeSpan.FromMinutes(number),
        Action = "outbound",
        Result = AttemptResult.Temporary,
        Host = "mx1.example.org",
        Address = "192.0.2.1",
        Tls = "TLSv1.3",
        Reply = reply,
    };

    [Fact]
    public void Keeps_the_first_and_the_last_attempts_and_counts_the_dropped_ones()
    {
        AttemptHistory? history = null;
        for (var n = 1; n <= AttemptHistory.KeepFirst + AttemptHistory.KeepLast; n++)
        {
            history = AttemptHistory.Append(history, Attempt(n));
        }

        Assert.Equal(AttemptHistory.KeepFirst + AttemptHistory.KeepLast, history!.Attempts.Count);
        Assert.Equal(0, history.Dropped);

        for (var n = AttemptHistory.KeepFirst + AttemptHistory.KeepLast + 1; n <= 100; n++)
        {
            history = AttemptHistory.Append(history, Attempt(n));
        }

        int[] expected = [.. Enumerable.Range(1, AttemptHistory.KeepFirst), .. Enumerable.Range(101 - AttemptHistory.KeepLast, AttemptHistory.KeepLast)];
        Assert.Equal(expected, history.Attempts.Select(a => a.Number));
        Assert.Equal(100 - expected.Length, history.Dropped);
        Assert.Equal(T0 + TimeSpan.FromMinutes(100), history.Attempts[^1].At);
    }

    [Fact]
    public void A_history_longer_than_the_bounds_is_trimmed_on_the_next_attempt()
    {
        var tooLong = new AttemptHistory { Attempts = [.. Enumerable.Range(1, 60).Select(n => Attempt(n))], Dropped = 2 };

        var history = AttemptHistory.Append(tooLong, Attempt(61));

        Assert.Equal(AttemptHistory.KeepFirst + AttemptHistory.KeepLast, history.Attempts.Count);
        Assert.Equal(2 + 61 - history.Attempts.Count, history.Dropped);
        Assert.Equal(61, history.Attempts[^1].Number);
        Assert.Equal(AttemptHistory.KeepFirst, history.Attempts[AttemptHistory.KeepFirst - 1].Number);
    }

    [Fact]
    public void Remote_text_is_clipped_and_loses_its_control_characters()
    {
        var hostile = "451-4.7.1 first\r\n451 4.7.1 \u0000\u001b[31m" + new string('x', 100_000) + "\ud83d\ude00";
        var history = AttemptHistory.Append(null, Attempt(1, hostile) with { Host = new string('h', 10_000) + "\n", Address = "192.0.2.1\r\nX" });

        var attempt = Assert.Single(history.Attempts);
        Assert.Equal(AttemptRecord.MaxTextLength + "...".Length, attempt.Reply!.Length);
        Assert.StartsWith("451-4.7.1 first  451 4.7.1   [31mxxx", attempt.Reply, StringComparison.Ordinal);
        Assert.EndsWith("x...", attempt.Reply, StringComparison.Ordinal);
        Assert.Equal(AttemptRecord.MaxNameLength + "...".Length, attempt.Host!.Length);
        Assert.Equal("192.0.2.1  X", attempt.Address);
        Assert.All([attempt.Reply, attempt.Host, attempt.Address], text => Assert.DoesNotContain(text!, char.IsControl));

        // A surrogate pair cut at the limit is dropped whole, so the text still encodes.
        var emoji = AttemptHistory.Append(null, Attempt(1, new string('y', AttemptRecord.MaxTextLength - 1) + "\ud83d\ude00")).Attempts[0].Reply!;
        Assert.Equal(new string('y', AttemptRecord.MaxTextLength - 1) + "...", emoji);
    }

    [Fact]
    public async Task A_record_with_history_and_pause_round_trips_through_the_spool()
    {
        var store = _fixture.CreateStore();
        var id = await _fixture.CommitAsync(store);
        var record = Assert.Single(Assert.Single(store.Load()).Envelopes);
        Assert.Null(record.History);
        Assert.False(record.Paused);

        var history = AttemptHistory.Append(AttemptHistory.Append(null, Attempt(1, "evil\r\n}\"paused\": false, {\"x\":\"")), Attempt(2) with { Result = AttemptResult.Ok, Tls = null, Reply = "250 2.0.0 ok" });
        var updated = record with { Attempts = 2, LastAttempt = T0, History = history, Paused = true };
        await store.UpdateEnvelopeAsync(updated, CancellationToken.None);

        var loaded = Assert.Single(Assert.Single(_fixture.CreateStore().Load()).Envelopes);
        Assert.Equal(updated, loaded);
        Assert.Equal(history, loaded.History);
        Assert.True(loaded.Paused);
        Assert.Equal(updated, Assert.Single(QueueReader.ReadMessage(_fixture.Directory.Path, id)!.Envelopes));

        // Plain data: ASCII, the remote text a string, the result a name.
        var bytes = await File.ReadAllBytesAsync(Path.Combine(store.MessageDirectory(id), $"{id}-0000.json"));
        Assert.All(bytes, b => Assert.True(b < 0x80));
        using var document = JsonDocument.Parse(bytes);
        Assert.True(document.RootElement.GetProperty("paused").GetBoolean());
        var first = document.RootElement.GetProperty("history").GetProperty("attempts")[0];
        Assert.Equal("Temporary", first.GetProperty("result").GetString());
        Assert.Equal("evil  }\"paused\": false, {\"x\":\"", first.GetProperty("reply").GetString());
        Assert.Equal(0, document.RootElement.GetProperty("history").GetProperty("dropped").GetInt32());
    }

    [Fact]
    public async Task A_record_written_before_histories_and_pauses_loads_as_none()
    {
        var store = _fixture.CreateStore();
        var id = await _fixture.CommitAsync(store);
        var path = Path.Combine(store.MessageDirectory(id), $"{id}-0000.json");

        // Exactly what the version before wrote after three failed attempts.
        await File.WriteAllTextAsync(path, $$"""
            {
              "version": 1,
              "id": "{{id}}-0000",
              "messageId": "{{id}}",
              "sender": { "localPart": "sender", "domain": "example.org" },
              "recipient": { "localPart": "user", "domain": "example.net" },
              "originalRecipientType": null,
              "originalRecipient": null,
              "notify": "None",
              "ret": "Unspecified",
              "envelopeIdParameter": null,
              "body": "SevenBit",
              "smtpUtf8": false,
              "size": null,
              "mailAuth": null,
              "action": "local",
              "listener": "mx",
              "clientAddress": "192.0.2.1",
              "clientHostName": null,
              "helo": "client.example.org",
              "authenticatedUser": null,
              "tls": false,
              "receivedAt": "2025-11-26T08:00:00+00:00",
              "attempts": 3,
              "lastAttempt": "2025-11-26T08:01:30+00:00",
              "nextAttempt": "2025-11-26T08:02:40+00:00",
              "lastError": "maildir: No space left on device",
              "delayWarned": null
            }
            """);

        var record = Assert.Single(Assert.Single(store.Load()).Envelopes);
        Assert.Equal(3, record.Attempts);
        Assert.Null(record.History);
        Assert.False(record.Paused);
        Assert.Empty(_fixture.FilesUnder("corrupt"));

        // The next attempt starts its history at its own number.
        var history = AttemptHistory.Append(record.History, Attempt(record.Attempts + 1));
        Assert.Equal(4, Assert.Single(history.Attempts).Number);
    }

    public static TheoryData<string> BadHistories => new()
    {
        """{ "attempts": [], "dropped": -1 }""",
        """{ "attempts": [null], "dropped": 0 }""",
        """{ "attempts": [{ "number": 0, "at": "2025-11-26T08:00:00+00:00", "action": "a", "result": "Ok" }], "dropped": 0 }""",
        """{ "attempts": [{ "number": 1, "at": "2025-11-26T08:00:00+00:00", "action": "a", "result": 7 }], "dropped": 0 }""",
        """{ "attempts": [{ "number": 1, "at": "2025-11-26T08:00:00+00:00", "action": "a", "result": "Maybe" }], "dropped": 0 }""",
        """{ "attempts": [{ "number": 1, "at": "2025-11-26T08:00:00+00:00", "result": "Ok" }], "dropped": 0 }""",
        """{ "attempts": [], "dropped": 0, "command": "rm -rf /" }""",
        """[]""",
    };

    [Theory]
    [MemberData(nameof(BadHistories))]
    public async Task A_bad_history_sends_the_envelope_to_corrupt_and_the_rest_loads(string history)
    {
        var store = _fixture.CreateStore();
        var good = await _fixture.CommitAsync(store);
        var victim = await _fixture.CommitAsync(store);
        var path = Path.Combine(store.MessageDirectory(victim), $"{victim}-0000.json");
        var json = await File.ReadAllTextAsync(path);
        await File.WriteAllTextAsync(path, json.Replace("\"attempts\": 0,", "\"attempts\": 1, \"history\": " + history + ",", StringComparison.Ordinal));

        Assert.Equal(good, Assert.Single(store.Load()).Id);
        Assert.Contains($"{victim}-{victim}-0000.json", _fixture.FilesUnder("corrupt"));
        Assert.True(_fixture.Logged(LogLevel.Error, 2004));
    }

    [Fact]
    public async Task Side_pauses_are_saved_durably_and_read_back_at_start()
    {
        var store = _fixture.CreateStore();
        Assert.Equal(SidePauses.None, store.LoadSidePauses());

        await store.SaveSidePausesAsync(new SidePauses(Smtp: true, Mda: false, Mta: true), CancellationToken.None);
        await store.SaveSidePausesAsync(new SidePauses(Smtp: true, Mda: true, Mta: true), CancellationToken.None);
        await store.SaveSidePausesAsync(new SidePauses(Smtp: false, Mda: true, Mta: true), CancellationToken.None);

        Assert.Equal(new SidePauses(false, true, true), _fixture.CreateStore().LoadSidePauses());
        Assert.Equal([FileQueueStore.PausesFileName], Directory.GetFiles(_fixture.Directory.Path).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_failed_save_keeps_the_previous_side_pauses_and_leaves_no_temporary_file()
    {
        var store = _fixture.CreateStore();
        await store.SaveSidePausesAsync(new SidePauses(true, false, false), CancellationToken.None);
        var failing = _fixture.CreateStore(new FaultInjectingQueueFileSystem { FlushToDiskBudget = 0 });

        await Assert.ThrowsAsync<IOException>(async () => await failing.SaveSidePausesAsync(new SidePauses(false, true, true), CancellationToken.None));

        Assert.Equal(new SidePauses(true, false, false), _fixture.CreateStore().LoadSidePauses());
        Assert.Equal([FileQueueStore.PausesFileName], Directory.GetFiles(_fixture.Directory.Path).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData("{ \"smtp\": true, ")]
    [InlineData("{ \"smtp\": true, \"mda\": true }")]
    [InlineData("{ \"smtp\": true, \"mda\": true, \"mta\": \"yes\" }")]
    [InlineData("null")]
    public async Task An_unreadable_pause_file_goes_to_corrupt_and_nothing_is_paused(string contents)
    {
        var store = _fixture.CreateStore();
        await File.WriteAllTextAsync(_fixture.Directory.Combine(FileQueueStore.PausesFileName), contents);
        await File.WriteAllTextAsync(_fixture.Directory.Combine(FileQueueStore.PausesFileName + ".tmp"), "{ \"smtp\": tr");

        Assert.Equal(SidePauses.None, _fixture.CreateStore().LoadSidePauses());
        Assert.Equal([FileQueueStore.PausesFileName], _fixture.FilesUnder("corrupt"));
        Assert.Empty(Directory.GetFiles(_fixture.Directory.Path));
        Assert.True(_fixture.Logged(LogLevel.Error, 2004));
        Assert.True(_fixture.Logged(LogLevel.Warning, 2009));
    }
}
