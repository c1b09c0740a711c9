using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using SmtpServer.Core.Delivery;
using SmtpServer.Delivery.Relay;
using SmtpServer.Testing;

namespace SmtpServer.Delivery.Tests.Relay;

/// <summary>
/// Interop: the relay agent to a smarthost that is a real SMTP server nobody here wrote
/// (Python's aiosmtpd) which requires STARTTLS before anything else and AUTH over TLS. Proves
/// the STARTTLS upgrade, EHLO again under TLS, AUTH PLAIN and AUTH LOGIN against a real
/// implementation, byte-exact relaying over TLS, a refused login, and that tls: verify refuses
/// a self-signed certificate. The peer is installed by .ci/run; missing, the tests fail.
/// </summary>
public sealed class RelaySmarthostTlsAuthInteropTests : IDisposable
{
    private const string User = "relay-user@example.net";
    private const string Password = "pa:ss w0rd";

    /// <summary>argv: port certificate key output-dir excluded-mechanism(or -). Appends DATA bytes to data.bin, one line per AUTH to auth.log.</summary>
    private const string Server = """
        import ssl, sys
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword
        port, cert, key, out, exclude, user, password = sys.argv[1:8]
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        def authenticator(server, session, envelope, mechanism, data):
            ok = isinstance(data, LoginPassword) and data.login == user.encode() and data.password == password.encode()
            with open(out + '/auth.log', 'a') as f:
                f.write('%s %s %s tls=%s\n' % (mechanism, data.login.decode(), 'ok' if ok else 'refused', session.ssl is not None))
            return AuthResult(success=ok, handled=False, auth_data=data)
        class Handler:
            async def handle_DATA(self, server, session, envelope):
                with open(out + '/data.bin', 'ab') as f:
                    f.write(envelope.original_content)
                with open(out + '/session.log', 'a') as f:
                    f.write('login=%s tls=%s rcpt=%s\n' % (session.auth_data.login.decode(), session.ssl is not None, ','.join(envelope.rcpt_tos)))
                return '250 2.0.0 stored'
        c = Controller(Handler(), hostname='127.0.0.1', port=int(port), decode_data=False,
                       tls_context=context, require_starttls=True, authenticator=authenticator,
                       auth_required=True, auth_require_tls=True,
                       auth_exclude_mechanism=[] if exclude == '-' else [exclude])
        c.start()
        print('ready', flush=True)
        sys.stdin.read()
        c.stop()
        """;

    private readonly TempDirectory _dir = new("relay-smarthost");

    public void Dispose() => _dir.Dispose();

