using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SmtpServer.Testing;

namespace SmtpServer.Delivery.Tests.Relay;

/// <summary>
/// Real peers for the relay agent's interop tests (Python's aiosmtpd, OpenSMTPD; dnsmasq and
/// <see cref="PeerProcess"/> are in the shared kit):
/// presence checks that fail (never skip) with a pointer to .ci/run, and a self-signed
/// certificate written as PEM.
/// </summary>
internal static class InteropPeers
{
    /// <summary>Debian's python3 (aiosmtpd is installed for it); the pyenv python3 on PATH is another one.</summary>
    public const string Python = "/usr/bin/python3";

    public const string OpenSmtpd = "/usr/sbin/smtpd";

    public static void RequireAiosmtpd()
    {
        Assert.True(File.Exists(Python), "/usr/bin/python3 is missing: run .ci/run, which installs python3 and python3-aiosmtpd");
        using var check = PeerProcess.Start(Python, "-c", "import aiosmtpd");
        Assert.True(check.Process.WaitForExit(20_000) && check.Process.ExitCode == 0, "Python's aiosmtpd is missing: run .ci/run, which installs python3-aiosmtpd");
    }

    public static string Text(int port) => port.ToString(CultureInfo.InvariantCulture);

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
