using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SmtpServer.Core.Routing;
using SmtpServer.Delivery.Relay;

namespace SmtpServer.Configuration;

internal sealed partial class SettingsBuilder
{
    private static readonly string[] RelaySchemes = ["smtp", "smtp+tls", "smtp+notls", "smtps", "lmtp"];
    private static readonly (string Name, string Value)[] RelayTlsModes =
        [("opportunistic", "opportunistic"), ("required", "required"), ("verify", "verify"), ("none", "none")];

    private RelayAgentSettings? ReadRelay(ConfigNode node, IReadOnlyDictionary<string, TableSettings> tables)
    {
        CheckKeys(node, "host", "auth", "tls", "tlsPolicy", "caFile", "rateLimit", "helo", "source", "family", "port");
        var hosts = ReadRelayHosts(node);
        var hasHost = node["host"] is { IsEmpty: false };
        var auth = Scalar(node, "auth");
        if (auth is not null)
        {
            if (!hasHost)
            {
                Error(node["auth"]!, "needs relay.host: credentials are only sent to a smarthost");
            }
            else if (!tables.ContainsKey(auth))
            {
                Error(node["auth"]!, UnknownTable(auth, tables));
            }
        }

        var tls = ReadChoice<string?>(node, "tls", null, [.. RelayTlsModes.Select(m => (m.Name, (string?)m.Value))]);
        var tlsPolicy = ReadTlsPolicy(node, hasHost);
        var caFile = ReadCaFile(node);
        RelayRateLimit? rateLimit = null;
        if (Scalar(node, "rateLimit") is { } rateText)
        {
            if (ConfigValueParser.TryParseRate(rateText, out var messages, out var interval, out var rateError))
            {
                rateLimit = new RelayRateLimit(messages, interval);
            }
            else
            {
                Error(node["rateLimit"]!, rateError);
            }
        }

        var family = ReadChoice(node, "family", "any", ("any", "any"), ("ipv4", "ipv4"), ("ipv6", "ipv6"), ("prefer-ipv4", "prefer-ipv4"));
        var helo = Scalar(node, "helo");
        if (helo is not null && (helo.Length == 0 || helo.Any(c => char.IsControl(c) || char.IsWhiteSpace(c))))
        {
            Error(node["helo"]!, $"'{helo}' is not a host name");
            helo = null;
        }

        System.Net.IPAddress? source = null;
        if (Scalar(node, "source") is { } sourceText && !System.Net.IPAddress.TryParse(sourceText, out source))
        {
            Error(node["source"]!, $"'{sourceText}' is not an IP address");
        }

        var port = ReadInt(node, "port", 25);
        if (port > 65535)
        {
            Error(node["port"]!, "must be a port number (1-65535)");
        }

        if (node["port"] is not null && hasHost)
        {
            Error(node["port"]!, "applies to MX delivery only; give a smarthost's port in relay.host");
        }

        return new RelayAgentSettings(hosts.FirstOrDefault(), auth)
        {
            FallbackHosts = hosts.Count > 1 ? hosts[1..] : null,
            Tls = tls,
            TlsPolicy = tlsPolicy,
            CaFile = caFile,
            RateLimit = rateLimit,
            Family = family,
            Helo = helo,
            Source = source,
            MxPort = port,
        };
    }

    /// <summary>relay.host: one URL, or a list of URLs tried in order (each may have its own scheme, port and label).</summary>
    private List<Uri> ReadRelayHosts(ConfigNode node)
    {
        var hosts = new List<Uri>();
        foreach (var (item, text) in ReadList(node, "host") ?? [])
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host)
                || !RelaySchemes.Contains(uri.Scheme, StringComparer.OrdinalIgnoreCase)
                || (uri.AbsolutePath.Length > 1) || uri.Query.Length > 0)
            {
                Error(item, $"'{text}' is not a relay URL (scheme://host[:port] with scheme {string.Join(", ", RelaySchemes)})");
            }
            else if (uri.Scheme.Equals("lmtp", StringComparison.OrdinalIgnoreCase) && uri.IsDefaultPort)
            {
                Error(item, $"'{text}': lmtp:// needs a port");
            }
            else if (hosts.Contains(uri))
            {
                Error(item, $"'{text}' is listed twice");
            }
            else
            {
                hosts.Add(uri);
            }
        }

        return hosts;
    }

    /// <summary>relay.tlsPolicy: { domain | "*.domain": opportunistic | required | verify | none }, for MX delivery.</summary>
    private Dictionary<string, string>? ReadTlsPolicy(ConfigNode node, bool hasHost)
    {
        var section = Section(node, "tlsPolicy");
        if (section is null)
        {
            return null;
        }

        if (hasHost)
        {
            Error(section, "applies to MX delivery only; a smarthost's TLS is set by its URL scheme and relay.tls");
        }

        var policy = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in section.Children)
        {
            var pattern = entry.Key;
            var name = pattern.StartsWith("*.", StringComparison.Ordinal) ? pattern[2..] : pattern;
            if (DomainName.Normalize(name) is not { } ascii || !DomainName.IsHostName(ascii))
            {
                Error(entry, $"'{pattern}' is not a domain name (use example.org, or *.example.org for its subdomains)");
                continue;
            }

            if (entry.HasChildren)
            {
                Error(entry, "expected a value: opportunistic, required, verify or none");
                continue;
            }

            var mode = RelayTlsModes.FirstOrDefault(m => m.Name.Equals(entry.Value?.Trim(), StringComparison.OrdinalIgnoreCase)).Value;
            if (mode is null)
            {
                Error(entry, $"'{entry.Value}' is not one of {string.Join(", ", RelayTlsModes.Select(m => m.Name))}");
                continue;
            }

            policy[pattern] = mode;
        }

        return policy;
    }

    /// <summary>relay.caFile: a PEM bundle read now, so that a missing or broken file is a config error.</summary>
    private string? ReadCaFile(ConfigNode node)
    {
        if (Scalar(node, "caFile") is not { } text)
        {
            return null;
        }

        var path = ResolvePath(text);
        try
        {
            var certificates = new X509Certificate2Collection();
            certificates.ImportFromPemFile(path);
            var count = certificates.Count;
            foreach (var certificate in certificates)
            {
                certificate.Dispose();
            }

            if (count == 0)
            {
                Error(node["caFile"]!, $"'{path}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            Error(node["caFile"]!, $"'{path}': {e.Message}");
        }

        return path;
    }
}
