using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using SmtpServer.Auth;
using SmtpServer.Configuration;
using SmtpServer.Tests.Infrastructure;
using SmtpServer.Testing;

namespace SmtpServer.Tests.InMemory;

/// <summary>AUTH (RFC 4954) over the in-memory harness: every reply, and the brute-force throttle.</summary>
public sealed class AuthTests : IDisposable
{
    private static readonly DateTimeOffset Start = DateTimeOffset.Parse("2026-03-01T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
    private readonly TempDirectory _directory = new("smtpd-auth");
    private readonly FakeTimeProvider _time = new(Start);
    private readonly string _credentials;

    public AuthTests()
    {
        _credentials = _directory.Combine("credentials");

        // Cheap hashes keep the tests fast; the format is what counts.
        File.WriteAllText(_credentials,
            $"alice:{Sha512Crypt.Crypt("alice-pw", "$6$rounds=1000$alicesalt")}\nbob:{BCrypt.Net.BCrypt.HashPassword("bob-pw", 4)}\n");
    }

    public void Dispose() => _directory.Dispose();

    private Func<ServerSettings, ServerSettings> Auth(AuthMode mode = AuthMode.Optional, bool allowPlaintext = true, bool receivedAuth = false, bool submission = false) =>
        s => s with
        {
            Tables = new Dictionary<string, TableSettings>(StringComparer.OrdinalIgnoreCase)
            {
                ["users"] = new FileTableSettings { Name = "users", Path = _credentials, Format = "credentials" },
            },
            Listeners =
            [
                s.Listeners[0] with
                {
                    Auth = new ListenerAuthSettings { Mode = mode, CredentialsTable = "users", AllowPlaintext = allowPlaintext },
                    ReceivedAuth = receivedAuth,
                    Submission = submission,
                },
            ],
        };

    private static string Plain(string user, string password, string authzid = "") =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes($"{authzid}\0{user}\0{password}"));

    private static string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    /// <summary>Reads a reply, moving fake time on while the server sits in a throttle delay.</summary>
    /// <remarks>
    /// <paramref name="serverWaits"/>: true once the server has started the delay being measured;
    /// time moved before that (a slow machine) would be counted as delay it never had.
    /// </remarks>
    private async Task<SmtpTestReply> ReadAsync(SmtpTestClient client, List<TimeSpan>? waited = null, Func<bool>? serverWaits = null)
    {
        var read = client.ReadReplyAsync();
        var advanced = TimeSpan.Zero;
        while (!read.IsCompleted)
        {
            await Task.WhenAny(read, Task.Delay(2));
            if (!read.IsCompleted && (serverWaits?.Invoke() ?? true))
            {
                _time.Advance(TimeSpan.FromMilliseconds(100));
                advanced += TimeSpan.FromMilliseconds(100);
            }
        }

        waited?.Add(advanced);
        return await read;
    }

    private async Task<SmtpTestReply> CommandAsync(SmtpTestClient client, string line)
    {
        await client.SendAsync(line + "\r\n");
        return await ReadAsync(client);
    }

    private static async Task<SmtpTestClient> EhloAsync(InMemorySmtpServer server, IPAddress? address = null)
    {
        var client = await server.ConnectAndGreetAsync(address);
        Assert.Equal(250, (await client.CommandAsync("EHLO client.example")).Code);
        return client;
    }

