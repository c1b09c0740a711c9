using System.Text;
using System.Text.Json;
using SmtpServer.Core.Queue;
using SmtpServer.Protocol;

namespace SmtpServer.Core.Tests.Queue;

public sealed class FileQueueStoreTests : IDisposable
{
    private static readonly string[] RecordFields =
    [
        "version", "id", "messageId", "sender", "recipient", "originalRecipientType", "originalRecipient",
        "notify", "ret", "envelopeIdParameter", "body", "smtpUtf8", "size", "mailAuth", "action", "listener",
        "clientAddress", "clientHostName", "helo", "authenticatedUser", "tls", "receivedAt",
        "attempts", "lastAttempt", "nextAttempt", "lastError", "delayWarned",
    ];

    private readonly QueueFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    [Fact]
    public async Task Commit_then_Load_round_trips_every_field_including_hostile_strings()
    {
        var store = _fixture.CreateStore();
        const string hostile = "evil\r\n}\"version\": 2, {\"x\":\"\\u0000\\\r\nDATA\r\n.\r\n";
        var recipients = new[]
        {
            new RecipientEnvelope(new Mailbox("Zoë.Ñandú", "bücher.例え.jp"), new RcptParameters { Notify = DsnNotify.Success | DsnNotify.Failure, OriginalRecipientType = "utf-8", OriginalRecipient = "Zoë@bücher.example" }, "local"),
            new RecipientEnvelope(new Mailbox("\"quoted \\\"local\\\" \\\\ part\"", "[192.0.2.7]"), new RcptParameters { Notify = DsnNotify.Never }, "outbound"),
            new RecipientEnvelope(new Mailbox("\"" + hostile + "\"", "example.com"), RcptParameters.Empty, "action with } and \""),
            new RecipientEnvelope(new Mailbox("postmaster", string.Empty), RcptParameters.Empty, "local"),
        };
        var body = Encoding.UTF8.GetBytes("Received: from x\r\nSubject: ü\r\n\r\n" + new string('x', 100_000) + "\r\n");

        var spool = await store.CreateMessageAsync(CancellationToken.None);
        var envelope = new MessageEnvelope
        {
            Id = spool.Id,
            Sender = null,
            MailParameters = new MailParameters { Size = 12345, Body = BodyType.EightBitMime, SmtpUtf8 = true, Ret = DsnReturn.Headers, EnvelopeId = hostile, Auth = "<>" },
            Recipients = recipients,
            Listener = "submission",
            ClientAddress = "2001:db8::1",
            ClientHostName = hostile,
            Helo = hostile,
            AuthenticatedUser = "user\"}{",
            Tls = true,
            ReceivedAt = _fixture.Time.GetUtcNow(),
        };
        await using (spool)
        {
            await spool.Writer.WriteAsync(body.AsMemory(0, 50_000));
            await spool.Writer.FlushAsync();
            Assert.Equal(50_000, spool.Length);
            await spool.Writer.WriteAsync(body.AsMemory(50_000));
            await spool.CommitAsync(envelope, CancellationToken.None);
            Assert.Equal(body.Length, spool.Length);
        }

        var loaded = Assert.Single(_fixture.CreateStore().Load());
        Assert.Equal(spool.Id, loaded.Id);
        Assert.Equal(body, await File.ReadAllBytesAsync(loaded.MessagePath));
        Assert.Equal(body.Length, loaded.Size);
        Assert.Equal(recipients.Length, loaded.Envelopes.Count);
        for (var i = 0; i < recipients.Length; i++)
        {
            var record = loaded.Envelopes[i];
            Assert.Equal(EnvelopeRecord.Create(envelope, i), record);
            Assert.Equal(new EnvelopeId(spool.Id, i), record.Id);
            Assert.Null(record.SenderMailbox);
            Assert.Equal(recipients[i].Recipient, record.RecipientMailbox);
            Assert.Equal(recipients[i].Parameters.Notify, record.Notify);
            Assert.Equal(recipients[i].Parameters.OriginalRecipient, record.OriginalRecipient);
            Assert.Equal(recipients[i].Action, record.Action);
            Assert.Equal(hostile, record.Helo);
            Assert.Equal(hostile, record.EnvelopeIdParameter);
            Assert.Equal(0, record.Attempts);

            // The file is valid JSON, pure ASCII, with exactly the fields of the record.
            var bytes = await File.ReadAllBytesAsync(Path.Combine(Path.GetDirectoryName(loaded.MessagePath)!, record.Id + ".json"));
            Assert.All(bytes, b => Assert.True(b is < 0x80 and not (byte)'\r'));
            using var document = JsonDocument.Parse(bytes);
            Assert.Equal(RecordFields.Order(), document.RootElement.EnumerateObject().Select(p => p.Name).Order());
            Assert.Equal(JsonValueKind.Null, document.RootElement.GetProperty("sender").ValueKind);
            Assert.Equal(hostile, document.RootElement.GetProperty("helo").GetString());
        }
    }

