using System.Globalization;
using SmtpServer.Core.Routing;

namespace SmtpServer.Configuration;

/// <summary>
/// Turns the merged <see cref="ConfigNode"/> tree into <see cref="ServerSettings"/>, collecting
/// every problem with the path of its key. Each section reader returns a value even when it
/// found errors (with defaults filled in) so the later sections are still checked.
/// Split by aspect: <c>.Server.cs</c>, <c>.Listeners.cs</c>, <c>.Actions.cs</c>, <c>.Rules.cs</c>.
/// </summary>
internal sealed partial class SettingsBuilder(List<ConfigError> errors)
{
    /// <summary>Problems that do not stop the server (<c>smtpd --check</c> prints them, start and reload log them).</summary>
    private readonly List<ConfigError> _warnings = [];

    private readonly List<(string Path, IReadOnlyList<string> Keys)> _checkedSections = [];

    private char _delimiter = '+';

    private static readonly string[] TopLevelKeys = ["server", "queue", "admin", "logging", "listeners", "tables", "actions", "rules", "dns"];

    public ServerSettings? Build(ConfigNode root)
    {
        CheckKeys(root, TopLevelKeys);

        var server = Section(root, "server");
        var hostname = ReadHostname(server);
        var (limits, maxSessions, maxPerClient, shutdown) = ReadLimits(server);
        var queue = ReadQueue(Section(root, "queue"));
        var admin = ReadAdmin(Section(root, "admin"));
        var logging = ReadLogging(Section(root, "logging"));
        _delimiter = ReadDelimiter(server);
        var tables = ReadTables(Section(root, "tables"));
        var listeners = ReadListeners(root, tables);
        var actions = ReadActions(Section(root, "actions"), tables);
        var dns = ReadDns(Section(root, "dns"));
        CheckAliasTargets(actions.Values);

        var localNames = new List<string> { "localhost", hostname };
        localNames.AddRange(listeners.Select(l => l.Hostname).OfType<string>());
        localNames = [.. localNames.Distinct(StringComparer.OrdinalIgnoreCase)];
        var localAddresses = listeners
            .Select(l => l.EndPoint.Address)
            .Where(a => !a.Equals(System.Net.IPAddress.Any) && !a.Equals(System.Net.IPAddress.IPv6Any));
        var router = ReadRules(root, actions, tables, localNames, localAddresses);
        var expander = new RecipientExpander(router, actions.Values.ToDictionary(
            a => a.Name,
            a => new ActionExpansion
            {
                Aliases = a.AliasesTable is null ? null : _lookupTables.GetValueOrDefault(a.AliasesTable),
                Virtual = a.VirtualTable is null ? null : _lookupTables.GetValueOrDefault(a.VirtualTable),
                Users = a.UsersTable is null ? null : _lookupTables.GetValueOrDefault(a.UsersTable),
                Permissions = a.AliasTargets,
            },
            StringComparer.OrdinalIgnoreCase), _delimiter);

        if (errors.Count > 0)
        {
            return null;
        }

        return new ServerSettings
        {
            Hostname = hostname,
            Limits = limits,
            MaxSessions = maxSessions,
            MaxSessionsPerClient = maxPerClient,
            ShutdownTimeout = shutdown,
            Queue = queue,
            Admin = admin,
            Logging = logging,
            Listeners = listeners,
            Tables = tables,
            ActionDefinitions = actions,
            Actions = new HashSet<string>(actions.Keys, StringComparer.OrdinalIgnoreCase),
            Router = router,
            Expander = expander,
            LookupTables = _lookupTables,
            SubaddressDelimiter = _delimiter,
            LocalNames = localNames,
            DnsServers = dns.Servers,
            ReverseLookup = dns.ReverseLookup,
            ReverseLookupTimeout = dns.ReverseLookupTimeout,
            Warnings = _warnings,
        };
    }

    /// <summary>
    /// Every section this build checked, by path (<c>listeners[0].tls</c>), with the keys it
    /// accepts there: what tests hold config/smtpd.schema.json to.
    /// </summary>
    public IReadOnlyList<(string Path, IReadOnlyList<string> Keys)> CheckedSections => _checkedSections;

    private void Error(ConfigNode node, string message) => errors.Add(new ConfigError(node.Path, message));

    private void Error(string path, string message) => errors.Add(new ConfigError(path, message));

    private static string Combine(ConfigNode? parent, string key)
    {
        var path = parent?.Path ?? string.Empty;
        return path.Length == 0 ? key : $"{path}.{key}";
    }

    /// <summary>Reports keys that are not in <paramref name="known"/> and gives known ones their canonical spelling.</summary>
    private void CheckKeys(ConfigNode? node, params string[] known)
    {
        if (node is null)
        {
            return;
        }

        _checkedSections.Add((node.Path, known));
        foreach (var child in node.Children)
        {
            var match = Array.Find(known, k => k.Equals(child.Key, StringComparison.OrdinalIgnoreCase));
            if (match is not null)
            {
                child.Key = match;
                continue;
            }

            var suggestion = known.MinBy(k => Distance(k.ToLowerInvariant(), child.Key.ToLowerInvariant()));
            var hint = suggestion is not null && Distance(suggestion.ToLowerInvariant(), child.Key.ToLowerInvariant()) <= 3
                ? $" (did you mean '{suggestion}'?)"
                : $" (known keys: {string.Join(", ", known)})";
            Error(child, "unknown key" + hint);
        }
    }

