using System.Security.Cryptography.X509Certificates;
using System.Text;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using SmtpServer.Configuration;
using SmtpServer.Tests.Infrastructure;

namespace SmtpServer.Tests.Sockets;

/// <summary>STARTTLS (RFC 3207), implicit TLS (RFC 8314) and AUTH over real sockets, with MailKit and raw TLS clients.</summary>
public sealed class TlsTests : IDisposable
{
    private readonly TlsFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private static MimeMessage Message(string from, string to)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = "over tls";
        message.Body = new TextPart("plain") { Text = "secret body" };
        return message;
    }

    private static SmtpClient MailKitClient() => new() { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 10_000 };

    [Fact]
    public async Task Starttls_dialog_resets_the_session_and_marks_the_message()
    {
        await using var server = await SocketSmtpServer.StartAsync(_fixture.Configure(l => l with { Tls = _fixture.Tls(), Auth = TlsFixture.Auth() }));
        await using var raw = await TlsFixture.ConnectAsync(server.EndPoint);
        var c = raw.Client;
        Assert.Equal(220, (await c.ReadReplyAsync()).Code);
        var before = await c.CommandAsync("EHLO client.example");
        Assert.Contains(before.Lines, l => l[4..] == "STARTTLS");
        Assert.DoesNotContain(before.Lines, l => l.Contains("AUTH", StringComparison.Ordinal));
        Assert.Equal("538 5.7.11 Encryption required for requested authentication mechanism", (await c.CommandAsync("AUTH PLAIN AGFsaWNlAGFsaWNlLXB3")).Text);
        Assert.Equal("501 5.5.4 Syntax: STARTTLS (no parameters allowed)", (await c.CommandAsync("STARTTLS now")).Text);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@example.com>")).Code);
        Assert.Equal("503 5.5.1 Bad sequence of commands", (await c.CommandAsync("STARTTLS")).Text);
        Assert.Equal(250, (await c.CommandAsync("RSET")).Code);
        Assert.Equal("220 2.0.0 Ready to start TLS", (await c.CommandAsync("STARTTLS")).Text);

        await raw.HandshakeAsync();
        c = raw.Client;

        // RFC 3207 §4.2: the server forgot the EHLO; STARTTLS is no longer offered, AUTH now is.
        Assert.Equal(503, (await c.CommandAsync("MAIL FROM:<a@example.com>")).Code);
        var after = await c.CommandAsync("EHLO client.example");
        Assert.DoesNotContain(after.Lines, l => l[4..] == "STARTTLS");
        Assert.Contains(after.Lines, l => l[4..] == "AUTH PLAIN LOGIN");
        Assert.Equal("503 5.5.1 TLS already active", (await c.CommandAsync("STARTTLS")).Text);
        Assert.Equal(235, (await c.CommandAsync("AUTH PLAIN " + Convert.ToBase64String(Encoding.UTF8.GetBytes("\0alice\0alice-pw")))).Code);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@example.com>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<user@example.org>")).Code);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await c.CommandAsync("Subject: tls\r\n\r\nhello\r\n.")).Code);
        Assert.Equal(221, (await c.CommandAsync("QUIT")).Code);

        var stored = Assert.Single(server.Committed());
        Assert.True(stored.Envelopes[0].Tls);
        Assert.Equal("alice", stored.Envelopes[0].AuthenticatedUser);
        var text = await File.ReadAllTextAsync(stored.MessagePath);
        Assert.Contains("with ESMTPSA id", text, StringComparison.Ordinal);
        Assert.Matches(@"\t\(TLSv1\.[23] TLS_\w+\)\r\n", text);
    }

    [Fact]
    public async Task Required_tls_refuses_mail_before_starttls()
    {
        await using var server = await SocketSmtpServer.StartAsync(_fixture.Configure(l => l with { Tls = _fixture.Tls(required: true) }));
        await using var c = await server.ConnectAsync();
        Assert.Equal(220, (await c.ReadReplyAsync()).Code);
        Assert.Equal(250, (await c.CommandAsync("EHLO client.example")).Code);
        Assert.Equal("530 5.7.0 Must issue a STARTTLS command first", (await c.CommandAsync("MAIL FROM:<a@example.com>")).Text);
    }

    /// <summary>CVE-2011-0411: commands pipelined after STARTTLS in plain text must not run under TLS.</summary>
    [Fact]
    public async Task Cve_2011_0411_bytes_after_starttls_are_discarded()
    {
        await using var server = await SocketSmtpServer.StartAsync(_fixture.Configure(l => l with { Tls = _fixture.Tls() }));
        await using var raw = await TlsFixture.ConnectAsync(server.EndPoint);
        Assert.Equal(220, (await raw.Client.ReadReplyAsync()).Code);
        Assert.Equal(250, (await raw.Client.CommandAsync("EHLO client.example")).Code);
        await raw.Client.SendAsync("STARTTLS\r\nRSET\r\n"); // one write
        Assert.Equal("220 2.0.0 Ready to start TLS", (await raw.Client.ReadReplyAsync()).Text);

        await raw.HandshakeAsync();

        // The first reply under TLS answers our EHLO, not the injected RSET.
        var reply = await raw.Client.CommandAsync("EHLO client.example");
        Assert.StartsWith($"250-{TestSettings.Hostname} Hello client.example", reply.Lines[0], StringComparison.Ordinal);
        Assert.Equal(string.Empty, await raw.Client.ReadAvailableAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task A_failed_handshake_closes_that_session_only()
    {
        await using var server = await SocketSmtpServer.StartAsync(_fixture.Configure(l => l with { Tls = _fixture.Tls() }));
        await using (var raw = await TlsFixture.ConnectAsync(server.EndPoint))
        {
            Assert.Equal(220, (await raw.Client.ReadReplyAsync()).Code);
            Assert.Equal(220, (await raw.Client.CommandAsync("STARTTLS")).Code);
            await raw.Client.SendAsync("this is not a ClientHello\r\n\r\n");
            Assert.True(await raw.Client.IsClosedAsync());
        }

        using var client = MailKitClient();
        await client.ConnectAsync("127.0.0.1", server.EndPoint.Port, SecureSocketOptions.StartTls);
        Assert.True(client.IsSecure);
        await client.DisconnectAsync(quit: true);
    }

    [Theory]
    [InlineData("PLAIN", "alice", "alice-pw")]
    [InlineData("LOGIN", "bob", "bob-pw")]
    public async Task MailKit_starttls_and_auth(string mechanism, string user, string password)
    {
        await using var server = await SocketSmtpServer.StartAsync(_fixture.Configure(l => l with
        {
            Tls = _fixture.Tls(required: true),
            Auth = TlsFixture.Auth(AuthMode.Required),
        }));
        using var client = MailKitClient();
        await client.ConnectAsync("127.0.0.1", server.EndPoint.Port, SecureSocketOptions.StartTls);
        Assert.True(client.IsSecure);
        Assert.Contains("PLAIN", client.AuthenticationMechanisms);
        Assert.Contains("LOGIN", client.AuthenticationMechanisms);
        client.AuthenticationMechanisms.RemoveWhere(m => m != mechanism);
        await Assert.ThrowsAsync<AuthenticationException>(() => client.AuthenticateAsync(user, "wrong"));
        await client.AuthenticateAsync(user, password);
        await client.SendAsync(Message($"{user}@example.com", "user@example.org"));
        await client.DisconnectAsync(quit: true);

        var stored = Assert.Single(server.Committed());
        Assert.Equal(user, stored.Envelopes[0].AuthenticatedUser);
        Assert.True(stored.Envelopes[0].Tls);
    }

    [Fact]
    public async Task MailKit_implicit_tls_with_auth()
    {
        await using var server = await SocketSmtpServer.StartAsync(_fixture.Configure(l => l with
        {
            Tls = _fixture.Tls(TlsMode.Implicit),
            Auth = TlsFixture.Auth(AuthMode.Required),
        }));
        using var client = MailKitClient();
        await client.ConnectAsync("127.0.0.1", server.EndPoint.Port, SecureSocketOptions.SslOnConnect);
        Assert.True(client.IsSecure);
        Assert.False(client.Capabilities.HasFlag(SmtpCapabilities.StartTLS));
        await client.AuthenticateAsync("alice", "alice-pw");
        await client.SendAsync(Message("alice@example.com", "user@example.org"));
        await client.DisconnectAsync(quit: true);

        var stored = Assert.Single(server.Committed());
        Assert.True(stored.Envelopes[0].Tls);
        Assert.Contains("with ESMTPSA", await File.ReadAllTextAsync(stored.MessagePath), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Implicit_tls_listener_drops_a_plain_text_client_and_keeps_serving()
    {
        await using var server = await SocketSmtpServer.StartAsync(_fixture.Configure(l => l with { Tls = _fixture.Tls(TlsMode.Implicit) }));
        await using (var plain = await server.ConnectAsync())
        {
            await plain.SendAsync("EHLO plain.example\r\n");
            Assert.True(await plain.IsClosedAsync());
        }

        await using var raw = await TlsFixture.ConnectAsync(server.EndPoint);
        await raw.HandshakeAsync();
        Assert.Equal(220, (await raw.Client.ReadReplyAsync()).Code);
        Assert.Equal(502, (await raw.Client.CommandAsync("STARTTLS")).Code);
    }

    [Fact]
    public async Task Renewed_certificate_files_are_used_without_a_restart()
    {
        await using var server = await SocketSmtpServer.StartAsync(_fixture.Configure(l => l with { Tls = _fixture.Tls(TlsMode.Implicit) }));
        string first;
        await using (var raw = await TlsFixture.ConnectAsync(server.EndPoint))
        {
            first = (await raw.HandshakeAsync()).Thumbprint;
        }

        using var renewed = TestCertificates.CreateSelfSigned(TestSettings.Hostname);
        TestCertificates.WritePem(renewed, _fixture.Directory.Path);
        File.SetLastWriteTimeUtc(_fixture.CertificatePath, DateTime.UtcNow.AddMinutes(1));
        File.SetLastWriteTimeUtc(_fixture.KeyPath, DateTime.UtcNow.AddMinutes(1));

        await using (var raw = await TlsFixture.ConnectAsync(server.EndPoint))
        {
            var second = (await raw.HandshakeAsync()).Thumbprint;
            Assert.NotEqual(first, second);
            Assert.Equal(renewed.Thumbprint, second);
        }

        // A broken renewal keeps the last good certificate.
        await File.WriteAllTextAsync(_fixture.KeyPath, "not a key");
        File.SetLastWriteTimeUtc(_fixture.KeyPath, DateTime.UtcNow.AddMinutes(2));
        await using (var raw = await TlsFixture.ConnectAsync(server.EndPoint))
        {
            Assert.Equal(renewed.Thumbprint, (await raw.HandshakeAsync()).Thumbprint);
        }
    }

    [Fact]
    public async Task Sni_chooses_the_certificate_by_name()
    {
        using var other = TestCertificates.CreateSelfSigned("*.other.example");
        var (otherCertificate, otherKey) = TestCertificates.WritePem(other, _fixture.Directory.Path, "other");
        await using var server = await SocketSmtpServer.StartAsync(_fixture.Configure(l => l with
        {
            Tls = _fixture.Tls(TlsMode.Implicit) with { AdditionalCertificates = [new CertificateFileSettings(otherCertificate, otherKey)] },
        }));

        async Task<X509Certificate2> Handshake(string name)
        {
            await using var raw = await TlsFixture.ConnectAsync(server.EndPoint);
            return await raw.HandshakeAsync(name);
        }

        Assert.Equal(other.Thumbprint, (await Handshake("mx.other.example")).Thumbprint);
        Assert.Contains(TestSettings.Hostname, (await Handshake(TestSettings.Hostname)).Subject, StringComparison.Ordinal);
        Assert.Contains(TestSettings.Hostname, (await Handshake("unknown.example")).Subject, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Client_certificates_are_recorded_in_the_received_header()
    {
        using var ca = TestCertificates.CreateSelfSigned("Test Client CA", ca: true);
        var caPath = _fixture.Directory.Combine("client-ca.pem");
        await File.WriteAllTextAsync(caPath, ca.ExportCertificatePem());
        using var clientCertificate = TestCertificates.CreateClient("client.example", ca);
        await using var server = await SocketSmtpServer.StartAsync(_fixture.Configure(l => l with
        {
            Tls = _fixture.Tls(TlsMode.Implicit) with { ClientCertificate = ClientCertificateMode.Optional, ClientCaPath = caPath },
        }));

        foreach (var certificate in new[] { clientCertificate, null })
        {
            await using var raw = await TlsFixture.ConnectAsync(server.EndPoint);
            await raw.HandshakeAsync(clientCertificate: certificate);
            var c = raw.Client;
            Assert.Equal(220, (await c.ReadReplyAsync()).Code);
            Assert.Equal(250, (await c.CommandAsync("EHLO client.example")).Code);
            Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@example.com>")).Code);
            Assert.Equal(250, (await c.CommandAsync("RCPT TO:<user@example.org>")).Code);
            Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
            Assert.Equal(250, (await c.CommandAsync("Subject: cert\r\n\r\nhello\r\n.")).Code);
            Assert.Equal(221, (await c.CommandAsync("QUIT")).Code);
        }

        var texts = server.Committed().Select(m => File.ReadAllText(m.MessagePath)).ToList();
        Assert.Contains(texts, t => t.Contains("client-cert=\"CN=client.example\" verified=yes", StringComparison.Ordinal));
        Assert.Contains(texts, t => !t.Contains("client-cert", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_verified_client_certificate_named_in_a_rule_may_relay()
    {
        using var ca = TestCertificates.CreateSelfSigned("Test Client CA", ca: true);
        using var otherCa = TestCertificates.CreateSelfSigned("Other CA", ca: true);
        var caPath = _fixture.Directory.Combine("client-ca.pem");
        await File.WriteAllTextAsync(caPath, ca.ExportCertificatePem());
        using var byCn = TestCertificates.CreateClient("relay.client.test", ca);
        using var bySan = TestCertificates.CreateClient("Relay Client", ca, "other.client.test", "RELAY.client.test");
        using var otherName = TestCertificates.CreateClient("other.client.test", ca);
        using var unverified = TestCertificates.CreateClient("relay.client.test", otherCa);

        // The rules as a config file has them (the parser is part of the test), without "from local".
        var configPath = _fixture.Directory.Combine("rules.yaml");
        await File.WriteAllTextAsync(configPath, $$"""
            server: { hostname: {{TestSettings.Hostname}} }
            queue: { path: {{_fixture.Directory.Combine("unused-queue")}} }
            listeners: [ { name: mx, address: "127.0.0.1:2525" } ]
            actions: { local: { maildir: { path: ./mail } }, outbound: { relay: {} } }
            rules:
              - { from: any, for: { domain: [example.org] }, action: local }
              - { from: { clientCert: [relay.client.test] }, for: any, action: outbound }
            """);
        var loaded = ConfigLoader.Load(configPath, new Dictionary<string, string>());
        Assert.True(loaded.Errors.Count == 0, string.Join("\n", loaded.Errors));
        var configure = _fixture.Configure(l => l with
        {
            Tls = _fixture.Tls() with { ClientCertificate = ClientCertificateMode.Optional, ClientCaPath = caPath },
        });
        await using var server = await SocketSmtpServer.StartAsync(s => configure(s) with { Router = loaded.Settings!.Router });

        async Task<SmtpCommandException?> SendAsync(X509Certificate2? certificate)
        {
            using var client = MailKitClient();
            if (certificate is not null)
            {
                client.ClientCertificates = [certificate];
            }

            await client.ConnectAsync("127.0.0.1", server.EndPoint.Port, SecureSocketOptions.StartTls);
            try
            {
                await client.SendAsync(Message("sender@client.test", "someone@remote.example"));
                return null;
            }
            catch (SmtpCommandException e)
            {
                return e;
            }
            finally
            {
                await client.DisconnectAsync(quit: true);
            }
        }

        Assert.Null(await SendAsync(byCn));
        Assert.Null(await SendAsync(bySan));
        Assert.Equal(2, server.Committed().Count);

        foreach (var refused in new[] { null, otherName, unverified })
        {
            var error = await SendAsync(refused);
            Assert.NotNull(error);
            Assert.Equal(SmtpStatusCode.MailboxUnavailable, error.StatusCode);
            Assert.Equal(SmtpErrorCode.RecipientNotAccepted, error.ErrorCode);
            Assert.Contains("Invalid recipient", error.Message, StringComparison.Ordinal);
        }

        Assert.Equal(2, server.Committed().Count);
    }
}
