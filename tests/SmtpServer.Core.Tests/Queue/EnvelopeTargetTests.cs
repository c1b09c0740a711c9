using System.Text.Json;
using System.Text.Json.Nodes;
using SmtpServer.Core.Queue;
using SmtpServer.Protocol;

namespace SmtpServer.Core.Tests.Queue;

/// <summary>
/// An alias's file or command target is part of the envelope on disk: after a restart the
/// delivery does what the expansion decided. Envelopes without one are written as before.
/// </summary>
public sealed class EnvelopeTargetTests : IDisposable
{
    private readonly QueueFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private static readonly DeliveryTarget File = DeliveryTarget.File("/srv/mail/list.mbox");

    // Arguments a shell would act on, and JSON-significant characters: they stay data.
    private static readonly DeliveryTarget Command = DeliveryTarget.Command(["/usr/local/bin/handler", "an arg", "x\"y", "$(touch /tmp/pwned)", "}\",\"version\":2,{", "ünï"]);

    private async Task<(QueueId Id, string Directory)> CommitAsync()
    {
        var store = _fixture.CreateStore();
        var spool = await store.CreateMessageAsync(CancellationToken.None);
        await using (spool)
        {
            await spool.Writer.WriteAsync(QueueFixture.Body());
            var envelope = QueueFixture.Envelope(spool.Id, _fixture.Time.GetUtcNow()) with
            {
                Recipients =
                [
                    new RecipientEnvelope(new Mailbox("list", "example.org"), RcptParameters.Empty, "local", File),
                    new RecipientEnvelope(new Mailbox("list", "example.org"), RcptParameters.Empty, "local", Command),
                    new RecipientEnvelope(new Mailbox("alice", "example.org"), RcptParameters.Empty, "local"),
                ],
            };
            await spool.CommitAsync(envelope, CancellationToken.None);
            return (spool.Id, store.MessageDirectory(spool.Id));
        }
    }

    [Fact]
    public async Task File_and_command_targets_survive_a_restart_through_the_file_queue_store()
    {
        var (id, directory) = await CommitAsync();

        // A new store, as at start-up, reads what the old one wrote.
        var loaded = Assert.Single(_fixture.CreateStore().Load());
        Assert.Equal(id, loaded.Id);
        Assert.Equal([File, Command, null], loaded.Envelopes.Select(e => e.Target));
        Assert.Empty(_fixture.FilesUnder("corrupt"));

        var command = JsonNode.Parse(await System.IO.File.ReadAllTextAsync(Path.Combine(directory, $"{id}-0001.json")))!["target"]!;
        Assert.Equal("Command", command["kind"]!.GetValue<string>());
        Assert.Equal("/usr/local/bin/handler", command["path"]!.GetValue<string>());
        Assert.Equal(Command.Arguments, command["arguments"]!.AsArray().Select(a => a!.GetValue<string>()));

        // An envelope without a target is written exactly as before targets existed.
        using var plain = JsonDocument.Parse(await System.IO.File.ReadAllBytesAsync(Path.Combine(directory, $"{id}-0002.json")));
        Assert.False(plain.RootElement.TryGetProperty("target", out _));
    }

    [Fact]
    public async Task An_envelope_written_before_targets_existed_reads_without_one()
    {
        var (id, directory) = await CommitAsync();
        var path = Path.Combine(directory, $"{id}-0000.json");
        var old = JsonNode.Parse(await System.IO.File.ReadAllTextAsync(path))!.AsObject();
        old.Remove("target");
        await System.IO.File.WriteAllTextAsync(path, old.ToJsonString());

        var loaded = Assert.Single(_fixture.CreateStore().Load());
        Assert.Equal(3, loaded.Envelopes.Count);
        Assert.Null(loaded.Envelopes[0].Target);
        Assert.Empty(_fixture.FilesUnder("corrupt"));
    }

    [Theory]
    [InlineData("""{ "kind": "Command", "path": "bin/sh", "arguments": [] }""")]
    [InlineData("""{ "kind": "File", "path": "/srv/../etc/passwd", "arguments": [] }""")]
    [InlineData("""{ "kind": "File", "path": "/srv/x", "arguments": ["-c"] }""")]
    [InlineData("""{ "kind": "Shell", "path": "/bin/sh", "arguments": [] }""")]
    [InlineData("""{ "kind": "Command", "path": "/bin/sh" }""")]
    [InlineData("""{ "kind": "Command", "path": "/bin/sh", "arguments": null }""")]
    [InlineData("""{ "kind": "Command", "path": "/bin/sh", "arguments": [], "shell": true }""")]
    public async Task A_target_that_is_not_valid_moves_its_envelope_to_corrupt(string target)
    {
        var (id, directory) = await CommitAsync();
        var path = Path.Combine(directory, $"{id}-0001.json");
        var record = JsonNode.Parse(await System.IO.File.ReadAllTextAsync(path))!.AsObject();
        record["target"] = JsonNode.Parse(target);
        await System.IO.File.WriteAllTextAsync(path, record.ToJsonString());

        var loaded = Assert.Single(_fixture.CreateStore().Load());
        Assert.Equal([File, null], loaded.Envelopes.Select(e => e.Target));
        Assert.Single(_fixture.FilesUnder("corrupt"), f => f.EndsWith($"{id}-0001.json", StringComparison.Ordinal));
    }
}
