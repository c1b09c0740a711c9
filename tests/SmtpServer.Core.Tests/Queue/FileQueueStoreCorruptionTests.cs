using Microsoft.Extensions.Logging;
using SmtpServer.Core.Queue;
using SmtpServer.Protocol;

namespace SmtpServer.Core.Tests.Queue;

/// <summary>Unreadable queue entries go to corrupt/ with a log line; loading carries on.</summary>
public sealed class FileQueueStoreCorruptionTests : IDisposable
{
    private readonly QueueFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    public static TheoryData<string> Corruptions => new()
    {
        "truncated", "garbage", "empty", "null", "wrong-version", "unknown-field", "missing-field",
        "null-recipient", "numeric-enum-out-of-range", "id-mismatch", "other-message", "unexpected-file",
    };

    [Theory]
    [MemberData(nameof(Corruptions))]
    public async Task A_corrupt_envelope_is_moved_aside_and_the_rest_loads(string corruption)
    {
        var store = _fixture.CreateStore();
        var good = await _fixture.CommitAsync(store);
        var victim = await _fixture.CommitAsync(store, null, new Mailbox("a", "example.net"), new Mailbox("b", "example.net"));
        var directory = store.MessageDirectory(victim);
        var path = Path.Combine(directory, $"{victim}-0001.json");
        var json = await File.ReadAllTextAsync(path);
        switch (corruption)
        {
            case "truncated": await File.WriteAllTextAsync(path, json[..(json.Length / 2)]); break;
            case "garbage": await File.WriteAllBytesAsync(path, [0xff, 0x00, 0x7b, 0x22, 0x0a]); break;
            case "empty": await File.WriteAllTextAsync(path, string.Empty); break;
            case "null": await File.WriteAllTextAsync(path, "null"); break;
            case "wrong-version": await File.WriteAllTextAsync(path, json.Replace("\"version\": 1", "\"version\": 2", StringComparison.Ordinal)); break;
            case "unknown-field": await File.WriteAllTextAsync(path, json.Replace("{", "{\"command\": \"rm -rf /\",", StringComparison.Ordinal)); break;
            case "missing-field": await File.WriteAllTextAsync(path, json.Replace("\"action\": \"local\",", string.Empty, StringComparison.Ordinal)); break;
            case "null-recipient": await File.WriteAllTextAsync(path, ReplaceRecipient(json, "null")); break;
            case "numeric-enum-out-of-range": await File.WriteAllTextAsync(path, json.Replace("\"body\": \"SevenBit\"", "\"body\": 42", StringComparison.Ordinal)); break;
            case "id-mismatch":
                File.Move(path, Path.Combine(directory, $"{victim}-0002.json"));
                path = Path.Combine(directory, $"{victim}-0002.json");
                break;
            case "other-message": await File.WriteAllTextAsync(path, json.Replace(victim.ToString(), good.ToString(), StringComparison.Ordinal)); break;
            default:
                path = Path.Combine(directory, "notes.txt");
                await File.WriteAllTextAsync(path, "hello");
                break;
        }

        var loaded = _fixture.CreateStore().Load();

        Assert.Equal([good, victim], loaded.Select(m => m.Id));
        EnvelopeId[] expected = corruption == "unexpected-file" ? [new(victim, 0), new(victim, 1)] : [new(victim, 0)];
        Assert.Equal(expected, loaded[1].Envelopes.Select(e => e.Id));
        Assert.False(File.Exists(path));
        Assert.Equal([$"{victim}-{Path.GetFileName(path)}"], _fixture.FilesUnder("corrupt"));
        Assert.True(_fixture.Logged(LogLevel.Error, 2004));
    }

    [Fact]
    public async Task A_message_whose_only_envelope_is_corrupt_goes_to_corrupt_whole()
    {
        var store = _fixture.CreateStore();
        var victim = await _fixture.CommitAsync(store);
        await File.WriteAllTextAsync(Path.Combine(store.MessageDirectory(victim), $"{victim}-0000.json"), "{");

        Assert.Empty(store.Load());
        Assert.Equal(new[] { $"{victim}", Path.Combine($"{victim}", "message"), $"{victim}-{victim}-0000.json" }.Order(StringComparer.Ordinal), _fixture.FilesUnder("corrupt"));
    }

    [Fact]
    public async Task A_message_directory_without_message_file_goes_to_corrupt()
    {
        var store = _fixture.CreateStore();
        var good = await _fixture.CommitAsync(store);
        var victim = await _fixture.CommitAsync(store);
        File.Delete(Path.Combine(store.MessageDirectory(victim), "message"));

        Assert.Equal(good, Assert.Single(store.Load()).Id);
        Assert.Equal([$"{victim}", Path.Combine($"{victim}", $"{victim}-0000.json")], _fixture.FilesUnder("corrupt"));
    }

    [Fact]
    public async Task Unexpected_names_in_the_queue_go_to_corrupt_and_names_never_collide()
    {
        var store = _fixture.CreateStore();
        var good = await _fixture.CommitAsync(store);
        Directory.CreateDirectory(_fixture.Directory.Combine("queue", "zz"));
        await File.WriteAllTextAsync(_fixture.Directory.Combine("queue", "README"), "x");
        var otherBucket = ((good.Value & 0xFF) ^ 1).ToString("x2", System.Globalization.CultureInfo.InvariantCulture);
        Directory.CreateDirectory(_fixture.Directory.Combine("queue", otherBucket, good.ToString()));
        Directory.CreateDirectory(_fixture.Directory.Combine("queue", otherBucket, "not-an-id"));
        Directory.CreateDirectory(_fixture.Directory.Combine("corrupt", "zz"));

        Assert.Equal(good, Assert.Single(store.Load()).Id);
        Assert.Equal(new[] { "README", good.ToString(), "not-an-id", "zz", "zz.1" }.Order(StringComparer.Ordinal), _fixture.FilesUnder("corrupt"));
    }

    [Fact]
    public async Task A_message_without_envelopes_was_fully_delivered_and_is_removed()
    {
        var store = _fixture.CreateStore();
        var done = await _fixture.CommitAsync(store);
        File.Delete(Path.Combine(store.MessageDirectory(done), $"{done}-0000.json"));
        await File.WriteAllTextAsync(Path.Combine(store.MessageDirectory(done), $"{done}-0000.json.tmp"), "{ half");

        Assert.Empty(store.Load());
        Assert.False(Directory.Exists(store.MessageDirectory(done)));
        Assert.Empty(_fixture.FilesUnder("corrupt"));
        Assert.True(_fixture.Logged(LogLevel.Information, 2005));
    }

    private static string ReplaceRecipient(string json, string replacement)
    {
        var start = json.IndexOf("\"recipient\": {", StringComparison.Ordinal) + "\"recipient\": ".Length;
        var end = json.IndexOf('}', start) + 1;
        return json[..start] + replacement + json[end..];
    }
}
