using System.Globalization;
using SmtpServer.Core.Routing;

namespace SmtpServer.Configuration;

internal sealed partial class SettingsBuilder
{
    private static readonly string[] AgentKinds = ["maildir", "mbox", "lmtp", "command", "relay"];
    private static readonly string[] FileTableFormats = ["aliases", "credentials", "map", "list", "netaddr"];

    /// <summary>Every action name in the file, valid or not: a rule naming a broken action is not a second error.</summary>
    private readonly HashSet<string> _declaredActions = new(StringComparer.OrdinalIgnoreCase);

    private Dictionary<string, TableSettings> ReadTables(ConfigNode? tables)
    {
        var result = new Dictionary<string, TableSettings>(StringComparer.OrdinalIgnoreCase);
        if (tables is null)
        {
            return result;
        }

        foreach (var node in tables.Children)
        {
            if (!node.HasChildren)
            {
                Error(node, "expected a table section ({ type: list, values: [...] } or { type: file, path, format })");
                continue;
            }

            var type = ReadChoice(node, "type", string.Empty, ("list", "list"), ("file", "file"));
            if (node["type"] is null)
            {
                Error(Combine(node, "type"), "is required: list or file");
            }

            switch (type)
            {
                case "list":
                    CheckKeys(node, "type", "values");
                    var values = ReadList(node, "values");
                    if (values is null)
                    {
                        Error(Combine(node, "values"), "is required for a list table");
                    }

                    var listSettings = new ListTableSettings { Name = node.Key, Values = [.. (values ?? []).Select(v => v.Value)] };
                    result[node.Key] = listSettings;
                    _lookupTables[node.Key] = new StaticListTable(node.Key, listSettings.Values, _delimiter);
                    break;
                case "file":
                    CheckKeys(node, "type", "path", "format");
                    var path = RequiredScalar(node, "path");
                    var format = ReadChoice(node, "format", "map", [.. FileTableFormats.Select(f => (f, f))]);
                    var fileSettings = new FileTableSettings { Name = node.Key, Path = path is null ? string.Empty : ResolvePath(path), Format = format };
                    result[node.Key] = fileSettings;
                    if (path is not null)
                    {
                        _lookupTables[node.Key] = LoadFileTable(node, fileSettings);
                    }

                    break;
                default:
                    CheckKeys(node, "type", "values", "path", "format");
                    break;
            }
        }

        return result;
    }

    /// <summary>
    /// Compiles a file table and, when the file exists, reads it once now so a bad line is a
    /// config error with its line number. A missing file is not an error (it may be created
    /// later): until it exists, lookups fail temporarily (451 at RCPT, 454 at AUTH).
    /// </summary>
    private FileTable LoadFileTable(ConfigNode node, FileTableSettings settings)
    {
        var format = settings.Format switch
        {
            "aliases" => TableFormat.Aliases,
            "credentials" => TableFormat.Credentials,
            "list" => TableFormat.List,
            "netaddr" => TableFormat.Netaddr,
            _ => TableFormat.Map,
        };
        var table = new FileTable(settings.Name, settings.Path, format, _delimiter);
        var pathNode = node["path"]!;
        if (!File.Exists(settings.Path))
        {
            return table;
        }

        try
        {
            foreach (var problem in table.Problems)
            {
                Error(pathNode, problem.Line > 0
                    ? $"'{settings.Path}' line {problem.Line.ToString(CultureInfo.InvariantCulture)}: {problem.Message}"
                    : $"'{settings.Path}': {problem.Message}");
            }

            if (format == TableFormat.Credentials)
            {
                foreach (var entry in table.Contents.Entries)
                {
                    if (!Auth.PasswordHash.IsSupported(entry.Values[0]))
                    {
                        // Never echo the value: it may be a password written in clear by mistake.
                        Error(pathNode, $"'{settings.Path}': the hash of user '{entry.Key}' is not bcrypt or SHA-512 crypt (make one with: smtpd encrypt)");
                    }
                }
            }
        }
        catch (TableUnavailableException e)
        {
            Error(pathNode, e.Message);
        }

        return table;
    }

