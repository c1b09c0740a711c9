using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using SmtpServer.Core.Routing;
using SmtpServer.Tls;

namespace SmtpServer.Configuration;

internal sealed partial class SettingsBuilder
{
    private List<ListenerSettings> ReadListeners(ConfigNode root, IReadOnlyDictionary<string, TableSettings> tables)
    {
        var result = new List<ListenerSettings>();
        var listeners = root["listeners"];
        if (listeners is null || listeners.IsEmpty)
        {
            Error("listeners", "at least one listener is required (e.g. { name: mx, address: 127.0.0.1:2525 })");
            return result;
        }

        if (!listeners.IsList)
        {
            Error(listeners, "expected a list of listeners");
            return result;
        }

        var names = new Dictionary<string, ConfigNode>(StringComparer.OrdinalIgnoreCase);
        var seen = new List<(IPEndPoint EndPoint, ConfigNode Node)>();
        foreach (var node in listeners.Children)
        {
            if (!node.HasChildren)
            {
                Error(node, "expected a listener section ({ name, address, ... })");
                continue;
            }

            CheckKeys(node, "name", "address", "hostname", "submission", "receivedAuth", "tls", "auth", "senders", "masquerade");
            var name = RequiredScalar(node, "name");
            if (name is not null && !names.TryAdd(name, node))
            {
                Error(node["name"]!, $"duplicate listener name '{name}' (also {names[name].Path})");
            }

            var addressText = RequiredScalar(node, "address");
            var endPoint = addressText is null ? null : ParseEndPoint(node["address"]!, addressText);
            if (endPoint is not null && endPoint.Port != 0)
            {
                var clash = seen.Find(s => Overlaps(s.EndPoint, endPoint));
                if (clash.Node is not null)
                {
                    Error(node["address"]!, $"'{addressText}' is already used by {clash.Node.Path}");
                }

                seen.Add((endPoint, node));
            }

            var hostname = Scalar(node, "hostname");
            if (hostname is not null && !DomainName.IsHostName(hostname))
            {
                Error(node["hostname"]!, $"'{hostname}' is not a host name");
            }

            var senders = Scalar(node, "senders");
            if (senders is not null && !_lookupTables.ContainsKey(senders))
            {
                Error(node["senders"]!, UnknownTable(senders, tables));
            }

            var listener = new ListenerSettings
            {
                Senders = senders is null ? null : _lookupTables.GetValueOrDefault(senders),
                Name = name ?? string.Empty,
                EndPoint = endPoint ?? new IPEndPoint(IPAddress.Loopback, 0),
                Hostname = hostname?.TrimEnd('.'),
                Submission = ReadBool(node, "submission", false),
                ReceivedAuth = ReadBool(node, "receivedAuth", false),
                Tls = ReadTls(Section(node, "tls")),
                Auth = ReadAuth(Section(node, "auth"), tables, endPoint),
                Masquerade = ReadBool(node, "masquerade", false),
            };
            if (listener.Masquerade && listener.Auth is null or { Mode: AuthMode.None })
            {
                // Only authenticated mail is rewritten: without AUTH the key would do nothing.
                Error(node["masquerade"]!, "applies to authenticated mail: the listener needs auth (mode: optional or required)");
            }

            result.Add(listener);
        }

        return result;
    }

    private ListenerTlsSettings? ReadTls(ConfigNode? tls)
    {
        if (tls is null)
        {
            return null;
        }

        CheckKeys(tls, "mode", "certificate", "key", "certificates", "required", "protocols", "clientCertificate", "clientCa");
        var mode = ReadChoice(tls, "mode", TlsMode.StartTls, ("starttls", TlsMode.StartTls), ("implicit", TlsMode.Implicit));
        var main = ReadCertificatePair(tls);
        var additional = new List<CertificateFileSettings>();
        var list = tls["certificates"];
        if (list is not null && !list.IsEmpty)
        {
            if (!list.IsList)
            {
                Error(list, "expected a list of { certificate, key }");
            }
            else
            {
                foreach (var item in list.Children)
                {
                    if (!item.HasChildren || item.IsList)
                    {
                        Error(item, "expected { certificate, key }");
                        continue;
                    }

                    CheckKeys(item, "certificate", "key");
                    if (ReadCertificatePair(item) is { } pair)
                    {
                        additional.Add(pair);
                    }
                }
            }
        }

        var protocols = SslProtocols.None;
        foreach (var (node, value) in ReadList(tls, "protocols") ?? [])
        {
            if (TlsProtocols.TryParse(value, out var protocol))
            {
                protocols |= protocol;
            }
            else
            {
                Error(node, $"'{value}' is not a TLS version (use tls1.2, tls1.3)");
            }
        }

        var clientCertificate = ReadChoice(tls, "clientCertificate", ClientCertificateMode.None,
            ("none", ClientCertificateMode.None), ("optional", ClientCertificateMode.Optional), ("required", ClientCertificateMode.Required));
        var clientCa = Scalar(tls, "clientCa");
        var clientCaPath = clientCa is null ? null : CheckFile(tls["clientCa"]!, clientCa);
        if (clientCaPath is not null && File.Exists(clientCaPath))
        {
            try
            {
                var bundle = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
                bundle.ImportFromPemFile(clientCaPath);
                if (bundle.Count == 0)
                {
                    Error(tls["clientCa"]!, $"'{clientCaPath}' holds no PEM certificate");
                }
            }
            catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException)
            {
                Error(tls["clientCa"]!, $"cannot read '{clientCaPath}': {ex.Message}");
            }
        }

