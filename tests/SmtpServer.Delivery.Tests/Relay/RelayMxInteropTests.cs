using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using SmtpServer.Core.Delivery;
using SmtpServer.Delivery.Relay;
using SmtpServer.Testing;

namespace SmtpServer.Delivery.Tests.Relay;

/// <summary>
/// Interop: MX delivery through a real DNS server (dnsmasq serving MX dest.test → mx.dest.test →
/// 127.0.0.1) to a real SMTP server (Python's aiosmtpd writing the received DATA bytes to a
/// file). Proves MX lookup with configurable servers, the relay.port test knob, and byte-exact
/// relaying of the spool file. Skipped (passes vacuously) when dnsmasq or aiosmtpd are missing;
/// .ci/run installs them.
/// </summary>
public sealed class RelayMxInteropTests : IDisposable
{
    private const string Sink = """
        import sys
        from aiosmtpd.controller import Controller
        class Handler:
            async def handle_DATA(self, server, session, envelope):
                with open(sys.argv[2], 'ab') as f:
                    f.write(envelope.original_content)
                return '250 2.0.0 stored'
        c = Controller(Handler(), hostname='127.0.0.1', port=int(sys.argv[1]), decode_data=False)
        c.start()
        print('ready', flush=True)
        sys.stdin.read()
        c.stop()
        """;

    private readonly TempDirectory _dir = new("relay-interop");

    public void Dispose() => _dir.Dispose();

    private static Process Start(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return Process.Start(info)!;
    }

    [Fact]
    public async Task Mail_for_an_mx_domain_arrives_byte_identical_at_aiosmtpd_via_dnsmasq()
    {
        // The peers are installed by .ci/run; a missing one is a failure, never a silent pass.
        Assert.True(File.Exists("/usr/sbin/dnsmasq"), "dnsmasq is missing: run .ci/run, which installs dnsmasq-base");
        Assert.True(File.Exists("/usr/bin/python3"), "/usr/bin/python3 is missing: run .ci/run, which installs python3 and aiosmtpd");

        // Started through the shared helper, which waits until dnsmasq answers (a query sent
        // before it bound its port timed out under load).
        var (dns, dnsPort) = await Dnsmasq.StartAsync("--mx-host=dest.test,mx.dest.test,10", "--host-record=mx.dest.test,127.0.0.1");
        await using var dnsOwner = dns;
        var smtpPort = Dnsmasq.FreePort(SocketType.Stream);
        var received = _dir.Combine("received.bin");
        var script = _dir.Combine("sink.py");
        await File.WriteAllTextAsync(script, Sink);
        using var sink = Start("/usr/bin/python3", script, smtpPort.ToString(System.Globalization.CultureInfo.InvariantCulture), received);
        try
        {
            Assert.Equal("ready", await sink.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20)));
            await using var agent = new RelayAgent("relay", new RelayAgentOptions
            {
                HeloName = "mx.us.test",
                DnsServers = [new IPEndPoint(IPAddress.Loopback, dnsPort)],
                MxPort = smtpPort,
                DnsTimeout = TimeSpan.FromSeconds(2),
            }, TimeProvider.System, NullLogger<RelayAgent>.Instance);

            var message = TestMessages.Write(_dir, TestMessages.Simple);
            var results = await agent.DeliverAsync(TestMessages.Request(message, "alice@dest.test", "bob@dest.test"), default);
            Assert.All(results, r => Assert.Equal(DeliveryStatus.Delivered, r.Status));
            Assert.Equal($"mx.dest.test [127.0.0.1]", results[0].RemoteMta);
            Assert.Equal(await File.ReadAllBytesAsync(message), await File.ReadAllBytesAsync(received));

            // Ten more messages share the session (connection reuse).
            for (var i = 0; i < 10; i++)
            {
                var more = await agent.DeliverAsync(TestMessages.Request(message, "carol@dest.test"), default);
                Assert.Equal(DeliveryStatus.Delivered, more[0].Status);
            }

            Assert.Equal(1, agent.ConnectionsOpened);
        }
        finally
        {
            sink.StandardInput.Close();
            if (!sink.WaitForExit(5000))
            {
                sink.Kill(entireProcessTree: true);
            }

        }
    }
}