    private Dictionary<string, ActionSettings> ReadActions(ConfigNode? actions, IReadOnlyDictionary<string, TableSettings> tables)
    {
        var result = new Dictionary<string, ActionSettings>(StringComparer.OrdinalIgnoreCase);
        if (actions is null)
        {
            Error("actions", "at least one action is required (e.g. local: { maildir: { path: ./var/mail/{user}/Maildir } })");
            return result;
        }

        foreach (var node in actions.Children)
        {
            _declaredActions.Add(node.Key);
            if (node.Key.Equals("reject", StringComparison.OrdinalIgnoreCase))
            {
                Error(node, "'reject' is reserved for rules; choose another action name");
                continue;
            }

            if (!node.HasChildren)
            {
                Error(node, "expected an action section with one agent: " + string.Join(", ", AgentKinds));
                continue;
            }

            CheckKeys(node, [.. AgentKinds, "aliases", "virtual", "users", "aliasTargets", "maxDeliveries"]);
            var kinds = AgentKinds.Where(k => node[k] is not null).ToList();
            if (kinds.Count == 0)
            {
                Error(node, "has no agent: give exactly one of " + string.Join(", ", AgentKinds));
                continue;
            }

            if (kinds.Count > 1)
            {
                Error(node, $"has more than one agent ({string.Join(", ", kinds)}); an action has exactly one");
                continue;
            }

            var maxDeliveries = ReadInt(node, "maxDeliveries", ActionSettings.DefaultMaxDeliveries);
            var aliases = Scalar(node, "aliases");
            var @virtual = Scalar(node, "virtual");
            var users = Scalar(node, "users");
            foreach (var (key, table) in new[] { ("aliases", aliases), ("virtual", @virtual), ("users", users) })
            {
                if (table is not null && !tables.ContainsKey(table))
                {
                    Error(node[key]!, UnknownTable(table, tables));
                }
            }

            if (aliases is not null && @virtual is not null)
            {
                Error(node["virtual"]!, "aliases and virtual cannot both be used on one action (OpenSMTPD's rule)");
            }

            var aliasTargets = ReadAliasTargets(node, aliases ?? @virtual);

            var agentNode = node[kinds[0]]!;
            if (!agentNode.IsEmpty && (!agentNode.HasChildren || agentNode.IsList))
            {
                Error(agentNode, "expected a section (e.g. { path: ... })");
                continue;
            }

            AgentSettings? agent = kinds[0] switch
            {
                "maildir" => ReadPathAgent(agentNode, p => new MaildirAgentSettings(p)),
                "mbox" => ReadPathAgent(agentNode, p => new MboxAgentSettings(p)),
                "lmtp" => ReadLmtp(agentNode),
                "command" => ReadCommand(agentNode),
                _ => ReadRelay(agentNode, tables),
            };
            if (agent is not null)
            {
                result[node.Key] = new ActionSettings { Name = node.Key, Agent = agent, AliasesTable = aliases, VirtualTable = @virtual, UsersTable = users, AliasTargets = aliasTargets, MaxDeliveries = maxDeliveries };
            }
        }

        return result;
    }

    /// <summary>
    /// aliasTargets: { files: bool, commands: bool }, both false by default. Only meaningful
    /// with aliases or virtual; the targets the table holds are checked by
    /// <see cref="CheckAliasTargets"/> once every action is known.
    /// </summary>
    private AliasTargetPermissions ReadAliasTargets(ConfigNode action, string? table)
    {
        var node = Section(action, "aliasTargets");
        if (node is null)
        {
            return AliasTargetPermissions.None;
        }

        CheckKeys(node, "files", "commands");
        if (table is null)
        {
            Error(node, "needs aliases or virtual on the same action: only alias values can name a file or a command");
        }

        return (ReadBool(node, "files", false) ? AliasTargetPermissions.Files : AliasTargetPermissions.None)
            | (ReadBool(node, "commands", false) ? AliasTargetPermissions.Commands : AliasTargetPermissions.None);
    }

    /// <summary>
    /// Reads every action's aliases or virtual table once: a <c>/file</c> or <c>|command</c> that
    /// cannot be used as written is an error (like any bad table line); one the action does not
    /// allow is a warning, since refusing it (550 5.7.1 at RCPT) may be what the operator wants.
    /// Tables are read again when they change; this only catches what is there at start or reload.
    /// </summary>
    private void CheckAliasTargets(IEnumerable<ActionSettings> actions)
    {
        var reported = new HashSet<string>(StringComparer.Ordinal);
        foreach (var action in actions)
        {
            var name = action.AliasesTable ?? action.VirtualTable;
            if (name is null || _lookupTables.GetValueOrDefault(name) is not FileTable table || !File.Exists(table.Path))
            {
                continue;
            }

            IEnumerable<TableEntry> entries;
            try
            {
                entries = table.Contents.Entries;
            }
            catch (TableUnavailableException)
            {
                continue; // Reported by LoadFileTable.
            }

            foreach (var entry in entries)
            {
                foreach (var target in AliasTarget.ParseAll(entry))
                {
                    var (kind, flag, delivery) = target switch
                    {
                        FileTarget file => ("files", AliasTargetPermissions.Files, file.Target),
                        CommandTarget command => ("commands", AliasTargetPermissions.Commands, command.Target),
                        _ => (string.Empty, AliasTargetPermissions.None, null),
                    };
                    if (target is InvalidTarget invalid && reported.Add($"{name}\n{entry.Key}\n{invalid.Text}"))
                    {
                        Error($"tables.{name}.path", $"'{table.Path}': alias '{entry.Key}': '{invalid.Text}': {invalid.Problem}");
                    }
                    else if (delivery is not null && !action.AliasTargets.HasFlag(flag))
                    {
                        _warnings.Add(new ConfigError($"actions.{action.Name}.aliasTargets.{kind}",
                            $"alias '{entry.Key}' in table '{name}' names {delivery}, which this action does not allow: RCPT to it is refused with 550 5.7.1 (set aliasTargets.{kind}: true to deliver it)"));
                    }
                }
            }
        }
    }