    [Fact]
    public async Task Plain_with_initial_response_authenticates_and_is_not_offered_again()
    {
        await using var server = new InMemorySmtpServer(Auth(), _time);
        await using var c = await server.ConnectAndGreetAsync();
        var ehlo = await c.CommandAsync("EHLO client.example");
        Assert.Contains("AUTH PLAIN LOGIN", ehlo.Lines[^2], StringComparison.Ordinal);
        Assert.DoesNotContain(ehlo.Lines, l => l.Contains("STARTTLS", StringComparison.Ordinal));

        var ok = await CommandAsync(c, "AUTH PLAIN " + Plain("alice", "alice-pw"));
        Assert.Equal("235 2.7.0 Authentication successful", ok.Text);
        Assert.Equal("503 5.5.1 Already authenticated", (await CommandAsync(c, "AUTH PLAIN " + Plain("alice", "alice-pw"))).Text);
        Assert.DoesNotContain((await c.CommandAsync("EHLO client.example")).Lines, l => l.Contains("AUTH", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Plain_without_initial_response_gets_an_empty_challenge()
    {
        await using var server = new InMemorySmtpServer(Auth(), _time);
        await using var c = await EhloAsync(server);
        await c.SendAsync("AUTH PLAIN\r\n");
        Assert.Equal("334 ", (await c.ReadReplyAsync()).Text);
        Assert.Equal(235, (await CommandAsync(c, Plain("bob", "bob-pw"))).Code);
    }

    [Fact]
    public async Task Login_with_and_without_initial_response()
    {
        await using var server = new InMemorySmtpServer(Auth(), _time);
        await using (var c = await EhloAsync(server))
        {
            Assert.Equal("334 VXNlcm5hbWU6", (await c.CommandAsync("AUTH LOGIN")).Text);
            Assert.Equal("334 UGFzc3dvcmQ6", (await c.CommandAsync(B64("alice"))).Text);
            Assert.Equal(235, (await CommandAsync(c, B64("alice-pw"))).Code);
        }

        await using (var c = await EhloAsync(server))
        {
            Assert.Equal("334 UGFzc3dvcmQ6", (await c.CommandAsync("AUTH LOGIN " + B64("bob"))).Text);
            Assert.Equal(235, (await CommandAsync(c, B64("bob-pw"))).Code);
        }
    }

    [Fact]
    public async Task Every_refusal_has_its_reply()
    {
        await using var server = new InMemorySmtpServer(Auth(), _time);
        await using var c = await server.ConnectAndGreetAsync();
        Assert.Equal("503 5.5.1 Error: send EHLO first", (await c.CommandAsync("AUTH PLAIN")).Text);
        Assert.Equal(250, (await c.CommandAsync("EHLO client.example")).Code);
        Assert.Equal("501 5.5.4 Syntax: AUTH mechanism [initial-response]", (await c.CommandAsync("AUTH")).Text);
        Assert.Equal("504 5.5.4 Unrecognized authentication mechanism", (await c.CommandAsync("AUTH CRAM-MD5")).Text);
        Assert.Equal("501 5.5.2 Cannot decode response", (await c.CommandAsync("AUTH PLAIN !!!notbase64")).Text);
        Assert.Equal("334 ", (await c.CommandAsync("AUTH PLAIN")).Text);
        Assert.Equal("501 5.5.2 Authentication cancelled", (await c.CommandAsync("*")).Text);
        Assert.Equal("334 VXNlcm5hbWU6", (await c.CommandAsync("AUTH LOGIN")).Text);
        Assert.Equal("501 5.5.2 Authentication cancelled", (await c.CommandAsync("*")).Text);
        Assert.Equal("535 5.7.8 Authentication credentials invalid", (await CommandAsync(c, "AUTH PLAIN " + Plain("alice", "wrong"))).Text);
        Assert.Equal("535 5.7.8 Authentication credentials invalid", (await CommandAsync(c, "AUTH PLAIN " + Plain("nobody", "alice-pw"))).Text);
        Assert.Equal("535 5.7.8 Authentication credentials invalid", (await CommandAsync(c, "AUTH PLAIN " + Plain("alice", "alice-pw", authzid: "bob"))).Text);

        // A SASL response longer than maxAuthLine (RFC 4954 §4: 500 5.5.6), then the dialog goes on.
        Assert.Equal("334 ", (await c.CommandAsync("AUTH PLAIN")).Text);
        Assert.Equal("500 5.5.6 Authentication exchange line is too long", (await c.CommandAsync(new string('A', 20_000))).Text);
        Assert.Equal(250, (await c.CommandAsync("NOOP")).Code);

        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@example.com>")).Code);
        Assert.Equal("503 5.5.1 AUTH not permitted during a mail transaction", (await c.CommandAsync("AUTH PLAIN " + Plain("alice", "alice-pw"))).Text);
    }

    [Fact]
    public async Task A_long_initial_response_within_maxAuthLine_is_read()
    {
        await using var server = new InMemorySmtpServer(Auth(), _time);
        await using var c = await EhloAsync(server);
        var longPassword = new string('p', 6000); // the AUTH line is longer than maxCommandLine (4096)
        Assert.Equal(535, (await CommandAsync(c, "AUTH PLAIN " + Plain("alice", longPassword))).Code);
        Assert.Equal(500, (await c.CommandAsync("NOOP " + new string('x', 6000))).Code);
    }

    [Fact]
    public async Task Without_tls_auth_needs_encryption()
    {
        await using var server = new InMemorySmtpServer(Auth(allowPlaintext: false), _time);
        await using var c = await server.ConnectAndGreetAsync();
        Assert.DoesNotContain((await c.CommandAsync("EHLO client.example")).Lines, l => l.Contains("AUTH", StringComparison.Ordinal));
        Assert.Equal("538 5.7.11 Encryption required for requested authentication mechanism", (await c.CommandAsync("AUTH PLAIN " + Plain("alice", "alice-pw"))).Text);
    }

    [Fact]
    public async Task Auth_is_not_implemented_on_a_listener_without_auth()
    {
        await using var server = new InMemorySmtpServer();
        await using var c = await server.ConnectAndGreetAsync();
        Assert.Equal(250, (await c.CommandAsync("EHLO client.example")).Code);
        Assert.Equal(502, (await c.CommandAsync("AUTH PLAIN")).Code);
        Assert.Equal(502, (await c.CommandAsync("STARTTLS")).Code);
    }

    [Fact]
    public async Task Required_auth_refuses_mail_until_authenticated_and_records_the_user()
    {
        await using var server = new InMemorySmtpServer(Auth(AuthMode.Required, receivedAuth: true), _time);
        await using var c = await EhloAsync(server);
        Assert.Equal("530 5.7.0 Authentication required", (await c.CommandAsync("MAIL FROM:<alice@example.com>")).Text);
        Assert.Equal(235, (await CommandAsync(c, "AUTH PLAIN " + Plain("ALICE", "alice-pw"))).Code);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<alice@example.com>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<user@example.org>")).Code);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await c.CommandAsync("Subject: hi\r\n\r\nbody\r\n.")).Code);
        Assert.Equal(221, (await c.CommandAsync("QUIT")).Code);
        await server.WaitForSessionsAsync();

        var stored = Assert.Single(server.Committed());
        Assert.Equal("alice", stored.Envelopes[0].AuthenticatedUser);
        Assert.False(stored.Envelopes[0].Tls);
        var text = await File.ReadAllTextAsync(stored.MessagePath);
        Assert.Contains("with ESMTPA id", text, StringComparison.Ordinal);
        Assert.Contains("(authenticated user=alice)", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Passwords_are_never_logged_and_results_are()
    {
        var logger = new CollectingLogger<AuthTests>();
        using var factory = new SingleLoggerFactory(logger);
        await using var server = new InMemorySmtpServer(Auth(), _time, factory);
        await using var c = await EhloAsync(server);
        Assert.Equal(535, (await CommandAsync(c, "AUTH PLAIN " + Plain("alice", "Sup3rSecretGuess"))).Code);
        Assert.Equal("334 VXNlcm5hbWU6", (await c.CommandAsync("AUTH LOGIN")).Text);
        Assert.Equal("334 UGFzc3dvcmQ6", (await c.CommandAsync(B64("alice"))).Text);
        Assert.Equal(235, (await CommandAsync(c, B64("alice-pw"))).Code);

        var all = string.Join("\n", logger.Entries.Select(e => e.Message));
        Assert.Contains("smtp authentication user=alice result=permfail", all, StringComparison.Ordinal);
        Assert.Contains("smtp authentication user=alice result=ok", all, StringComparison.Ordinal);
        Assert.DoesNotContain("Sup3rSecretGuess", all, StringComparison.Ordinal);
        Assert.DoesNotContain("alice-pw", all, StringComparison.Ordinal);
        Assert.DoesNotContain(Plain("alice", "Sup3rSecretGuess"), all, StringComparison.Ordinal);
        Assert.DoesNotContain(B64("alice-pw"), all, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Brute_force_is_slowed_then_cut_off_while_another_address_logs_in_at_once()
    {
        // The failure is logged just before the throttle's delay starts.
        var logger = new CollectingLogger<AuthTests>();
        using var factory = new SingleLoggerFactory(logger);
        await using var server = new InMemorySmtpServer(Auth(), _time, factory);
        var attacker = IPAddress.Parse("198.51.100.66");
        var waited = new List<TimeSpan>();
        var replies = new List<int>();
        SmtpTestClient? c = null;
        for (var i = 0; i < 50; i++)
        {
            c ??= await EhloAsync(server, attacker);
            await c.SendAsync("AUTH PLAIN " + Plain("alice", $"guess{i}") + "\r\n");
            var attempt = i;
            var reply = await ReadAsync(c, waited, () => logger.Entries.Count(e => e.Message.Contains("result=permfail", StringComparison.Ordinal)) > attempt);
            replies.Add(reply.Code);
            if (reply.Code == 421)
            {
                Assert.Equal("421 4.7.0 Too many authentication failures, closing connection", reply.Text);
                Assert.True(await c.IsClosedAsync());
                await c.DisposeAsync();
                c = null;
            }
        }

        // maxFailures 5: four 535s, slower each time; the fifth failure and everything after is 421.
        Assert.Equal([535, 535, 535, 535], replies.Take(4));
        Assert.All(replies.Skip(4), code => Assert.Equal(421, code));
        for (var i = 1; i < 4; i++)
        {
            Assert.True(waited[i] > waited[i - 1], $"delay {i} ({waited[i]}) should exceed delay {i - 1} ({waited[i - 1]})");
        }

        Assert.True(waited[0] >= TimeSpan.FromMilliseconds(500));

        // Even the right password is refused from the locked-out address...
        await using var locked = await EhloAsync(server, attacker);
        Assert.Equal(421, (await ReadAfter(locked, "AUTH PLAIN " + Plain("alice", "alice-pw"))).Code);

        // ...while another address logs in immediately: no fake time is moved for it.
        await using var other = await EhloAsync(server, IPAddress.Parse("203.0.113.9"));
        Assert.Equal(235, (await other.CommandAsync("AUTH PLAIN " + Plain("alice", "alice-pw"))).Code);

        // After the lockout the address may try again.
        _time.Advance(TimeSpan.FromMinutes(11));
        await using var later = await EhloAsync(server, attacker);
        Assert.Equal(235, (await later.CommandAsync("AUTH PLAIN " + Plain("alice", "alice-pw"))).Code);
    }

    private static async Task<SmtpTestReply> ReadAfter(SmtpTestClient client, string line)
    {
        await client.SendAsync(line + "\r\n");
        return await client.ReadReplyAsync();
    }
}
