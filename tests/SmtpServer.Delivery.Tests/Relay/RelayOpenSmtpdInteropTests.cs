using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using SmtpServer.Core.Delivery;
using SmtpServer.Delivery.Relay;
using SmtpServer.Testing;

namespace SmtpServer.Delivery.Tests.Relay;

/// <summary>
/// Interop: MX delivery through dnsmasq to Debian's OpenSMTPD (plaintext; it has no pki here)
/// delivering into a maildir. OpenSMTPD runs privately as in tests/load/smtp-load.sh: its own
/// mount namespace with /var/spool, /run and /etc/resolv.conf bind-mounted from a temp
/// directory, so its compiled-in paths touch nothing of the machine's. Needs root (it always
/// does) and the peers .ci/run installs; missing, the test fails.
/// </summary>
public sealed class RelayOpenSmtpdInteropTests : IDisposable
{
    private readonly TempDirectory _dir = new("relay-opensmtpd");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Mail_for_an_mx_domain_arrives_at_opensmtpd_identical_after_its_own_headers()
    {
        Assert.True(File.Exists(InteropPeers.OpenSmtpd), "OpenSMTPD is missing: run .ci/run, which installs opensmtpd");
        Assert.True(Environment.UserName == "root", "OpenSMTPD must run as root (in a private mount namespace): run the tests as root, as .ci/run does in CI");

        var smtpPort = Dnsmasq.FreePort(SocketType.Stream);
        var work = _dir.Path;
        var mail = _dir.Combine("mail");
        Directory.CreateDirectory(_dir.Combine("spool"));
        Directory.CreateDirectory(_dir.Combine("run"));
        Directory.CreateDirectory(mail);
        File.SetUnixFileMode(work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        File.SetUnixFileMode(mail, (UnixFileMode)0x3FF | UnixFileMode.StickyBit); // 1777: the virtual user (nobody) makes its maildir
        await File.WriteAllTextAsync(_dir.Combine("resolv.conf"), "nameserver 127.0.0.1\nlookup file\n");
        await File.WriteAllTextAsync(_dir.Combine("smtpd.conf"), $"""
            table vusers {"{"} "@dest.test" = "nobody" {"}"}
            listen on 127.0.0.1 port {smtpPort}
            action "local" maildir "{mail}/%{"{"}user.username{"}"}/Maildir" virtual <vusers>
            match from any for domain "dest.test" action "local"

            """);

        var (dns, dnsPort) = await Dnsmasq.StartAsync("--mx-host=dest.test,mx.dest.test,10", "--host-record=mx.dest.test,127.0.0.1");
        await using (dns)
        {
            var smtpd = PeerProcess.Start("/usr/bin/unshare", "-m", "--propagation", "private", "/bin/bash", "-c",
                $"mount --bind '{work}/spool' /var/spool && mount --bind '{work}/run' /run && mount --bind '{work}/resolv.conf' /etc/resolv.conf && exec {InteropPeers.OpenSmtpd} -d -f '{work}/smtpd.conf'");
            await using (smtpd)
            {
                await WaitForPortAsync(smtpPort, smtpd);
                await using var agent = new RelayAgent("relay", new RelayAgentOptions
                {
                    HeloName = "mx.us.test",
                    DnsServers = [new IPEndPoint(IPAddress.Loopback, dnsPort)],
                    DnsTimeout = TimeSpan.FromSeconds(2),
                    MxPort = smtpPort,
                    ConnectTimeout = TimeSpan.FromSeconds(10),
                    CommandTimeout = TimeSpan.FromSeconds(30),
                }, TimeProvider.System, NullLogger<RelayAgent>.Instance);

                // With a Date header, OpenSMTPD adds nothing inside the message (without one it
                // appends its own Date: to the header block).
                var content = TestMessages.Simple.Replace("Message-ID: <1@example.net>\r\n", "Message-ID: <1@example.net>\r\nDate: Thu, 26 Nov 2026 08:00:00 +0000\r\n", StringComparison.Ordinal);
                var message = TestMessages.Write(_dir, content);
                var results = await agent.DeliverAsync(TestMessages.Request(message, "alice@dest.test"), default);
                Assert.True(results[0].Status == DeliveryStatus.Delivered, $"{results[0].Diagnostic}\n{smtpd.Output}");
                Assert.Equal("mx.dest.test [127.0.0.1]", results[0].RemoteMta);

                var delivered = await WaitForMaildirAsync(Path.Combine(mail, "nobody", "Maildir", "new"), smtpd);
                var sent = await File.ReadAllTextAsync(message);

                // OpenSMTPD keeps messages with LF line ends and prepends its own trace headers.
                var expected = sent.Replace("\r\n", "\n", StringComparison.Ordinal);
                Assert.EndsWith(expected, delivered, StringComparison.Ordinal);
                var added = delivered[..^expected.Length];
                Assert.StartsWith("Return-Path: <sender@example.net>\nDelivered-To: alice@dest.test\nReceived: from mx.us.test (", added, StringComparison.Ordinal);
                Assert.All(added.Split('\n', StringSplitOptions.RemoveEmptyEntries), line =>
                    Assert.True(line.StartsWith("Return-Path: ", StringComparison.Ordinal) || line.StartsWith("Delivered-To: ", StringComparison.Ordinal)
                        || line.StartsWith("Received: ", StringComparison.Ordinal) || line.StartsWith('\t') || line.StartsWith(' '), "not a header OpenSMTPD adds: " + line));
            }
        }
    }

    private static async Task WaitForPortAsync(int port, PeerProcess process)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            Assert.False(process.Process.HasExited, "OpenSMTPD exited: " + process.Output);
            using var client = new TcpClient();
            try
            {
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }

        Assert.Fail("OpenSMTPD never listened: " + process.Output);
    }

    private static async Task<string> WaitForMaildirAsync(string directory, PeerProcess process)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var files = Directory.Exists(directory) ? Directory.GetFiles(directory) : [];
            if (files.Length > 0)
            {
                Assert.Single(files);
                return Encoding.UTF8.GetString(await File.ReadAllBytesAsync(files[0]));
            }

            await Task.Delay(100);
        }

        Assert.Fail("nothing arrived in " + directory + ": " + process.Output);
        return string.Empty;
    }
}