    private AgentSettings? ReadPathAgent(ConfigNode node, Func<string, AgentSettings> create)
    {
        CheckKeys(node, "path");
        var path = RequiredScalar(node, "path");
        if (path is null)
        {
            return null;
        }

        // The agent checks its template only when it is created, at the first delivery: a typo
        // ({usr}) must be a config error instead (--check, start-up, and a refused reload).
        var resolved = ResolvePath(path);
        if (Delivery.PathTemplate.Problem(resolved) is { } problem)
        {
            Error(node["path"]!, problem);
            return null;
        }

        return create(resolved);
    }

    private LmtpAgentSettings? ReadLmtp(ConfigNode node)
    {
        CheckKeys(node, "address");
        var address = RequiredScalar(node, "address");
        if (address is null)
        {
            return null;
        }

        // An absolute path is a Unix socket (Dovecot's /run/dovecot/lmtp); otherwise host:port.
        if (address.StartsWith('/'))
        {
            return new LmtpAgentSettings(address);
        }

        var colon = address.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(address.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is 0 or > 65535)
        {
            Error(node["address"]!, $"'{address}' is not host:port, [ipv6]:port or an absolute Unix socket path");
            return null;
        }

        return new LmtpAgentSettings(address);
    }

    private CommandAgentSettings? ReadCommand(ConfigNode node)
    {
        CheckKeys(node, "run", "args");
        var run = RequiredScalar(node, "run");
        var args = ReadList(node, "args") ?? [];
        return run is null ? null : new CommandAgentSettings(run, [.. args.Select(a => a.Value)]);
    }

    /// <summary>dns: the resolvers (shared by MX and reverse lookups) and the sessions' reverse lookup.</summary>
    private (List<System.Net.IPEndPoint> Servers, bool ReverseLookup, TimeSpan ReverseLookupTimeout) ReadDns(ConfigNode? dns)
    {
        var servers = new List<System.Net.IPEndPoint>();
        var defaultTimeout = ServerSettings.DefaultReverseLookupTimeout;
        if (dns is null)
        {
            return (servers, true, defaultTimeout);
        }

        CheckKeys(dns, "servers", "reverseLookup", "reverseLookupTimeout");
        foreach (var (node, text) in ReadList(dns, "servers") ?? [])
        {
            if (System.Net.IPAddress.TryParse(text, out var bare))
            {
                servers.Add(new System.Net.IPEndPoint(bare, 53));
            }
            else if (System.Net.IPEndPoint.TryParse(text, out var endPoint) && endPoint.Port != 0)
            {
                servers.Add(endPoint);
            }
            else
            {
                Error(node, $"'{text}' is not a DNS server (ip, ip:port or [ipv6]:port)");
            }
        }

        var timeout = ReadDuration(dns, "reverseLookupTimeout", defaultTimeout);
        if (timeout > TimeSpan.FromMinutes(1))
        {
            // The lookup runs while the client waits for its RCPT and DATA replies.
            Error(dns["reverseLookupTimeout"]!, $"'{dns["reverseLookupTimeout"]!.Value}' is too long (at most 60s; a few seconds is usual)");
            timeout = defaultTimeout;
        }

        return (servers, ReadBool(dns, "reverseLookup", true), timeout);
    }

    private static string UnknownTable(string name, IReadOnlyDictionary<string, TableSettings> tables)
        => tables.Count == 0
            ? $"unknown table '{name}' (no tables are defined)"
            : $"unknown table '{name}' (defined: {string.Join(", ", tables.Keys)})";
}
