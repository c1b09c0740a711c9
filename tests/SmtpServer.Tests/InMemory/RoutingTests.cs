using System.Net;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using SmtpServer.Auth;
using SmtpServer.Configuration;
using SmtpServer.Hosting;
using SmtpServer.Testing;
using SmtpServer.Tests.Infrastructure;

namespace SmtpServer.Tests.InMemory;

/// <summary>
/// The routing issue end to end: a config file with two virtual domains, a catch-all, an alias
/// to a remote address, an error: alias, sender restrictions and relay for authenticated users,
/// driven through the real session; plus the classic open-relay tricks and live reload.
/// </summary>
public sealed class RoutingTests : IDisposable
{
    private static readonly IPAddress Remote = IPAddress.Parse("203.0.113.5");
    private static readonly IReadOnlyDictionary<string, string> NoEnvironment = new Dictionary<string, string>();
    private readonly TempDirectory _directory = new("smtpd-routing");
    private readonly string _config;

    public RoutingTests()
    {
        File.WriteAllText(_directory.Combine("credentials"), $"alice:{Sha512Crypt.Crypt("alice-pw", "$6$rounds=1000$alicesalt")}\n");
        File.WriteAllText(_directory.Combine("senders"), "alice alice@one.example, @two.example\n");
        File.WriteAllText(_directory.Combine("virtual"), """
            # two virtual domains
            alice@one.example:    alice
            bob@one.example:      bob, bob@remote.example
            loop@one.example:     loop2@one.example
            loop2@one.example:    loop@one.example
            forward@two.example:  friend@remote.example
            gone@two.example:     error:550 5.1.6 Moved away, ask the sender
            @two.example:         catchall
            """);
        _config = _directory.Combine("smtpd.yaml");
        WriteConfig(extraRule: string.Empty);
    }

    public void Dispose() => _directory.Dispose();

    private void WriteConfig(string extraRule, string? path = null)
    {
        var dir = _directory.Path;
        File.WriteAllText(path ?? _config, $$"""
            server: { hostname: mx.test.example }
            queue: { path: {{dir}}/queue }
            listeners:
              - { name: mx, address: "127.0.0.1:2525", auth: { mode: optional, credentials: users, allowPlaintext: true }, senders: senders }
            tables:
              users: { type: file, path: {{dir}}/credentials, format: credentials }
              senders: { type: file, path: {{dir}}/senders, format: map }
              virtual: { type: file, path: {{dir}}/virtual, format: aliases }
              domains: { type: list, values: [one.example, two.example] }
            actions:
              local: { maildir: { path: "{{dir}}/mail/{user}" }, virtual: virtual }
              outbound: { relay: {} }
            rules:
            {{extraRule}}
              - { from: any, for: { domain: domains }, action: local }
              - { from: { auth: true }, for: any, action: outbound }
              - { from: local, for: any, action: outbound }
            """);
    }

    private ServerSettings Load(string? path = null)
    {
        var loaded = ConfigLoader.Load(path ?? _config, NoEnvironment);
        Assert.True(loaded.Errors.Count == 0, string.Join("\n", loaded.Errors));
        return loaded.Settings!;
    }

    private InMemorySmtpServer Server() => new(_ => Load());

    private static async Task<SmtpTestClient> MailAsync(InMemorySmtpServer server, string from = "sender@remote.example", bool login = false)
    {
        var c = await server.ConnectAndGreetAsync(Remote);
        Assert.Equal(250, (await c.CommandAsync("EHLO client.example")).Code);
        if (login)
        {
            var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes("\0alice\0alice-pw"));
            Assert.Equal(235, (await c.CommandAsync("AUTH PLAIN " + plain)).Code);
        }

