using System.Net;
using System.Net.Sockets;

namespace SmtpServer.Testing;

/// <summary>
/// A real DNS server for interop tests: dnsmasq (from dnsmasq-base, which .ci/run installs) on a
/// free loopback port, serving only the records a test gives it. Missing, the test fails, never
/// skips.
/// </summary>
public static class Dnsmasq
{
    public const string Path = "/usr/sbin/dnsmasq";

    public static void Require()
    {
        if (!File.Exists(Path))
        {
            throw new InvalidOperationException("dnsmasq is missing: run .ci/run, which installs dnsmasq-base");
        }
    }

    /// <summary>A loopback port that was free when asked (UDP for a DNS server, TCP for a listener).</summary>
    public static int FreePort(SocketType type)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, type, type == SocketType.Dgram ? ProtocolType.Udp : ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    /// <summary>
    /// Starts dnsmasq on 127.0.0.1 with only the given records, authoritative for .test (an
    /// unknown name there is NXDOMAIN, not REFUSED), and waits until it answers. More local zones
    /// come as records too (<c>--local=/127.in-addr.arpa/</c>).
    /// </summary>
    public static async Task<(PeerProcess Process, int Port)> StartAsync(params string[] records)
    {
        Require();

        // The free port is only free when we looked: another test's socket may take it before
        // dnsmasq binds it. dnsmasq then exits at once; try again on another port.
        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort(SocketType.Dgram);
            string[] args =
            [
                "--no-daemon", "--conf-file=/dev/null", $"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces",
                "--no-resolv", "--no-hosts", "--local=/test/", "--user=root", .. records,
            ];
            var dns = PeerProcess.Start(Path, args);
            try
            {
                if (await WaitForDnsAsync(port, dns, lastAttempt: attempt == 3))
                {
                    return (dns, port);
                }
            }
            catch
            {
                await dns.DisposeAsync();
                throw;
            }

            await dns.DisposeAsync();
        }
    }

    /// <summary>
    /// Sends a minimal query every 100 ms until dnsmasq answers (at most 10 s). False when it
    /// exited early (port taken) and this is not the last attempt.
    /// </summary>
    private static async Task<bool> WaitForDnsAsync(int port, PeerProcess dns, bool lastAttempt)
    {
        byte[] query = [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, (byte)'p', (byte)'r', (byte)'o', (byte)'b', (byte)'e', 4, (byte)'t', (byte)'e', (byte)'s', (byte)'t', 0, 0, 1, 0, 1];
        using var udp = new UdpClient(AddressFamily.InterNetwork);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (dns.Process.HasExited)
            {
                await dns.Process.WaitForExitAsync();
                return lastAttempt ? throw new InvalidOperationException($"dnsmasq exited ({dns.Process.ExitCode}): {dns.Output}") : false;
            }

            try
            {
                await udp.SendAsync(query, new IPEndPoint(IPAddress.Loopback, port));
                using var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
                await udp.ReceiveAsync(wait.Token);
                return true;
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
                await Task.Delay(50);
            }
        }

        throw new TimeoutException("dnsmasq never answered: " + dns.Output);
    }
}
