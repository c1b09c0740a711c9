using Microsoft.Extensions.Logging.Abstractions;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;
using SmtpServer.Testing;

namespace SmtpServer.Delivery.Tests;

/// <summary>The lmtp agent against Dovecot's real LMTP server.</summary>
[Collection(DovecotCollection.Name)]
public sealed class LmtpAgentDovecotTests(DovecotFixture dovecot) : IDisposable
{
    private readonly TempDirectory _dir = new("lmtp-test");

    public void Dispose() => _dir.Dispose();

    private static LmtpAgent Agent(string address, TimeSpan? idle = null) =>
        new("lmtp", new LmtpAgentOptions(address) { IdleTimeout = idle ?? TimeSpan.FromSeconds(10) }, TimeProvider.System, NullLogger<LmtpAgent>.Instance);

    // Dovecot stores LF line endings and adds its own Return-Path (and Received) on top.
    private static string Lf(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal);

    [Fact]
    public async Task Two_recipients_in_one_transaction_land_in_two_maildirs()
    {
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent(dovecot.TcpAddress);

        var results = await agent.DeliverAsync(TestMessages.Request(message, "alice@example.org", "bob@example.org"), default);

        Assert.All(results, r => Assert.Equal(DeliveryStatus.Delivered, r.Status));
        foreach (var user in new[] { "alice", "bob" })
        {
            var stored = Assert.Single(dovecot.Messages(user));
            Assert.StartsWith("Return-Path: <sender@example.net>\n", stored, StringComparison.Ordinal);

            // The body arrives unstuffed: the lone "." line and the dotted lines are intact.
            Assert.EndsWith(Lf(TestMessages.Simple), stored, StringComparison.Ordinal);
        }

        Assert.Equal(1, agent.ConnectionsOpened);
        Assert.Contains("saved mail to INBOX", dovecot.ReadLog(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_user_fails_permanently_while_the_other_is_delivered()
    {
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent(dovecot.TcpAddress);

        var results = await agent.DeliverAsync(TestMessages.Request(message, "nosuchuser@example.org", "dave@example.org"), default);

        Assert.Equal(DeliveryStatus.PermanentFailure, results[0].Status);
        Assert.Equal("5.1.1", results[0].EnhancedStatus);
        Assert.Contains("550 5.1.1", results[0].Diagnostic, StringComparison.Ordinal);
        Assert.Equal(dovecot.TcpAddress, results[0].RemoteMta);
        Assert.Equal(DeliveryStatus.Delivered, results[1].Status);
        Assert.Single(dovecot.Messages("dave"));
    }

    [Fact]
    public async Task Two_messages_share_one_connection()
    {
        var first = TestMessages.Write(_dir, TestMessages.Simple);
        var second = TestMessages.Write(_dir, "Subject: second\r\n\r\nsecond body\r\n");
        await using var agent = Agent(dovecot.TcpAddress);
        var connectionsBefore = dovecot.ConnectionCount();

        var one = await agent.DeliverAsync(TestMessages.Request(first, "erin@example.org"), default);
        var two = await agent.DeliverAsync(TestMessages.Request(second, TestMessages.Envelope(QueueId.New(TimeProvider.System), "erin@example.org", sender: null)), default);

        Assert.Equal(DeliveryStatus.Delivered, Assert.Single(one).Status);
        Assert.Equal(DeliveryStatus.Delivered, Assert.Single(two).Status);
        Assert.Equal(1, agent.ConnectionsOpened);
        Assert.Equal(1, dovecot.ConnectionCount() - connectionsBefore);
        var stored = dovecot.Messages("erin");
        Assert.Equal(2, stored.Length);
        Assert.Contains(stored, m => m.StartsWith("Return-Path: <>\n", StringComparison.Ordinal) && m.EndsWith("second body\n", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_idle_connection_is_closed_and_a_new_one_opened()
    {
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent(dovecot.TcpAddress, idle: TimeSpan.FromMilliseconds(200));

        Assert.Equal(DeliveryStatus.Delivered, Assert.Single(await agent.DeliverAsync(TestMessages.Request(message, "grace@example.org"), default)).Status);
        await Task.Delay(700);
        Assert.Equal(DeliveryStatus.Delivered, Assert.Single(await agent.DeliverAsync(TestMessages.Request(message, "grace@example.org"), default)).Status);

        Assert.Equal(2, agent.ConnectionsOpened);
        Assert.Equal(2, dovecot.Messages("grace").Length);
    }

    [Fact]
    public async Task Delivers_over_a_unix_socket_with_subaddress_folder_handled_by_dovecot()
    {
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = Agent("unix:" + dovecot.SocketPath);

        var result = Assert.Single(await agent.DeliverAsync(TestMessages.Request(message, "frank+news@example.org"), default));

        Assert.Equal(DeliveryStatus.Delivered, result.Status);
        Assert.Single(dovecot.Messages("frank"));
    }

    [Fact]
    public async Task A_loop_is_refused_without_contacting_the_server()
    {
        var message = TestMessages.Write(_dir, "Delivered-To: heidi@example.org\r\nSubject: loop\r\n\r\nx\r\n");
        await using var agent = Agent(dovecot.TcpAddress);

        var result = Assert.Single(await agent.DeliverAsync(TestMessages.Request(message, "heidi@example.org"), default));

        Assert.Equal(DeliveryStatus.PermanentFailure, result.Status);
        Assert.Equal("5.4.6", result.EnhancedStatus);
        Assert.Equal(0, agent.ConnectionsOpened);
        Assert.Empty(dovecot.Messages("heidi"));
    }
}