    /// <summary>Starts the smarthost with <paramref name="pem"/> (certificate and key files), or a self-signed certificate.</summary>
    private async Task<(PeerProcess Server, int Port)> StartServerAsync(string excludedMechanism = "-", (string Certificate, string Key)? pem = null)
    {
        InteropPeers.RequireAiosmtpd();
        var (certificate, key) = pem ?? InteropPeers.WriteSelfSignedPem(_dir.Path, "smarthost.test");
        var script = _dir.Combine("smarthost.py");
        await File.WriteAllTextAsync(script, Server);
        for (var attempt = 1; ; attempt++)
        {
            // A free port may be taken before Python binds it: then it exits, try another.
            var port = Dnsmasq.FreePort(System.Net.Sockets.SocketType.Stream);
            var server = PeerProcess.Start(InteropPeers.Python, stopsOnStdinClose: true, script, InteropPeers.Text(port), certificate, key, _dir.Path, excludedMechanism, User, Password);
            try
            {
                await server.WaitReadyAsync(TimeSpan.FromSeconds(20));
                return (server, port);
            }
            catch when (attempt < 3 && server.Process.HasExited)
            {
                await server.DisposeAsync();
            }
            catch
            {
                await server.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>
    /// What the host builds from <c>relay: { host: "smtp+tls://label@127.0.0.1:PORT", auth: secrets, tls: ... }</c>:
    /// the scheme says verify; <c>tls: required</c> keeps STARTTLS mandatory without verification.
    /// </summary>
    private static RelayAgent Agent(int port, RelayTlsMode? tlsOverride, string password = Password, X509Certificate2Collection? trustAnchors = null)
    {
        var host = Smarthost.Parse(new Uri($"smtp+tls://label@127.0.0.1:{port}"), out var tls);
        Assert.Equal(RelayTlsMode.Verify, tls);
        Assert.Equal("label", host.Label);
        return new RelayAgent("relay", new RelayAgentOptions
        {
            Hosts = [host with { Tls = tlsOverride ?? tls, Credentials = new NetworkCredential(User, password) }],
            TrustAnchors = trustAnchors,
            HeloName = "mx.us.test",
            ConnectTimeout = TimeSpan.FromSeconds(10),
            CommandTimeout = TimeSpan.FromSeconds(10),
            DataTimeout = TimeSpan.FromSeconds(20),
        }, TimeProvider.System, NullLogger<RelayAgent>.Instance);
    }

    private string[] AuthLog() => File.Exists(_dir.Combine("auth.log")) ? File.ReadAllLines(_dir.Combine("auth.log")) : [];

    [Theory]
    [InlineData("-", "PLAIN")]
    [InlineData("PLAIN", "LOGIN")]
    public async Task Starttls_and_auth_to_a_real_smarthost_delivers_byte_identical(string excluded, string mechanism)
    {
        var (server, port) = await StartServerAsync(excluded);
        await using (server)
        {
            await using var agent = Agent(port, RelayTlsMode.Required);
            var message = TestMessages.Write(_dir, TestMessages.Simple);
            var results = await agent.DeliverAsync(TestMessages.Request(message, "alice@example.org", "bob@example.org"), default);
            Assert.All(results, r => Assert.Equal(DeliveryStatus.Delivered, r.Status));
            Assert.Equal("127.0.0.1 [127.0.0.1]", results[0].RemoteMta);
            Assert.All(results, r => Assert.Equal(("127.0.0.1", "127.0.0.1"), (r.RemoteHost, r.RemoteAddress)));
            Assert.All(results, r => Assert.Matches(@"^TLSv1\.[23]$", r.TlsProtocol));

            // A second message rides the same authenticated TLS session.
            var second = await agent.DeliverAsync(TestMessages.Request(message, "carol@example.org"), default);
            Assert.Equal(DeliveryStatus.Delivered, second[0].Status);
            Assert.Equal(1, agent.ConnectionsOpened);

            var bytes = await File.ReadAllBytesAsync(message);
            var arrived = await File.ReadAllBytesAsync(_dir.Combine("data.bin"));
            Assert.Equal(bytes.Concat(bytes).ToArray(), arrived);
            Assert.Equal([$"{mechanism} {User} ok tls=True"], AuthLog());
            Assert.Equal(
                [$"login={User} tls=True rcpt=alice@example.org,bob@example.org", $"login={User} tls=True rcpt=carol@example.org"],
                await File.ReadAllLinesAsync(_dir.Combine("session.log")));
        }
    }

    [Fact]
    public async Task A_refused_login_fails_every_recipient_with_the_535_and_sends_no_mail()
    {
        var (server, port) = await StartServerAsync();
        await using (server)
        {
            await using var agent = Agent(port, RelayTlsMode.Required, password: "wrong");
            var message = TestMessages.Write(_dir, TestMessages.Simple);
            var results = await agent.DeliverAsync(TestMessages.Request(message, "alice@example.org", "bob@example.org"), default);

            // OpenSMTPD's mta_session.c: "AUTH rejected" is an mta_error, so the envelopes are
            // tempfailed and stay queued (a wrong password is the operator's to fix, not a
            // reason to bounce everyone's mail); the 535 is kept in the diagnostic.
            Assert.All(results, r => Assert.Equal(DeliveryStatus.TemporaryFailure, r.Status));
            Assert.All(results, r => Assert.Contains("535 5.7.8 Authentication credentials invalid (after AUTH)", r.Diagnostic, StringComparison.Ordinal));
            Assert.Equal([$"PLAIN {User} refused tls=True"], AuthLog());
            Assert.False(File.Exists(_dir.Combine("data.bin")));
        }
    }

    [Fact]
    public async Task Tls_verify_refuses_a_self_signed_certificate_and_says_why()
    {
        var (server, port) = await StartServerAsync();
        await using (server)
        {
            await using var agent = Agent(port, tlsOverride: null);
            var message = TestMessages.Write(_dir, TestMessages.Simple);
            var results = await agent.DeliverAsync(TestMessages.Request(message, "alice@example.org", "bob@example.org"), default);
            Assert.All(results, r => Assert.Equal(DeliveryStatus.TemporaryFailure, r.Status));
            Assert.All(results, r => Assert.Equal("4.7.5", r.EnhancedStatus));
            Assert.Contains("TLS handshake with 127.0.0.1 [127.0.0.1] failed", results[0].Diagnostic, StringComparison.Ordinal);
            Assert.Contains("certificate", results[0].Diagnostic, StringComparison.OrdinalIgnoreCase);

            // Never downgraded to plaintext, never authenticated, nothing sent.
            Assert.Equal(1, agent.ConnectionsOpened);
            Assert.Empty(AuthLog());
            Assert.False(File.Exists(_dir.Combine("data.bin")));
        }
    }

    [Fact]
    public async Task Tls_verify_with_a_ca_file_trusts_the_private_ca_of_a_real_smarthost()
    {
        // The certificate Python serves is issued by a CA made here; relay.caFile names it.
        using var ca = TestPki.Create("Interop Test CA");
        using var leaf = ca.Issue("smarthost.test", "127.0.0.1");
        var (server, port) = await StartServerAsync(pem: TestPki.WritePem(leaf, _dir.Path, "leaf"));
        await using (server)
        {
            var anchors = new X509Certificate2Collection();
            anchors.ImportFromPemFile(ca.WriteCaFile(_dir.Path));
            await using var agent = Agent(port, tlsOverride: null, trustAnchors: anchors);
            var message = TestMessages.Write(_dir, TestMessages.Simple);
            var results = await agent.DeliverAsync(TestMessages.Request(message, "alice@example.org"), default);

            Assert.Equal(DeliveryStatus.Delivered, results[0].Status);
            Assert.Equal(1, agent.ConnectionsOpened);
            Assert.Equal([$"PLAIN {User} ok tls=True"], AuthLog());
            Assert.Equal(await File.ReadAllBytesAsync(message), await File.ReadAllBytesAsync(_dir.Combine("data.bin")));
        }
    }
}