    [Fact]
    public async Task Committed_message_lives_in_its_hashed_directory_with_one_file_per_recipient()
    {
        var store = _fixture.CreateStore();
        var id = await _fixture.CommitAsync(store, null, new Mailbox("a", "example.net"), new Mailbox("b", "example.net"));

        var bucket = (id.Value & 0xFF).ToString("x2", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(store.MessageDirectory(id), _fixture.Directory.Combine("queue", bucket, id.ToString()));
        Assert.Equal(
            [bucket, Path.Combine(bucket, $"{id}"), Path.Combine(bucket, $"{id}", $"{id}-0000.json"), Path.Combine(bucket, $"{id}", $"{id}-0001.json"), Path.Combine(bucket, $"{id}", "message")],
            _fixture.FilesUnder("queue"));
        Assert.Empty(_fixture.FilesUnder("incoming"));
        Assert.Empty(_fixture.FilesUnder("corrupt"));
    }

    [Fact]
    public async Task Dispose_without_commit_leaves_nothing()
    {
        var store = _fixture.CreateStore();
        var spool = await store.CreateMessageAsync(CancellationToken.None);
        await spool.Writer.WriteAsync(QueueFixture.Body());
        await spool.Writer.FlushAsync();
        Assert.NotEmpty(_fixture.FilesUnder("incoming"));

        await spool.DisposeAsync();
        await spool.DisposeAsync();

        Assert.Empty(_fixture.FilesUnder("incoming"));
        Assert.Empty(_fixture.FilesUnder("queue"));
        Assert.Empty(store.Load());
    }

    [Fact]
    public async Task Dispose_after_commit_keeps_the_message_and_commit_twice_throws()
    {
        var store = _fixture.CreateStore();
        var spool = await store.CreateMessageAsync(CancellationToken.None);
        var envelope = QueueFixture.Envelope(spool.Id, _fixture.Time.GetUtcNow(), new Mailbox("u", "example.net"));
        await spool.CommitAsync(envelope, CancellationToken.None);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await spool.CommitAsync(envelope, CancellationToken.None));
        await spool.DisposeAsync();

        var message = Assert.Single(store.Load());
        Assert.Equal(0, message.Size);
    }

    [Fact]
    public async Task Startup_removes_uncommitted_leftovers_and_keeps_committed_messages()
    {
        var store = _fixture.CreateStore();
        var committed = await _fixture.CommitAsync(store);

        // A "crash" mid-message: the spool is never committed nor disposed.
        var abandoned = await store.CreateMessageAsync(CancellationToken.None);
        await abandoned.Writer.WriteAsync(QueueFixture.Body());
        await abandoned.Writer.FlushAsync();
        Directory.CreateDirectory(_fixture.Directory.Combine("incoming", "0123456789abcdef"));
        await File.WriteAllTextAsync(_fixture.Directory.Combine("incoming", "0123456789abcdef", "0123456789abcdef-0000.json"), "{}");
        await File.WriteAllTextAsync(_fixture.Directory.Combine("incoming", "stray"), "x");

        var restarted = _fixture.CreateStore();

        Assert.Empty(_fixture.FilesUnder("incoming"));
        Assert.Equal(committed, Assert.Single(restarted.Load()).Id);
        Assert.True(_fixture.Logged(Microsoft.Extensions.Logging.LogLevel.Warning, 2001));
    }

    [Fact]
    public async Task Concurrent_commits_all_land()
    {
        var store = _fixture.CreateStore();
        var ids = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => Task.Run(() =>
            _fixture.CommitAsync(store, QueueFixture.Body($"Subject: {i}\r\n\r\n{i}\r\n"), new Mailbox($"u{i}", "example.net"), new Mailbox("v", "example.net")))));

        var loaded = store.Load();
        Assert.Equal(ids.Order(), loaded.Select(m => m.Id));
        Assert.All(loaded, m => Assert.Equal(2, m.Envelopes.Count));
        Assert.Empty(_fixture.FilesUnder("incoming"));
    }

    [Fact]
    public async Task Update_and_remove_envelopes()
    {
        var store = _fixture.CreateStore();
        var id = await _fixture.CommitAsync(store, null, new Mailbox("a", "example.net"), new Mailbox("b", "example.net"));
        var first = store.Load()[0].Envelopes[0];

        var updated = first with { Attempts = 1, LastAttempt = _fixture.Time.GetUtcNow(), NextAttempt = _fixture.Time.GetUtcNow().AddSeconds(400), LastError = "451 4.7.1 \"}\r\n{ try later" };
        await store.UpdateEnvelopeAsync(updated, CancellationToken.None);
        Assert.Equal(updated, store.Load()[0].Envelopes[0]);

        Assert.False(store.RemoveEnvelope(first.Id));
        Assert.Equal([new EnvelopeId(id, 1)], store.Load()[0].Envelopes.Select(e => e.Id));
        Assert.True(store.RemoveEnvelope(new EnvelopeId(id, 1)));
        Assert.Empty(store.Load());
        Assert.False(Directory.Exists(store.MessageDirectory(id)));
    }

    [Fact]
    public void HasFreeSpace_follows_the_threshold()
    {
        Assert.True(_fixture.CreateStore(minFreeSpacePercent: 0).HasFreeSpace());
        Assert.False(_fixture.CreateStore(minFreeSpacePercent: 100).HasFreeSpace());
        Assert.True(_fixture.Logged(Microsoft.Extensions.Logging.LogLevel.Warning, 2006));
    }

    [Fact]
    public void HasFreeSpace_is_cached_for_a_second()
    {
        var store = _fixture.CreateStore(minFreeSpacePercent: 100);
        Assert.False(store.HasFreeSpace());
        Assert.False(store.HasFreeSpace());
        Assert.Single(_fixture.Logger.Entries, e => e.EventId.Id == 2006);
        _fixture.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(store.HasFreeSpace());
        Assert.Equal(2, _fixture.Logger.Entries.Count(e => e.EventId.Id == 2006));
    }
}