        Assert.Equal(250, (await c.CommandAsync($"MAIL FROM:<{from}>")).Code);
        return c;
    }

    private static async Task DataAsync(SmtpTestClient c)
    {
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await c.CommandAsync("Subject: t\r\n\r\nhello\r\n.")).Code);
        await c.CommandAsync("QUIT");
    }

    private static List<(string Recipient, string Action, string? Original)> Envelopes(InMemorySmtpServer server)
        => [.. server.Committed().SelectMany(m => m.Envelopes)
            .Select(e => ($"{e.Recipient.LocalPart}@{e.Recipient.Domain}", e.Action, e.OriginalRecipient))
            .OrderBy(e => e.Item1, StringComparer.Ordinal)];

    [Fact]
    public async Task Virtual_domains_catch_all_and_aliases_to_remote_addresses()
    {
        await using var server = Server();
        var c = await MailAsync(server);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<alice@one.example>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<Bob@One.Example>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<anyone@two.example>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<forward@two.example>")).Code);
        await DataAsync(c);
        await server.WaitForSessionsAsync();

        Assert.Equal(
            [
                ("alice@one.example", "local", null),
                ("bob@One.Example", "local", "Bob@One.Example"),
                ("bob@remote.example", "outbound", "Bob@One.Example"), // relayed: an alias may point anywhere
                ("catchall@two.example", "local", "anyone@two.example"),
                ("friend@remote.example", "outbound", "forward@two.example"),
            ],
            Envelopes(server));
    }

    [Theory]
    [InlineData("gone@two.example", "550 5.1.6 Moved away, ask the sender")] // error: alias
    [InlineData("nobody@one.example", "550 5.1.1 Invalid recipient: <nobody@one.example>: user unknown")] // never backscatter
    [InlineData("loop@one.example", "524 5.2.4 Mailing list expansion problem")]
    [InlineData("someone@remote.example", "550 5.7.1 Invalid recipient: <someone@remote.example>")] // no relay
    public async Task Refused_recipients_get_their_reply_at_rcpt(string recipient, string reply)
    {
        await using var server = Server();
        var c = await MailAsync(server);
        Assert.Equal(reply, (await c.CommandAsync($"RCPT TO:<{recipient}>")).Text);
        await c.CommandAsync("QUIT");
    }

    [Fact]
    public async Task An_alias_to_a_command_or_file_the_action_does_not_allow_is_refused_at_rcpt_and_logged()
    {
        File.AppendAllText(_directory.Combine("virtual"), "\npipe@one.example: \"|/usr/bin/logger -t mail\", alice\nfile@one.example: /srv/mail/file.mbox\n");
        var logger = new CollectingLogger<RoutingTests>();
        using var factory = new SingleLoggerFactory(logger);
        await using var server = new InMemorySmtpServer(_ => Load(), loggerFactory: factory);
        var c = await MailAsync(server);
        Assert.Equal("550 5.7.1 Invalid recipient: <pipe@one.example>: delivery to a command is not allowed", (await c.CommandAsync("RCPT TO:<pipe@one.example>")).Text);
        Assert.Equal("550 5.7.1 Invalid recipient: <file@one.example>: delivery to a file is not allowed", (await c.CommandAsync("RCPT TO:<file@one.example>")).Text);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<alice@one.example>")).Code);
        await DataAsync(c);
        await server.WaitForSessionsAsync();

        // Nothing half-delivered: alice only got her own RCPT's copy.
        Assert.Equal([("alice@one.example", "local", null)], Envelopes(server));
        var logged = logger.Entries.Where(e => e.EventId.Name == "SmtpAliasRefused").Select(e => e.Message).ToList();
        Assert.Equal(2, logged.Count);
        Assert.Contains("recipient <pipe@one.example> refused with 550 5.7.1 Invalid recipient: <pipe@one.example>: delivery to a command is not allowed: alias 'pipe@one.example' → |/usr/bin/logger -t mail: action 'local' does not allow commands", logged[0], StringComparison.Ordinal);
        Assert.Contains("alias 'file@one.example' → /srv/mail/file.mbox: action 'local' does not allow files", logged[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Authenticated_users_relay_and_may_only_use_their_own_senders()
    {
        await using var server = Server();
        var c = await server.ConnectAndGreetAsync(Remote);
        await c.CommandAsync("EHLO client.example");
        Assert.Equal(235, (await c.CommandAsync("AUTH PLAIN " + Convert.ToBase64String(Encoding.UTF8.GetBytes("\0alice\0alice-pw")))).Code);
        Assert.Equal("553 5.7.1 Sender address rejected: not owned by user alice", (await c.CommandAsync("MAIL FROM:<bob@one.example>")).Text);
        Assert.Equal(553, (await c.CommandAsync("MAIL FROM:<>")).Code);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<anything@two.example>")).Code);
        await c.CommandAsync("RSET");
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<Alice+list@ONE.example>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<someone@remote.example>")).Code);
        await DataAsync(c);
        await server.WaitForSessionsAsync();
        Assert.Equal([("someone@remote.example", "outbound", null)], Envelopes(server));
    }

    [Theory]
    [InlineData("user%other.example@one.example")]
    [InlineData("\"user@other.example\"@one.example")]
    [InlineData("@one.example:user@other.example")]
    [InlineData("user@other.example@one.example")]
    [InlineData("user!other.example@one.example")]
    [InlineData("user@other.example.")]
    [InlineData("USER@OTHER.EXAMPLE")]
    [InlineData("user@[192.0.2.1]")]
    [InlineData("user@[127.0.0.1]")]
    [InlineData("user@[IPv6:::1]")]
    [InlineData("user%other.example@[127.0.0.1]")]
    [InlineData("other.example!user")]
    [InlineData("user@one.example.other.example")]
    [InlineData("alice@one.example.")] // stays local
    [InlineData("ALICE@ONE.EXAMPLE")] // stays local
    public async Task Relay_tricks_from_an_unauthenticated_client_are_refused_or_stay_local(string recipient)
    {
        await using var server = Server();
        var c = await MailAsync(server);
        var reply = await c.CommandAsync($"RCPT TO:<{recipient}>");
        if (reply.Code == 250)
        {
            await DataAsync(c);
            await server.WaitForSessionsAsync();
            foreach (var (address, action, _) in Envelopes(server))
            {
                Assert.Equal("local", action);
                Assert.EndsWith("@one.example", address.ToLowerInvariant().TrimEnd('.'), StringComparison.Ordinal);
            }
        }
        else
        {
            Assert.True(reply.Code >= 500, reply.Text);
            await c.CommandAsync("QUIT");
        }
    }

    [Fact]
    public async Task An_edited_table_file_is_seen_by_the_next_rcpt()
    {
        await using var server = Server();
        var c = await MailAsync(server);
        Assert.Equal(550, (await c.CommandAsync("RCPT TO:<carol@one.example>")).Code);
        var virtualPath = _directory.Combine("virtual");
        File.AppendAllText(virtualPath, "\ncarol@one.example: carol\n");
        File.SetLastWriteTimeUtc(virtualPath, DateTime.UtcNow.AddSeconds(5));
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<carol@one.example>")).Code);

        File.Delete(virtualPath);
        Assert.Equal("451 4.3.0 Temporary failure", (await c.CommandAsync("RCPT TO:<alice@one.example>")).Text);
        await c.CommandAsync("QUIT");
    }

    [Fact]
    public async Task Reload_swaps_the_config_for_new_sessions_and_refuses_a_broken_one()
    {
        await using var server = Server();
        var logger = new CollectingLogger<RoutingTests>();
        var reloader = new ConfigReloader(_config, server.Services, logger, NoEnvironment);
        var before = server.Services.Settings;
        var early = await MailAsync(server);

        File.WriteAllText(_config, File.ReadAllText(_config).Replace("action: outbound }", "action: outbund }", StringComparison.Ordinal)
            .Replace("maildir: {", "maildr: {", StringComparison.Ordinal));
        Assert.False(reloader.Reload());
        Assert.Same(before, server.Services.Settings);
        Assert.Contains(logger.Entries, e => e.Message.Contains("actions.local.maildr", StringComparison.Ordinal));
        Assert.Contains(logger.Entries, e => e.Message.Contains("rules[1].action", StringComparison.Ordinal));

        WriteConfig("  - { from: any, for: { rcptTo: [blocked@one.example] }, action: reject, reply: \"550 5.7.1 Not this one\" }");
        Assert.True(reloader.Reload());
        Assert.NotSame(before, server.Services.Settings);

        // A session in progress keeps the config it started with; a new one gets the new rule.
        Assert.Equal(550, (await early.CommandAsync("RCPT TO:<blocked@one.example>")).Code); // unknown user, old rules
        await early.CommandAsync("QUIT");
        var late = await MailAsync(server);
        Assert.Equal("550 5.7.1 Not this one", (await late.CommandAsync("RCPT TO:<blocked@one.example>")).Text);
        await late.CommandAsync("QUIT");
    }

    [Fact]
    public async Task Reload_takes_dns_reverse_lookup_and_says_that_dns_servers_need_a_restart()
    {
        await using var server = Server();
        var logger = new CollectingLogger<RoutingTests>();
        var reloader = new ConfigReloader(_config, server.Services, logger, NoEnvironment);
        Assert.True(server.Services.Settings.ReverseLookup);

        File.AppendAllText(_config, "\ndns: { reverseLookup: false }\n");
        Assert.True(reloader.Reload());
        Assert.False(server.Services.Settings.ReverseLookup);
        Assert.DoesNotContain(logger.Entries, e => e.EventId.Name == "ReloadDnsChanged");

        WriteConfig(string.Empty);
        File.AppendAllText(_config, "\ndns: { servers: [127.0.0.53] }\n");
        Assert.True(reloader.Reload());
        Assert.True(server.Services.Settings.ReverseLookup);
        Assert.Contains(logger.Entries, e => e.EventId.Name == "ReloadDnsChanged");
    }

    [Fact]
    public async Task Explain_route_names_the_rule_the_action_and_the_expansion()
    {
        var output = new StringWriter();
        var code = await RouteExplainer.ExplainAsync(Load(), "sender@remote.example", "bob@one.example", "203.0.113.5", null, null, false, output);
        var text = output.ToString();
        Assert.Equal(0, code);
        Assert.Contains("rule 1 (from any for domain domains action local): MATCHED", text, StringComparison.Ordinal);
        Assert.Contains("action: local", text, StringComparison.Ordinal);
        Assert.Contains("<bob@one.example> action local", text, StringComparison.Ordinal);
        Assert.Contains("<bob@remote.example> action outbound", text, StringComparison.Ordinal);

        output = new StringWriter();
        Assert.Equal(1, await RouteExplainer.ExplainAsync(Load(), null, "x@remote.example", "203.0.113.5", null, null, false, output));
        Assert.Contains("no rule matched", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Explain_route_takes_the_clients_reverse_dns_name()
    {
        WriteConfig("  - { from: { rdns: [\"~ ^mx[0-9]+\\\\.partner\\\\.test$\"] }, for: any, action: outbound }");
        var output = new StringWriter();
        Assert.Equal(0, await RouteExplainer.ExplainAsync(Load(), null, "x@remote.example", "203.0.113.5", null, null, false, output, clientHostName: "mx7.partner.test."));
        var text = output.ToString();
        Assert.Contains("src 203.0.113.5 rdns mx7.partner.test", text, StringComparison.Ordinal);
        Assert.Contains("(from rdns rules[0].from.rdns for any action outbound): MATCHED", text, StringComparison.Ordinal);

        output = new StringWriter();
        Assert.Equal(1, await RouteExplainer.ExplainAsync(Load(), null, "x@remote.example", "203.0.113.5", null, null, false, output, clientHostName: "mx7.partner.test.evil.example"));
        Assert.Contains("from rdns rules[0].from.rdns: no match", output.ToString(), StringComparison.Ordinal);

        // Without --rdns the client has no name, as a session whose lookup found none.
        output = new StringWriter();
        Assert.Equal(1, await RouteExplainer.ExplainAsync(Load(), null, "x@remote.example", "203.0.113.5", null, null, false, output));
        Assert.Contains("from rdns rules[0].from.rdns: no match", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Explain_route_takes_client_certificate_names()
    {
        WriteConfig("  - { from: { clientCert: [relay.client.test, '*.partner.test'] }, for: any, action: outbound }");
        var output = new StringWriter();
        Assert.Equal(0, await RouteExplainer.ExplainAsync(Load(), null, "x@remote.example", "203.0.113.5", null, null, true, output, ["Relay.Client.Test"]));
        var text = output.ToString();
        Assert.Contains("client-cert Relay.Client.Test", text, StringComparison.Ordinal);
        Assert.Contains("(from clientCert rules[0].from.clientCert for any action outbound): MATCHED", text, StringComparison.Ordinal);

        output = new StringWriter();
        Assert.Equal(1, await RouteExplainer.ExplainAsync(Load(), null, "x@remote.example", "203.0.113.5", null, null, true, output, ["mx.other.test"]));
        Assert.Contains("from clientCert rules[0].from.clientCert: no match", output.ToString(), StringComparison.Ordinal);
    }
}
