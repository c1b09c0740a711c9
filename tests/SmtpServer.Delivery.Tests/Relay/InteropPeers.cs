using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace SmtpServer.Delivery.Tests.Relay;

/// <summary>
/// Real peers for the relay agent's interop tests (dnsmasq, Python's aiosmtpd, OpenSMTPD):
/// presence checks that fail (never skip) with a pointer to .ci/run, free loopback ports,
/// child processes that are always killed, and a self-signed certificate written as PEM.
/// </summary>
internal static class InteropPeers
{
    public const string Dnsmasq = "/usr/sbin/dnsmasq";

    /// <summary>Debian's python3 (aiosmtpd is installed for it); the pyenv python3 on PATH is another one.</summary>
    public const string Python = "/usr/bin/python3";

    public const string OpenSmtpd = "/usr/sbin/smtpd";

    public static void RequireDnsmasq() =>
        Assert.True(File.Exists(Dnsmasq), "dnsmasq is missing: run .ci/run, which installs dnsmasq-base");

    public static void RequireAiosmtpd()
    {
        Assert.True(File.Exists(Python), "/usr/bin/python3 is missing: run .ci/run, which installs python3 and python3-aiosmtpd");
        using var check = PeerProcess.Start(Python, "-c", "import aiosmtpd");
        Assert.True(check.Process.WaitForExit(20_000) && check.Process.ExitCode == 0, "Python's aiosmtpd is missing: run .ci/run, which installs python3-aiosmtpd");
    }

    public static int FreePort(SocketType type)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, type, type == SocketType.Dgram ? ProtocolType.Udp : ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    public static string Text(int port) => port.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Starts dnsmasq on 127.0.0.1 with only the given records, authoritative for .test (an
    /// unknown name there is NXDOMAIN, not REFUSED), and waits until it answers.
    /// </summary>
    public static async Task<(PeerProcess Process, int Port)> StartDnsmasqAsync(params string[] records)
    {
        RequireDnsmasq();

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
            var dns = PeerProcess.Start(Dnsmasq, args);
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
                Assert.False(lastAttempt, $"dnsmasq exited ({dns.Process.ExitCode}): {dns.Output}");
                return false;
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

        Assert.Fail("dnsmasq never answered: " + dns.Output);
        return false;
    }

    /// <summary>A self-signed ECDSA certificate for <paramref name="dnsName"/> written as PEM; returns (certificate, key) paths.</summary>
    public static (string Certificate, string Key) WriteSelfSignedPem(string directory, string dnsName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={dnsName}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(dnsName);
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        return SmtpServer.Testing.TestPki.WritePem(certificate, directory, "peer");
    }
}

/// <summary>A child process whose output is collected; disposing closes its stdin, then kills it (whole tree) after 5 s.</summary>
internal sealed class PeerProcess : IAsyncDisposable, IDisposable
{
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly bool _stopsOnStdinClose;

    private PeerProcess(Process process, bool stopsOnStdinClose)
    {
        Process = process;
        _stopsOnStdinClose = stopsOnStdinClose;
    }

    public Process Process { get; }

    /// <summary>Everything the process wrote so far (stdout and stderr), for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static PeerProcess Start(string file, params string[] args) => Start(file, stopsOnStdinClose: false, args);

    /// <summary>Starts <paramref name="file"/>; with <paramref name="stopsOnStdinClose"/> disposing first closes stdin and waits up to 5 s, otherwise it kills at once.</summary>
    public static PeerProcess Start(string file, bool stopsOnStdinClose, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var process = new Process { StartInfo = info };
        var peer = new PeerProcess(process, stopsOnStdinClose);
        process.OutputDataReceived += (_, e) => peer.Collect(e.Data);
        process.ErrorDataReceived += (_, e) => peer.Collect(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return peer;
    }

    /// <summary>Waits for the line "ready" (bounded), failing with the process's output otherwise.</summary>
    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        var exited = Process.WaitForExitAsync();
        var first = await Task.WhenAny(_ready.Task, exited, Task.Delay(timeout));
        Assert.True(first == _ready.Task, $"{Process.StartInfo.FileName} did not become ready: {Output}");
    }

    private void Collect(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }

        if (line == "ready")
        {
            _ready.TrySetResult(line);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!Process.HasExited)
            {
                Process.StandardInput.Close();
                using var wait = new CancellationTokenSource(_stopsOnStdinClose ? TimeSpan.FromSeconds(5) : TimeSpan.Zero);
                try
                {
                    await Process.WaitForExitAsync(wait.Token);
                }
                catch (OperationCanceledException)
                {
                    Process.Kill(entireProcessTree: true);
                    await Process.WaitForExitAsync();
                }
            }
        }
        catch (InvalidOperationException)
        {
            // Never started or already gone.
        }
        catch (IOException)
        {
            // stdin already closed by the process exiting.
        }

        Process.Dispose();
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
