using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SmtpServer.Testing;

/// <summary>
/// A private CA made at test time (CertificateRequest), issuing certificates for given names,
/// and PEM writing; no key is ever committed. Issued certificates are re-imported from
/// PKCS#12 so that SslStream can use their keys.
/// </summary>
public sealed class TestPki : IDisposable
{
    public const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    public const string ClientAuth = "1.3.6.1.5.5.7.3.2";

    private TestPki(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        Certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
    }

    /// <summary>The CA certificate, with its key.</summary>
    public X509Certificate2 Certificate { get; }

    public static TestPki Create(string name) => new(name);

    /// <summary>Writes the CA certificate as PEM (what a caFile holds); returns the path.</summary>
    public string WriteCaFile(string directory, string fileName = "ca.pem")
    {
        var path = Path.Combine(directory, fileName);
        File.WriteAllText(path, Certificate.ExportCertificatePem());
        return path;
    }

    /// <summary>A server certificate (serverAuth) for these DNS names and IP addresses, the first one its CN.</summary>
    public X509Certificate2 Issue(params string[] names) => Issue(Certificate, names[0], ServerAuth, names);

    /// <summary>A certificate for <paramref name="subjectName"/> issued by <paramref name="issuer"/> (which has its key).</summary>
    /// <param name="extendedKeyUsage">The EKU OID: <see cref="ServerAuth"/> or <see cref="ClientAuth"/>.</param>
    /// <param name="names">Subject alternative names: IP addresses where they parse as one, DNS names otherwise.</param>
    public static X509Certificate2 Issue(X509Certificate2 issuer, string subjectName, string extendedKeyUsage, IReadOnlyList<string> names)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        ArgumentNullException.ThrowIfNull(names);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={subjectName}", key, HashAlgorithmName.SHA256);
        if (names.Count > 0)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var name in names)
            {
                if (IPAddress.TryParse(name, out var address))
                {
                    san.AddIpAddress(address);
                }
                else
                {
                    san.AddDnsName(name);
                }
            }

            request.CertificateExtensions.Add(san.Build());
        }

        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(extendedKeyUsage)], false));
        var serial = RandomNumberGenerator.GetBytes(8);
        serial[0] &= 0x7F;
        using var issued = request.Create(issuer, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(10), serial);
        using var withKey = issued.CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>Writes PREFIX.crt and PREFIX.key (PKCS#8) into <paramref name="directory"/>; returns their paths.</summary>
    public static (string Certificate, string Key) WritePem(X509Certificate2 certificate, string directory, string prefix)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        Directory.CreateDirectory(directory);
        var certificatePath = Path.Combine(directory, prefix + ".crt");
        var keyPath = Path.Combine(directory, prefix + ".key");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        using var key = certificate.GetECDsaPrivateKey()!;
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certificatePath, keyPath);
    }

    public void Dispose() => Certificate.Dispose();
}
