using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging.Abstractions;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;
using SmtpServer.Testing;

namespace SmtpServer.Delivery.Tests;

public sealed partial class MaildirAgentTests : IDisposable
{
    private readonly TempDirectory _dir = new("maildir-test");

    public void Dispose() => _dir.Dispose();

    private MaildirAgent Agent(string template = "mail/{user}/Maildir") =>
        new("local", new MaildirAgentOptions(_dir.Combine(template)), TimeProvider.System, NullLogger<MaildirAgent>.Instance);

    [GeneratedRegex(@"^\d+\.M\d+P\d+Q\d+\.[^/:]+,S=(\d+)$")]
    private static partial Regex UniqueName();

    [Fact]
    public async Task Delivers_to_new_with_trace_headers_and_otherwise_exact_bytes()
    {
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var agent = Agent();

        var results = await agent.DeliverAsync(TestMessages.Request(message, "Alice@Example.org"), default);

        var result = Assert.Single(results);
        Assert.Equal(DeliveryStatus.Delivered, result.Status);
        var maildir = _dir.Combine("mail", "alice", "Maildir");
        Assert.Equal(maildir, result.Destination);
        var file = Assert.Single(Directory.GetFiles(Path.Combine(maildir, "new")));
        var expected = TestMessages.TraceHeaders("sender@example.net", "Alice@Example.org") + TestMessages.Simple;
        Assert.Equal(Encoding.UTF8.GetBytes(expected), File.ReadAllBytes(file));
        Assert.Empty(Directory.GetFiles(Path.Combine(maildir, "tmp")));
        Assert.True(Directory.Exists(Path.Combine(maildir, "cur")));

        var match = UniqueName().Match(Path.GetFileName(file));
        Assert.True(match.Success, Path.GetFileName(file));
        Assert.Equal(new FileInfo(file).Length.ToString(System.Globalization.CultureInfo.InvariantCulture), match.Groups[1].Value);

        foreach (var sub in new[] { maildir, Path.Combine(maildir, "tmp"), Path.Combine(maildir, "new"), Path.Combine(maildir, "cur") })
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(sub));
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.Equal(maildir, agent.DestinationOf(TestMessages.Envelope(QueueId.New(TimeProvider.System), "ALICE+x@example.org")));
        Assert.True(agent.IsLocal);
    }

    [Fact]
    public async Task Null_sender_gives_an_empty_return_path()
    {
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var id = QueueId.New(TimeProvider.System);

        var results = await Agent().DeliverAsync(TestMessages.Request(message, TestMessages.Envelope(id, "bob@example.org", sender: null)), default);

        Assert.Equal(DeliveryStatus.Delivered, Assert.Single(results).Status);
        var file = Assert.Single(Directory.GetFiles(_dir.Combine("mail", "bob", "Maildir", "new")));
        Assert.StartsWith("Return-Path: <>\r\nDelivered-To: bob@example.org\r\nReceived: ", File.ReadAllText(file), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Subaddress_goes_to_an_existing_folder_and_otherwise_to_inbox()
    {
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var maildir = _dir.Combine("mail", "alice", "Maildir");
        Directory.CreateDirectory(Path.Combine(maildir, ".lists"));

        var results = await Agent().DeliverAsync(TestMessages.Request(message, "alice+lists@example.org", "alice+nofolder@example.org", "alice+Lists@example.org"), default);

        Assert.All(results, r => Assert.Equal(DeliveryStatus.Delivered, r.Status));
        Assert.Equal(2, Directory.GetFiles(Path.Combine(maildir, ".lists", "new")).Length);
        var inbox = Assert.Single(Directory.GetFiles(Path.Combine(maildir, "new")));
        Assert.Contains("Delivered-To: alice+nofolder@example.org\r\n", File.ReadAllText(inbox), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../../etc")]
    [InlineData("..")]
    [InlineData("a/b")]
    [InlineData("a/../../outside")]
    [InlineData("a\0b")]
    [InlineData("a\nb")]
    [InlineData(".hidden")]
    [InlineData("\"quoted name\"")]
    [InlineData("a\\b")]
    public async Task Unsafe_local_parts_fail_permanently_without_touching_the_file_system(string localPart)
    {
        var message = TestMessages.Write(_dir, TestMessages.Simple, "message.eml");
        var outside = _dir.Combine("outside");
        Directory.CreateDirectory(outside);
        var id = QueueId.New(TimeProvider.System);
        var envelope = TestMessages.Envelope(id, new AddressRecord(localPart, "example.org"), TestMessages.Address("s@example.net"));

        var results = await Agent().DeliverAsync(TestMessages.Request(message, envelope), default);

        var result = Assert.Single(results);
        Assert.Equal(DeliveryStatus.PermanentFailure, result.Status);
        Assert.Equal("5.1.3", result.EnhancedStatus);
        Assert.Equal(["message.eml", "outside"], Directory.GetFileSystemEntries(_dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Empty(Directory.GetFileSystemEntries(outside));
    }

    [Theory]
    [InlineData("mail/{domain}/{user}", "alice", "../outside")]
    [InlineData("mail/{domain}/{user}", "alice", "a/b")]
    [InlineData("mail/{rcpt}", "../x", "example.org")]
    public async Task Unsafe_domains_and_addresses_fail_permanently(string template, string localPart, string domain)
    {
        var message = TestMessages.Write(_dir, TestMessages.Simple, "message.eml");
        var id = QueueId.New(TimeProvider.System);
        var envelope = TestMessages.Envelope(id, new AddressRecord(localPart, domain), null);

        var result = Assert.Single(await Agent(template).DeliverAsync(TestMessages.Request(message, envelope), default));

        Assert.Equal(DeliveryStatus.PermanentFailure, result.Status);
        Assert.Equal("5.1.3", result.EnhancedStatus);
        Assert.Equal(["message.eml"], Directory.GetFileSystemEntries(_dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Domain_and_rcpt_placeholders_expand_lower_cased()
    {
        var message = TestMessages.Write(_dir, TestMessages.Simple);

        var result = Assert.Single(await Agent("mail/{domain}/{rcpt}").DeliverAsync(TestMessages.Request(message, "Carol+Tag@Example.ORG"), default));

        Assert.Equal(DeliveryStatus.Delivered, result.Status);
        Assert.Single(Directory.GetFiles(_dir.Combine("mail", "example.org", "carol+tag@example.org", "new")));
    }

    [Fact]
    public async Task Delivered_to_the_same_recipient_is_a_loop_but_only_in_the_header_section()
    {
        var looped = TestMessages.Write(
            _dir,
            "Received: by a\r\nDELIVERED-TO:\r\n <Alice@EXAMPLE.org>\r\nSubject: x\r\n\r\nbody\r\n");
        var bodyOnly = TestMessages.Write(
            _dir,
            "Received: by a\r\nDelivered-To: bob@example.org\r\nSubject: x\r\n\r\nDelivered-To: alice@example.org\r\n");

        var results = await Agent().DeliverAsync(TestMessages.Request(looped, "alice@example.org", "carol@example.org"), default);
        var second = Assert.Single(await Agent().DeliverAsync(TestMessages.Request(bodyOnly, "alice@example.org"), default));

        Assert.Equal(DeliveryStatus.PermanentFailure, results[0].Status);
        Assert.Equal("5.4.6", results[0].EnhancedStatus);
        Assert.Equal("mail loop: already delivered to alice@example.org", results[0].Diagnostic);
        Assert.Equal(DeliveryStatus.Delivered, results[1].Status);
        Assert.Equal(DeliveryStatus.Delivered, second.Status);
        Assert.Single(Directory.GetFiles(_dir.Combine("mail", "alice", "Maildir", "new")));
    }

    [Fact]
    public async Task Concurrent_deliveries_get_unique_names()
    {
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var agent = Agent();

        var all = await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Task.Run(async () => await agent.DeliverAsync(TestMessages.Request(message, "alice@example.org"), default))));

        Assert.All(all.SelectMany(r => r), r => Assert.Equal(DeliveryStatus.Delivered, r.Status));
        var files = Directory.GetFiles(_dir.Combine("mail", "alice", "Maildir", "new"));
        Assert.Equal(64, files.Length);
        Assert.Equal(64, files.Select(Path.GetFileName).Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public async Task An_io_error_is_a_temporary_failure_per_recipient()
    {
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        Directory.CreateDirectory(_dir.Combine("mail"));

        // The user's directory is a file: creating the maildir fails as on a broken file system.
        File.WriteAllText(_dir.Combine("mail", "alice"), "not a directory");

        var results = await Agent().DeliverAsync(TestMessages.Request(message, "alice@example.org", "bob@example.org"), default);

        Assert.Equal(DeliveryStatus.TemporaryFailure, results[0].Status);
        Assert.Equal("4.3.0", results[0].EnhancedStatus);
        Assert.StartsWith("maildir: ", results[0].Diagnostic, StringComparison.Ordinal);
        Assert.Equal(DeliveryStatus.Delivered, results[1].Status);
    }

    [Fact]
    public async Task A_missing_queued_message_is_a_temporary_failure()
    {
        var results = await Agent().DeliverAsync(TestMessages.Request(_dir.Combine("gone.eml"), "alice@example.org"), default);

        Assert.Equal(DeliveryStatus.TemporaryFailure, Assert.Single(results).Status);
    }
}
