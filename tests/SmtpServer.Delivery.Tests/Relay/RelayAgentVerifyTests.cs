using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using SmtpServer.Core.Delivery;
using SmtpServer.Delivery.Relay;
using SmtpServer.Testing;
using static SmtpServer.Delivery.Tests.Relay.RelayPeerScripts;

namespace SmtpServer.Delivery.Tests.Relay;

/// <summary>
/// Verified TLS against a scripted STARTTLS peer whose certificate comes from a CA made in the
/// test: relay.caFile is the only trust anchor, the name checked is the smarthost's or the MX
/// host's, a failed check is a temporary failure with no plaintext fallback, and
/// relay.tlsPolicy picks the mode per recipient domain (MX names served by dnsmasq).
/// </summary>
public sealed class RelayAgentVerifyTests : IDisposable
{
    private readonly TempDirectory _dir = new("relay-verify");
    private readonly TestPki _ca = TestPki.Create("Relay Test CA");
    private readonly ConcurrentQueue<string> _events = new();
    private readonly ConcurrentQueue<AcceptedMessage> _delivered = new();

    public void Dispose()
    {
        _ca.Dispose();
        _dir.Dispose();
    }

    /// <summary>What the host builds from relay.caFile: the PEM bundle, read back from the file.</summary>
    private static X509Certificate2Collection CaFile(string path)
    {
        var anchors = new X509Certificate2Collection();
        anchors.ImportFromPemFile(path);
        return anchors;
    }

