using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using SmtpServer.Smtp;
using SmtpServer.Testing;
using SmtpServer.Tests.Admin;
using SmtpServer.Tests.Infrastructure;
using Xunit.Abstractions;

namespace SmtpServer.Tests.Hosting;

/// <summary>
/// Issue #4: the whole configuration reloads, delivery included. The real host run from a file,
/// reloaded through the admin API (as smtpctl reload), and the real smtpd process through SIGHUP.
/// </summary>
public sealed class DeliveryReloadTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task After_a_reload_that_changes_the_maildir_path_the_next_mail_goes_to_the_new_path()
    {
        using var dir = new TempDirectory("smtpd-dreload");
        WriteConfig(dir, LocalMaildir(dir, "mail1"));
        await using var admin = await AdminServer.StartFromConfigAsync(dir, dir.Combine("smtpd.yaml"));
        await SmtpDialog.SendAsync(admin.Server.ConnectAsync, "alice@one.example");
        await WaitForMessageAsync(dir.Combine("mail1", "alice", "new"));

        WriteConfig(dir, LocalMaildir(dir, "mail2"));
        await ReloadAsync(admin, HttpStatusCode.OK);
        await SmtpDialog.SendAsync(admin.Server.ConnectAsync, "alice@one.example");

        await WaitForMessageAsync(dir.Combine("mail2", "alice", "new"));
        Assert.Single(Directory.GetFiles(dir.Combine("mail1", "alice", "new")));
    }

    [Theory]
    [InlineData("maildir: { path: \"{{d}}/mail2/{usr}\" }", "actions.local.maildir.path")]
    [InlineData("maildir: { path: \"{{d}}/mail2/{user}\" }, mbox: { path: \"{{d}}/mbox\" }", "actions.local")]
    [InlineData("lmtp: { address: dovecot }", "actions.local.lmtp.address")]
    public async Task A_reload_with_a_broken_action_is_refused_and_delivery_stays_as_it_was(string brokenAgent, string key)
    {
        using var dir = new TempDirectory("smtpd-dreload");
        WriteConfig(dir, LocalMaildir(dir, "mail1"));
        await using var admin = await AdminServer.StartFromConfigAsync(dir, dir.Combine("smtpd.yaml"));
        var services = admin.Server.App.Services.GetRequiredService<SmtpServices>();
        var before = services.Settings;

        WriteConfig(dir, brokenAgent.Replace("{{d}}", dir.Path, StringComparison.Ordinal));
        var refused = await ReloadAsync(admin, HttpStatusCode.UnprocessableEntity);
        Assert.Contains(key, refused.GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("key").GetString()));
        Assert.Same(before, services.Settings);

        await SmtpDialog.SendAsync(admin.Server.ConnectAsync, "alice@one.example");
        await WaitForMessageAsync(dir.Combine("mail1", "alice", "new"));
        Assert.False(Directory.Exists(dir.Combine("mail2")));
    }

    [Fact]
    public async Task A_new_action_added_by_a_reload_is_used_by_a_new_rule()
    {
        using var dir = new TempDirectory("smtpd-dreload");
        WriteConfig(dir, LocalMaildir(dir, "mail1"));
        await using var admin = await AdminServer.StartFromConfigAsync(dir, dir.Combine("smtpd.yaml"));
        Assert.Equal(550, await SmtpDialog.RcptAsync(admin.Server.ConnectAsync, "bob@two.example"));

        WriteConfig(
            dir,
            LocalMaildir(dir, "mail1"),
            extraActions: $"  archive: {{ maildir: {{ path: \"{dir.Path}/archive/{{user}}\" }} }}",
            extraRules: "  - { from: any, for: { domain: [two.example] }, action: archive }");
        await ReloadAsync(admin, HttpStatusCode.OK);
        await SmtpDialog.SendAsync(admin.Server.ConnectAsync, "bob@two.example");

        await WaitForMessageAsync(dir.Combine("archive", "bob", "new"));
        Assert.False(Directory.Exists(dir.Combine("mail1", "bob")));
    }

    [Fact]
    public async Task A_reload_closes_the_pooled_connection_of_the_replaced_lmtp_agent()
    {
        // The agents' idle timers run on a clock that never moves: a QUIT can only come from the reload.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var lmtp = new ScriptedLinePeer(LmtpPeerAsync);
        await using var moved = new ScriptedLinePeer(LmtpPeerAsync);
        using var dir = new TempDirectory("smtpd-dreload");
        WriteConfig(dir, $"lmtp: {{ address: \"{lmtp.Address}\" }}");
        await using var admin = await AdminServer.StartFromConfigAsync(dir, dir.Combine("smtpd.yaml"), time);

        await SmtpDialog.SendAsync(admin.Server.ConnectAsync, "alice@one.example");
        await WaitForAsync(() => admin.Server.Committed().Count == 0, "the first message was not delivered over LMTP");
        await Task.Delay(200);
        Assert.DoesNotContain("QUIT", Received(lmtp));
        Assert.Equal(1, lmtp.Connections);

        // The action changed (another LMTP server): a new agent, and the old one's connection closes.
        WriteConfig(dir, $"lmtp: {{ address: \"{moved.Address}\" }}");
        await ReloadAsync(admin, HttpStatusCode.OK);
        await WaitForAsync(() => Received(lmtp).Contains("QUIT"), "the replaced agent kept its pooled LMTP connection open");

        await SmtpDialog.SendAsync(admin.Server.ConnectAsync, "alice@one.example");
        await WaitForAsync(() => admin.Server.Committed().Count == 0, "the second message was not delivered over LMTP");
        Assert.Equal(1, lmtp.Connections);
        Assert.Equal(1, moved.Connections);
        Assert.Empty(lmtp.Errors);
        Assert.Empty(moved.Errors);
    }

    [Fact]
    public async Task A_reload_that_leaves_the_lmtp_action_unchanged_keeps_its_agent_and_pooled_connection()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var lmtp = new ScriptedLinePeer(LmtpPeerAsync);
        using var dir = new TempDirectory("smtpd-dreload");
        var agent = $"lmtp: {{ address: \"{lmtp.Address}\" }}";
        WriteConfig(dir, agent);
        await using var admin = await AdminServer.StartFromConfigAsync(dir, dir.Combine("smtpd.yaml"), time);
        await SmtpDialog.SendAsync(admin.Server.ConnectAsync, "alice@one.example");
        await WaitForAsync(() => admin.Server.Committed().Count == 0, "the first message was not delivered over LMTP");
        var scheduler = admin.Server.App.Services.GetRequiredService<Core.Scheduling.Scheduler>();
        var before = await scheduler.AgentOfAsync("local");

        // The file changed elsewhere (a new action and rule); the local action did not.
        WriteConfig(
            dir,
            agent,
            extraActions: $"  archive: {{ maildir: {{ path: \"{dir.Path}/archive/{{user}}\" }} }}",
            extraRules: "  - { from: any, for: { domain: [two.example] }, action: archive }");
        await ReloadAsync(admin, HttpStatusCode.OK);
        Assert.Equal(250, await SmtpDialog.RcptAsync(admin.Server.ConnectAsync, "bob@two.example"));
        await SmtpDialog.SendAsync(admin.Server.ConnectAsync, "alice@one.example");
        await WaitForAsync(() => admin.Server.Committed().Count == 0, "the second message was not delivered over LMTP");

        Assert.Same(before, await scheduler.AgentOfAsync("local"));
        Assert.DoesNotContain("QUIT", Received(lmtp));
        Assert.Equal(1, lmtp.Connections);
        Assert.Empty(lmtp.Errors);
    }

    [Fact]
    public async Task Mail_of_an_action_a_reload_removed_waits_with_a_temporary_failure_and_goes_when_a_reload_brings_it_back()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var dir = new TempDirectory("smtpd-dreload");
        var closed = $"  slow: {{ relay: {{ host: \"smtp+notls://127.0.0.1:{ClosedPort()}\" }} }}";
        const string SlowRule = "  - { from: any, for: { domain: [slow.example] }, action: slow }";
        WriteConfig(dir, LocalMaildir(dir, "mail1"), extraActions: closed, extraRules: SlowRule);
        await using var admin = await AdminServer.StartFromConfigAsync(dir, dir.Combine("smtpd.yaml"), time);
        await SmtpDialog.SendAsync(admin.Server.ConnectAsync, "carol@slow.example");
        await WaitForAsync(() => Envelope(admin) is { Attempts: 1 }, "the relay was not tried");

        // Reloaded without the action: the retry finds it gone, and the mail stays.
        WriteConfig(dir, LocalMaildir(dir, "mail1"));
        await ReloadAsync(admin, HttpStatusCode.OK);
        time.Advance(TimeSpan.FromSeconds(400));
        await WaitForAsync(() => Envelope(admin) is { Attempts: 2 }, "the envelope was not retried");
        Assert.Equal("action \"slow\" is not configured", Envelope(admin)!.LastError);

        // Back, as a maildir: delivered at once, not at the next retry.
        WriteConfig(dir, LocalMaildir(dir, "mail1"), extraActions: $"  slow: {{ maildir: {{ path: \"{dir.Path}/slow/{{user}}\" }} }}", extraRules: SlowRule);
        await ReloadAsync(admin, HttpStatusCode.OK);
        await WaitForMessageAsync(dir.Combine("slow", "carol", "new"));
        await WaitForAsync(() => admin.Server.Committed().Count == 0, "the delivered message stayed queued");
    }

    [Fact]
    public async Task Sighup_makes_the_smtpd_process_deliver_the_next_mail_to_the_new_maildir_path()
    {
        await using var smtpd = await SmtpdProcess.StartAsync(output, routing: SmtpdProcess.LocalMaildirRouting("one.example"));
        await SmtpDialog.SendAsync(smtpd.ConnectAsync, "alice@one.example");
        await WaitForMessageAsync(Path.Combine(smtpd.Maildir("alice"), "new"));

        var mail = smtpd.MailPath.Replace("\\", "/", StringComparison.Ordinal);
        var config = await File.ReadAllTextAsync(smtpd.ConfigPath);
        var changed = config.Replace($"{mail}/{{user}}/Maildir", $"{mail}-new/{{user}}/Maildir", StringComparison.Ordinal)
            .Replace("[one.example]", "[one.example, two.example]", StringComparison.Ordinal);
        Assert.NotEqual(config, changed);
        await File.WriteAllTextAsync(smtpd.ConfigPath, changed);
        await smtpd.HangupAsync();

        // New sessions see the reloaded rules once two.example is accepted.
        var deadline = DateTime.UtcNow + Patience;
        while (await SmtpDialog.RcptAsync(smtpd.ConnectAsync, "probe@two.example") != 250)
        {
            Assert.True(DateTime.UtcNow < deadline, "SIGHUP did not reload the configuration:\n" + smtpd.OutputTail());
            await Task.Delay(50);
        }

        await SmtpDialog.SendAsync(smtpd.ConnectAsync, "bob@one.example");
        await WaitForMessageAsync(Path.Combine(mail + "-new", "bob", "Maildir", "new"));
        Assert.False(Directory.Exists(smtpd.Maildir("bob")), "the mail went to the old path");
        Assert.True(smtpd.IsRunning);
    }

    private static string LocalMaildir(TempDirectory dir, string folder) => $"maildir: {{ path: \"{dir.Path}/{folder}/{{user}}\" }}";

    private static void WriteConfig(TempDirectory dir, string localAgent, string extraActions = "", string extraRules = "")
    {
        var d = dir.Path;
        File.WriteAllText(dir.Combine("smtpd.yaml"), $$"""
            {{AdminServer.ConfigHeader(d)}}
            tables:
              domains: { type: list, values: [one.example] }
            actions:
              local: { {{localAgent}} }
            {{extraActions}}
            rules:
            {{extraRules}}
              - { from: any, for: { domain: domains }, action: local }
            """);
    }

    private static async Task<System.Text.Json.JsonElement> ReloadAsync(AdminServer admin, HttpStatusCode expected) =>
        await AdminServer.JsonAsync(await admin.PostAsync("v1/reload", "{}"), expected);

    private static Core.Queue.EnvelopeRecord? Envelope(AdminServer admin) => admin.Server.Committed().SingleOrDefault()?.Envelopes.Single();

    private static Task WaitForMessageAsync(string newDirectory) =>
        WaitForAsync(() => Directory.Exists(newDirectory) && Directory.GetFiles(newDirectory).Length > 0, $"no message in {newDirectory}");

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, what);
            await Task.Delay(20);
        }
    }

    private static List<string> Received(ScriptedLinePeer peer)
    {
        lock (peer.Received)
        {
            return [.. peer.Received];
        }
    }

    /// <summary>An LMTP server that accepts everything and keeps the connection until QUIT.</summary>
    private static async Task LmtpPeerAsync(ScriptedLinePeer.PeerConnection c)
    {
        await c.GreetAsync();
        var recipients = 0;
        while (true)
        {
            var line = await c.ReadLineAsync();
            var verb = line.Split(' ', 2)[0].ToUpperInvariant();
            switch (verb)
            {
                case "RCPT":
                    recipients++;
                    await c.WriteLineAsync("250 2.1.5 ok");
                    break;
                case "DATA":
                    await c.WriteLineAsync("354 go ahead");
                    await c.ReadDataAsync();
                    for (; recipients > 0; recipients--)
                    {
                        await c.WriteLineAsync("250 2.0.0 delivered");
                    }

                    break;
                case "QUIT":
                    await c.WriteLineAsync("221 2.0.0 bye");
                    return;
                default:
                    recipients = verb == "RSET" ? 0 : recipients;
                    await c.WriteLineAsync("250 2.0.0 ok");
                    break;
            }
        }
    }

    private static int ClosedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
