using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SmtpServer.Configuration;

namespace SmtpServer.Tls;

/// <summary>A leaf certificate with its private key, and the rest of the chain from the same file.</summary>
internal sealed record LoadedCertificate(X509Certificate2 Certificate, X509Certificate2Collection Intermediates);

/// <summary>Reads certificate/key pairs from PEM files (chain included) or PKCS#12.</summary>
internal static class CertificateLoader
{
    public static LoadedCertificate Load(CertificateFileSettings files)
    {
        if (files.KeyPath is null)
        {
            var all = X509CertificateLoader.LoadPkcs12CollectionFromFile(files.CertificatePath, password: null);
            var leaf = all.FirstOrDefault(c => c.HasPrivateKey)
                ?? throw new CryptographicException($"'{files.CertificatePath}' holds no certificate with a private key");
            var rest = new X509Certificate2Collection();
            foreach (var c in all)
            {
                if (!ReferenceEquals(c, leaf))
                {
                    rest.Add(c);
                }
            }

            return new LoadedCertificate(leaf, rest);
        }

        // CreateFromPemFile takes the first certificate of the file and the matching key.
        using var ephemeral = X509Certificate2.CreateFromPemFile(files.CertificatePath, files.KeyPath);

        // A PEM key is ephemeral; a PKCS#12 round trip gives SslStream a key it can use on every
        // platform (SChannel cannot use ephemeral keys; OpenSSL is indifferent, it costs nothing).
        var certificate = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), password: null);
        var chain = new X509Certificate2Collection();
        chain.ImportFromPemFile(files.CertificatePath);
        var intermediates = new X509Certificate2Collection();
        foreach (var c in chain)
        {
            if (c.Thumbprint != certificate.Thumbprint)
            {
                intermediates.Add(c);
            }
        }

        return new LoadedCertificate(certificate, intermediates);
    }

    /// <summary>For the config check: null when the pair loads, else why not.</summary>
    public static string? Check(CertificateFileSettings files)
    {
        try
        {
            Load(files).Certificate.Dispose();
            return null;
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            return ex.Message;
        }
    }
}