    /// <summary>The peer's account of its sessions, once it has <paramref name="count"/> entries (its handler may end after our client returned).</summary>
    private async Task<string[]> EventsAsync(int count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (_events.Count < count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        return [.. _events];
    }

    private ScriptedLinePeer Peer(X509Certificate2 certificate) => new(StartTlsPeer(certificate, _events.Enqueue, _delivered.Enqueue));

    private static RelayAgent SmarthostAgent(int port, X509Certificate2Collection? anchors) => new("relay", new RelayAgentOptions
    {
        Hosts = [Smarthost.Parse(new Uri($"smtp+tls://127.0.0.1:{port}"), out _)],
        TrustAnchors = anchors,
        HeloName = Helo,
        ConnectTimeout = TimeSpan.FromSeconds(10),
        CommandTimeout = TimeSpan.FromSeconds(10),
    }, TimeProvider.System, NullLogger<RelayAgent>.Instance);

    [Fact]
    public async Task Verify_succeeds_against_the_ca_file()
    {
        using var leaf = _ca.Issue("smarthost.test", "127.0.0.1");
        await using var peer = Peer(leaf);
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = SmarthostAgent(peer.Port, CaFile(_ca.WriteCaFile(_dir.Path)));

        var results = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org"), default);

        Assert.Equal(DeliveryStatus.Delivered, results[0].Status);
        await agent.DisposeAsync();
        Assert.Equal(["tls"], await EventsAsync(1));
        Assert.True(Assert.Single(_delivered).Tls);
        Assert.Empty(peer.Errors);
    }

    [Theory]
    [InlineData("wrong CA", "errors in the certificate chain")]
    [InlineData("wrong name", "RemoteCertificateNameMismatch")]
    [InlineData("system store", "errors in the certificate chain")]
    public async Task A_failed_verification_is_temporary_and_never_falls_back_to_plaintext(string problem, string reason)
    {
        using var other = TestPki.Create("Some Other CA");
        using var leaf = problem == "wrong name" ? _ca.Issue("other.test") : _ca.Issue("smarthost.test", "127.0.0.1");
        await using var peer = Peer(leaf);
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        X509Certificate2Collection? anchors = problem switch
        {
            "wrong CA" => CaFile(other.WriteCaFile(_dir.Path, "other.pem")),
            "system store" => null,
            _ => CaFile(_ca.WriteCaFile(_dir.Path)),
        };
        await using var agent = SmarthostAgent(peer.Port, anchors);

        var results = await agent.DeliverAsync(TestMessages.Request(message, "a@example.org", "b@example.org"), default);

        Assert.All(results, r => Assert.Equal(DeliveryStatus.TemporaryFailure, r.Status));
        Assert.All(results, r => Assert.Equal("4.7.5", r.EnhancedStatus));
        Assert.True(results[0].Diagnostic!.Contains(reason, StringComparison.Ordinal), results[0].Diagnostic);
        await agent.DisposeAsync();
        Assert.Equal(1, agent.ConnectionsOpened);
        Assert.Equal(1, peer.Connections);
        Assert.Equal(["tls refused by the client"], await EventsAsync(1));
        Assert.Empty(_delivered);
    }

    [Fact]
    public async Task Tls_policy_picks_verify_for_one_domain_opportunistic_for_another_and_checks_the_mx_name()
    {
        // Every MX is this one peer; its certificate names mx.secure.test only.
        var (dns, dnsPort) = await Dnsmasq.StartAsync(
            "--mx-host=secure.test,mx.secure.test,10", "--host-record=mx.secure.test,127.0.0.1",
            "--mx-host=plain.test,mx.plain.test,10", "--host-record=mx.plain.test,127.0.0.1",
            "--mx-host=a.strict.test,mx.a.strict.test,10", "--host-record=mx.a.strict.test,127.0.0.1");
        await using var dnsOwner = dns;
        using var leaf = _ca.Issue("mx.secure.test");
        await using var peer = Peer(leaf);
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        await using var agent = new RelayAgent("relay", new RelayAgentOptions
        {
            HeloName = Helo,
            DnsServers = [new IPEndPoint(IPAddress.Loopback, dnsPort)],
            DnsTimeout = TimeSpan.FromSeconds(2),
            MxPort = peer.Port,
            Tls = RelayTlsMode.Opportunistic,
            TlsPolicy = new RelayTlsPolicy([new("secure.test", RelayTlsMode.Verify), new("*.strict.test", RelayTlsMode.Verify)]),
            TrustAnchors = CaFile(_ca.WriteCaFile(_dir.Path)),
            ConnectTimeout = TimeSpan.FromSeconds(10),
            CommandTimeout = TimeSpan.FromSeconds(10),
        }, TimeProvider.System, NullLogger<RelayAgent>.Instance);

        // verify: the certificate chains to the CA file and names the MX host.
        var secure = await agent.DeliverAsync(TestMessages.Request(message, "a@secure.test"), default);
        Assert.Equal(DeliveryStatus.Delivered, secure[0].Status);

        // opportunistic (the default): TLS without looking at the name.
        var plain = await agent.DeliverAsync(TestMessages.Request(message, "b@plain.test"), default);
        Assert.Equal(DeliveryStatus.Delivered, plain[0].Status);

        // verify by the wildcard: mx.a.strict.test is not the certificate's name.
        var strict = await agent.DeliverAsync(TestMessages.Request(message, "c@a.strict.test"), default);
        Assert.Equal(DeliveryStatus.TemporaryFailure, strict[0].Status);
        Assert.Equal("4.7.5", strict[0].EnhancedStatus);
        Assert.Contains("mx.a.strict.test [127.0.0.1]", strict[0].Diagnostic, StringComparison.Ordinal);
        Assert.Contains("RemoteCertificateNameMismatch", strict[0].Diagnostic, StringComparison.Ordinal);

        await agent.DisposeAsync();
        Assert.Equal(["tls", "tls", "tls refused by the client"], await EventsAsync(3));
        Assert.Equal(["<a@secure.test>", "<b@plain.test>"], _delivered.Select(d => d.Recipients.Single()));
        Assert.All(_delivered, d => Assert.True(d.Tls));
        Assert.Equal(3, peer.Connections);
        Assert.Empty(peer.Errors);
    }

    [Theory]
    [InlineData("example.org", "Verify")]
    [InlineData("EXAMPLE.org.", "Verify")]
    [InlineData("mx.example.org", null)]
    [InlineData("old.legacy.example", "None")]
    [InlineData("a.b.legacy.example", "None")]
    [InlineData("legacy.example", null)]
    [InlineData("x.special.legacy.example", "Required")]
    [InlineData("special.legacy.example", "Opportunistic")]
    public void Tls_policy_matches_exact_names_and_wildcards_below_them(string domain, string? mode)
    {
        var policy = new RelayTlsPolicy(
        [
            new("example.org", RelayTlsMode.Verify),
            new("*.legacy.example", RelayTlsMode.None),
            new("*.special.legacy.example", RelayTlsMode.Required),
            new("special.legacy.example", RelayTlsMode.Opportunistic),
        ]);
        Assert.Equal(mode, policy.ModeFor(domain)?.ToString());
    }
}