        return new ListenerTlsSettings
        {
            Mode = mode,
            CertificatePath = main?.CertificatePath ?? string.Empty,
            KeyPath = main?.KeyPath,
            AdditionalCertificates = additional,
            Required = mode == TlsMode.Implicit || ReadBool(tls, "required", false),
            Protocols = protocols == SslProtocols.None ? SslProtocols.Tls12 | SslProtocols.Tls13 : protocols,
            ClientCertificate = clientCertificate,
            ClientCaPath = clientCaPath,
        };
    }

    /// <summary>certificate + key under <paramref name="node"/>: the files exist and load as a pair.</summary>
    private CertificateFileSettings? ReadCertificatePair(ConfigNode node)
    {
        var certificate = RequiredScalar(node, "certificate");
        var key = Scalar(node, "key");
        var pkcs12 = certificate is not null
            && (certificate.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase) || certificate.EndsWith(".p12", StringComparison.OrdinalIgnoreCase));
        if (key is null && certificate is not null && !pkcs12)
        {
            Error(Combine(node, "key"), "is required with a PEM certificate (only a .pfx/.p12 certificate carries its key)");
            return null;
        }

        if (certificate is null)
        {
            return null;
        }

        var errorsBefore = errors.Count;
        var files = new CertificateFileSettings(CheckFile(node["certificate"]!, certificate), key is null ? null : CheckFile(node["key"]!, key));
        if (errors.Count == errorsBefore && CertificateLoader.Check(files) is { } problem)
        {
            Error(node["certificate"]!, $"cannot load the certificate and key: {problem}");
        }

        return files;
    }

    private ListenerAuthSettings? ReadAuth(ConfigNode? auth, IReadOnlyDictionary<string, TableSettings> tables, IPEndPoint? endPoint)
    {
        if (auth is null)
        {
            return null;
        }

        CheckKeys(auth, "mode", "credentials", "allowPlaintext", "maxFailures", "failureWindow", "lockout");
        var mode = ReadChoice(auth, "mode", AuthMode.Optional, ("none", AuthMode.None), ("optional", AuthMode.Optional), ("required", AuthMode.Required));
        var credentials = Scalar(auth, "credentials");
        if (credentials is null && mode != AuthMode.None)
        {
            Error(Combine(auth, "credentials"), "is required: the name of a table of user:hash entries");
        }
        else if (credentials is not null && !tables.ContainsKey(credentials))
        {
            Error(auth["credentials"]!, UnknownTable(credentials, tables));
        }
        else if (credentials is not null && tables[credentials] is not FileTableSettings { Format: "credentials" })
        {
            Error(auth["credentials"]!, $"table '{credentials}' must be {{ type: file, format: credentials }} (user:hash lines)");
        }

        // RFC 4954 §4 and REFERENCE.md §1.1: passwords only under TLS; in clear text only where
        // they never leave the machine.
        var allowPlaintext = ReadBool(auth, "allowPlaintext", false);
        if (allowPlaintext && endPoint is not null && !IPAddress.IsLoopback(endPoint.Address))
        {
            Error(auth["allowPlaintext"]!, $"is only allowed on a loopback listener, not {endPoint}");
        }

        return new ListenerAuthSettings
        {
            Mode = mode,
            CredentialsTable = credentials,
            AllowPlaintext = allowPlaintext,
            MaxFailures = ReadInt(auth, "maxFailures", 5),
            FailureWindow = ReadDuration(auth, "failureWindow", TimeSpan.FromMinutes(10)),
            Lockout = ReadDuration(auth, "lockout", TimeSpan.FromMinutes(10)),
        };
    }

    private string CheckFile(ConfigNode node, string path)
    {
        var full = ResolvePath(path);
        if (!File.Exists(full))
        {
            Error(node, $"file '{full}' does not exist");
        }

        return full;
    }

    /// <summary><c>ip:port</c>, <c>[ipv6]:port</c>, or <c>*:port</c> (every address, IPv4 and IPv6).</summary>
    private IPEndPoint? ParseEndPoint(ConfigNode node, string text)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            Error(node, $"'{text}' is not an address with a port (use ip:port, [ipv6]:port or *:port, e.g. 127.0.0.1:2525)");
            return null;
        }

        var host = text[..colon];
        if (host == "*")
        {
            // Kestrel binds IPv6Any dual-stack, so this also takes IPv4 clients.
            return new IPEndPoint(IPAddress.IPv6Any, port);
        }

        var bracketed = host.StartsWith('[') && host.EndsWith(']');
        if (bracketed)
        {
            host = host[1..^1];
        }

        if (!IPAddress.TryParse(host, out var address)
            || (address.AddressFamily == AddressFamily.InterNetworkV6) != bracketed
            || (address.AddressFamily == AddressFamily.InterNetwork && host.Count(c => c == '.') != 3))
        {
            var hint = host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
                ? " (write 127.0.0.1 or [::1]; host names are not resolved)"
                : " (use ip:port, [ipv6]:port or *:port)";
            Error(node, $"'{text}' is not a valid address{hint}");
            return null;
        }

        return new IPEndPoint(address, port);
    }

    /// <summary>Two endpoints that cannot both be bound: same port and same or wildcard address.</summary>
    private static bool Overlaps(IPEndPoint a, IPEndPoint b)
    {
        if (a.Port != b.Port)
        {
            return false;
        }

        if (a.Address.Equals(b.Address))
        {
            return true;
        }

        static bool Covers(IPAddress wildcard, IPAddress other)
            => wildcard.Equals(IPAddress.IPv6Any)
                || (wildcard.Equals(IPAddress.Any) && other.AddressFamily == AddressFamily.InterNetwork);

        return Covers(a.Address, b.Address) || Covers(b.Address, a.Address);
    }
}
