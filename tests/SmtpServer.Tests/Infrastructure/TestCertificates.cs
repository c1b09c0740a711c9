using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

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
    public static X509Certificate2 CreateClient(string name, X509Certificate2 issuer, params string[] dnsNames)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        if (dnsNames.Length > 0)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var dnsName in dnsNames)
            {
                san.AddDnsName(dnsName);
            }

            request.CertificateExtensions.Add(san.Build());
        }

        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        var serial = RandomNumberGenerator.GetBytes(8);
        using var issued = request.Create(issuer, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(10), serial);
        using var withKey = issued.CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>Writes certificate.pem and key.pem (PKCS#8) into <paramref name="directory"/>; returns their paths.</summary>
    public static (string Certificate, string Key) WritePem(X509Certificate2 certificate, string directory, string prefix = "tls")
    {
        Directory.CreateDirectory(directory);
        var certificatePath = Path.Combine(directory, prefix + ".crt");
        var keyPath = Path.Combine(directory, prefix + ".key");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        using var key = certificate.GetECDsaPrivateKey()!;
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certificatePath, keyPath);
    }

    public static (string Certificate, string Key) Write(string directory, string dnsName = TestSettings.Hostname, string prefix = "tls")
    {
        using var certificate = CreateSelfSigned(dnsName);
        return WritePem(certificate, directory, prefix);
    }
}
