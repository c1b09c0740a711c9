using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SmtpServer.Testing;

namespace SmtpServer.Tests.Infrastructure;

/// <summary>Certificates made at test time and written as PEM; no key is ever committed.</summary>
internal static class TestCertificates
{
    public static X509Certificate2 CreateSelfSigned(string dnsName, DateTimeOffset? notBefore = null, bool ca = false)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={dnsName}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(dnsName);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(ca, false, 0, ca));
        if (ca)
        {
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.DigitalSignature, true));
        }

        var start = notBefore ?? DateTimeOffset.UtcNow.AddDays(-1);
        return request.CreateSelfSigned(start, start.AddDays(30));
    }

    /// <summary>A client certificate (clientAuth) issued by <paramref name="issuer"/>.</summary>
    public static X509Certificate2 CreateClient(string name, X509Certificate2 issuer, params string[] dnsNames) =>
        TestPki.Issue(issuer, name, TestPki.ClientAuth, dnsNames);

    /// <summary>Writes PREFIX.crt and PREFIX.key (PKCS#8) into <paramref name="directory"/>; returns their paths.</summary>
    public static (string Certificate, string Key) WritePem(X509Certificate2 certificate, string directory, string prefix = "tls") =>
        TestPki.WritePem(certificate, directory, prefix);

    public static (string Certificate, string Key) Write(string directory, string dnsName = TestSettings.Hostname, string prefix = "tls")
    {
        using var certificate = CreateSelfSigned(dnsName);
        return WritePem(certificate, directory, prefix);
    }
}