    /// <summary>A child that must be a section (mapping); null when absent or empty.</summary>
    private ConfigNode? Section(ConfigNode? parent, string key)
    {
        var node = parent?[key];
        if (node is null || node.IsEmpty)
        {
            return null;
        }

        if (!node.HasChildren)
        {
            Error(node, $"expected a section, not the value '{node.Value}'");
            return null;
        }

        if (node.IsList)
        {
            Error(node, "expected a section, not a list");
            return null;
        }

        return node;
    }

    /// <summary>A child that must be a single value; null when absent or empty.</summary>
    private string? Scalar(ConfigNode? parent, string key)
    {
        var node = parent?[key];
        if (node is null)
        {
            return null;
        }

        if (node.HasChildren)
        {
            Error(node, node.IsList ? "expected a value, not a list" : "expected a value, not a section");
            return null;
        }

        return string.IsNullOrWhiteSpace(node.Value) ? null : node.Value.Trim();
    }

    private string? RequiredScalar(ConfigNode parent, string key)
    {
        var value = Scalar(parent, key);
        if (value is null && parent[key] is not { HasChildren: true })
        {
            Error(Combine(parent, key), "is required");
        }

        return value;
    }

    private int ReadInt(ConfigNode? parent, string key, int fallback, int min = 1)
    {
        var text = Scalar(parent, key);
        if (text is null)
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            Error(parent![key]!, $"'{text}' is not a whole number");
            return fallback;
        }

        if (value < min)
        {
            Error(parent![key]!, $"{value} is too small (at least {min})");
            return fallback;
        }

        return value;
    }

    private long ReadSize(ConfigNode? parent, string key, long fallback, long min = 1, long max = long.MaxValue)
    {
        var text = Scalar(parent, key);
        if (text is null)
        {
            return fallback;
        }

        if (text.StartsWith('-'))
        {
            Error(parent![key]!, $"'{text}' is negative; sizes must be at least {min} bytes");
            return fallback;
        }

        if (!ConfigValueParser.TryParseSize(text, out var value, out var error))
        {
            Error(parent![key]!, error);
            return fallback;
        }

        if (value < min || value > max)
        {
            Error(parent![key]!, max == long.MaxValue
                ? $"'{text}' is too small (at least {min} bytes)"
                : $"'{text}' is out of range ({min} to {max} bytes)");
            return fallback;
        }

        return value;
    }

    private TimeSpan ReadDuration(ConfigNode? parent, string key, TimeSpan fallback)
    {
        var node = parent?[key];
        var text = Scalar(parent, key);
        return text is null ? fallback : ParseDuration(node!, text) ?? fallback;
    }

    private TimeSpan? ParseDuration(ConfigNode node, string text)
    {
        if (!ConfigValueParser.TryParseDuration(text, out var value, out var error))
        {
            Error(node, error);
            return null;
        }

        if (value <= TimeSpan.Zero)
        {
            Error(node, $"'{text}' must be longer than zero");
            return null;
        }

        return value;
    }

    private bool ReadBool(ConfigNode? parent, string key, bool fallback)
    {
        var text = Scalar(parent, key);
        if (text is null)
        {
            return fallback;
        }

        if (bool.TryParse(text, out var value))
        {
            return value;
        }

        Error(parent![key]!, $"'{text}' is not true or false");
        return fallback;
    }

    /// <summary>One of <paramref name="choices"/> (case-insensitive), mapped to its value.</summary>
    private T ReadChoice<T>(ConfigNode? parent, string key, T fallback, params (string Name, T Value)[] choices)
    {
        var text = Scalar(parent, key);
        if (text is null)
        {
            return fallback;
        }

        foreach (var (name, value) in choices)
        {
            if (name.Equals(text, StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }
        }

        Error(parent![key]!, $"'{text}' is not one of {string.Join(", ", choices.Select(c => c.Name).Distinct())}");
        return fallback;
    }

    /// <summary>A list of values; a single value is taken as a list of one.</summary>
    private List<(ConfigNode Node, string Value)>? ReadList(ConfigNode? parent, string key)
    {
        var node = parent?[key];
        if (node is null)
        {
            return null;
        }

        return ReadList(node);
    }

    private List<(ConfigNode Node, string Value)> ReadList(ConfigNode node)
    {
        var result = new List<(ConfigNode, string)>();
        if (!node.HasChildren)
        {
            if (!string.IsNullOrWhiteSpace(node.Value))
            {
                result.Add((node, node.Value.Trim()));
            }

            return result;
        }

        if (!node.IsList)
        {
            Error(node, "expected a list, not a section");
            return result;
        }

        foreach (var item in node.Children)
        {
            if (item.HasChildren)
            {
                Error(item, "expected a value, not a section");
            }
            else if (string.IsNullOrWhiteSpace(item.Value))
            {
                Error(item, "is empty");
            }
            else
            {
                result.Add((item, item.Value.Trim()));
            }
        }

        return result;
    }

    /// <summary>Relative paths resolve against the current directory (documented in ConfigLoader).</summary>
    private static string ResolvePath(string path) => Path.GetFullPath(path);

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
            }
        }

        return d[a.Length, b.Length];
    }
}
