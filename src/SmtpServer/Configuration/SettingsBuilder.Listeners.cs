using System.Globalization;
using System.Net;
using System.Net.Sockets;

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

            CheckKeys(node, "name", "address", "hostname", "submission", "tls", "auth");
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
            if (hostname is not null && !IsHostName(hostname))
            {
                Error(node["hostname"]!, $"'{hostname}' is not a host name");
            }

            var listener = new ListenerSettings
            {
                Name = name ?? string.Empty,
                EndPoint = endPoint ?? new IPEndPoint(IPAddress.Loopback, 0),
                Hostname = hostname?.TrimEnd('.'),
                Submission = ReadBool(node, "submission", false),
                Tls = ReadTls(Section(node, "tls")),
                Auth = ReadAuth(Section(node, "auth"), tables),
            };
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

        CheckKeys(tls, "mode", "certificate", "key", "required");
        var mode = ReadChoice(tls, "mode", TlsMode.StartTls, ("starttls", TlsMode.StartTls), ("implicit", TlsMode.Implicit));
        var certificate = RequiredScalar(tls, "certificate");
        var key = Scalar(tls, "key");
        var pkcs12 = certificate is not null
            && (certificate.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase) || certificate.EndsWith(".p12", StringComparison.OrdinalIgnoreCase));
        if (key is null && certificate is not null && !pkcs12)
        {
            Error(Combine(tls, "key"), "is required with a PEM certificate (only a .pfx/.p12 certificate carries its key)");
        }

        var certificatePath = certificate is null ? string.Empty : CheckFile(tls["certificate"]!, certificate);
        var keyPath = key is null ? null : CheckFile(tls["key"]!, key);
        return new ListenerTlsSettings
        {
            Mode = mode,
            CertificatePath = certificatePath,
            KeyPath = keyPath,
            Required = mode == TlsMode.Implicit || ReadBool(tls, "required", false),
        };
    }

    private ListenerAuthSettings? ReadAuth(ConfigNode? auth, IReadOnlyDictionary<string, TableSettings> tables)
    {
        if (auth is null)
        {
            return null;
        }

        CheckKeys(auth, "mode", "credentials");
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

        return new ListenerAuthSettings { Mode = mode, CredentialsTable = credentials };
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
