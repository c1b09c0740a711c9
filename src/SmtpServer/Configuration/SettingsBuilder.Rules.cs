using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using SmtpServer.Core.Routing;
using SmtpServer.Protocol;

namespace SmtpServer.Configuration;

internal sealed partial class SettingsBuilder
{
    /// <summary>Every table of tables:, compiled once and shared by rules, actions and listeners.</summary>
    private readonly Dictionary<string, ILookupTable> _lookupTables = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<(string Table, LookupUse Use)> _checkedTables = [];

    /// <summary>The keys of a <c>from:</c> and of a <c>for:</c> condition section.</summary>
    private static readonly string[] FromConditions = ["src", "auth", "mailFrom", "rdns", "clientCert", "not"];
    private static readonly string[] ForConditions = ["domain", "rcptTo", "not"];

    private enum LookupUse
    {
        Network,
        Domain,
        Key,
        MailAddress,
    }

    private RuleRouter ReadRules(
        ConfigNode root,
        IReadOnlyDictionary<string, ActionSettings> actions,
        IReadOnlyDictionary<string, TableSettings> tables,
        IReadOnlyList<string> localNames,
        IEnumerable<IPAddress> localAddresses)
    {
        var localDestination = new LocalDestinationCondition(localNames, localAddresses);
        var rules = new List<Rule>();
        var list = root["rules"];
        if (list is null || list.IsEmpty)
        {
            Error("rules", "at least one rule is required (e.g. { from: any, for: local, action: local })");
            return new RuleRouter(rules);
        }

        if (!list.IsList)
        {
            Error(list, "expected a list of rules (first match wins)");
            return new RuleRouter(rules);
        }

        foreach (var node in list.Children)
        {
            if (!node.HasChildren)
            {
                Error(node, "expected a rule ({ from, for, action })");
                continue;
            }

            CheckKeys(node, "from", "for", "action", "reply", "helo", "tls");

            // OpenSMTPD: "from local" and "for local" when omitted.
            var from = ReadCondition(node["from"], isFrom: true, tables, localDestination) ?? LocalSourceCondition.Instance;
            var @for = ReadCondition(node["for"], isFrom: false, tables, localDestination) ?? localDestination;
            @for = ReadTransactionConditions(node, @for, tables);
            var action = RequiredScalar(node, "action");
            var replyText = Scalar(node, "reply");
            if (action is null)
            {
                continue;
            }

            if (action.Equals("reject", StringComparison.OrdinalIgnoreCase))
            {
                rules.Add(Rule.Reject(from, @for, replyText is null ? null : ParseReply(node["reply"]!, replyText)));
                continue;
            }

            if (replyText is not null)
            {
                Error(node["reply"]!, "only a reject rule has a reply");
            }

            if (!actions.ContainsKey(action))
            {
                if (_declaredActions.Contains(action))
                {
                    continue;
                }

                Error(node["action"]!, actions.Count == 0
                    ? $"unknown action '{action}' (no actions are defined)"
                    : $"unknown action '{action}' (defined: {string.Join(", ", actions.Keys)}, or reject)");
                continue;
            }

            rules.Add(Rule.Deliver(from, @for, actions[action].Name));
        }

        return new RuleRouter(rules);
    }

    private IRuleCondition? ReadCondition(
        ConfigNode? node, bool isFrom, IReadOnlyDictionary<string, TableSettings> tables, LocalDestinationCondition localDestination)
    {
        if (node is null)
        {
            return null;
        }

        var shapes = isFrom
            ? "any, local, { src: [cidr...] | table }, { auth: true | [users] | table }, { mailFrom: [addresses...] | table }, { rdns: true | [names...] | table }, { clientCert: true | [names...] | table }, { not: ... }"
            : "any, local, { domain: [names...] | table }, { rcptTo: [addresses...] | table }, { not: ... }";
        if (!node.HasChildren)
        {
            switch (node.Value?.Trim().ToLowerInvariant())
            {
                case "any":
                    return AnyCondition.Instance;
                case "local":
                    return isFrom ? LocalSourceCondition.Instance : localDestination;
                default:
                    Error(node, $"'{node.Value}' is not understood (use {shapes})");
                    return AnyCondition.Instance;
            }
        }

        if (node.IsList || node.Children.Count != 1)
        {
            Error(node, $"expected one condition (use {shapes})");
            return AnyCondition.Instance;
        }

        var condition = node.Children[0];
        var known = isFrom ? FromConditions : ForConditions;
        _checkedSections.Add((node.Path, known));
        var kind = Array.Find(known, k => k.Equals(condition.Key, StringComparison.OrdinalIgnoreCase));
        if (kind is not null)
        {
            condition.Key = kind;
        }

        switch (kind)
        {
            case "not":
                return new NotCondition(ReadCondition(condition, isFrom, tables, localDestination) ?? AnyCondition.Instance);
            case "src":
                return new SourceCondition(ReadTableOrList(condition, tables, LookupUse.Network));
            case "auth":
                if (!condition.HasChildren && bool.TryParse(condition.Value, out var authenticated))
                {
                    return new AuthCondition(authenticated);
                }

                return new AuthCondition(ReadTableOrList(condition, tables, LookupUse.Key));
            case "mailFrom":
                return new MailFromCondition(ReadTableOrList(condition, tables, LookupUse.MailAddress));
            case "rdns":
                if (!condition.HasChildren && bool.TryParse(condition.Value, out var rdns))
                {
                    return rdns ? new RdnsCondition(null) : new NotCondition(new RdnsCondition(null));
                }

                return new RdnsCondition(ReadTableOrList(condition, tables, LookupUse.Domain));
            case "clientCert":
                if (!condition.HasChildren && bool.TryParse(condition.Value, out var clientCert))
                {
                    return clientCert ? new ClientCertificateCondition(null) : new NotCondition(new ClientCertificateCondition(null));
                }

                return new ClientCertificateCondition(ReadTableOrList(condition, tables, LookupUse.Domain));
            case "domain":
                return new DomainCondition(ReadTableOrList(condition, tables, LookupUse.Domain));
            case "rcptTo":
                return new RcptToCondition(ReadTableOrList(condition, tables, LookupUse.MailAddress));
            default:
                Error(condition, $"unknown condition (use {shapes})");
                return AnyCondition.Instance;
        }
    }

    /// <summary>
    /// <c>helo: [names] | table</c> and <c>tls: true|false</c> on a rule (checked after <c>for</c>,
    /// OpenSMTPD's order); each may be wrapped in <c>{ not: ... }</c>.
    /// </summary>
    private IRuleCondition ReadTransactionConditions(ConfigNode rule, IRuleCondition @for, IReadOnlyDictionary<string, TableSettings> tables)
    {
        var conditions = new List<IRuleCondition> { @for };
        if (rule["helo"] is { } helo)
        {
            // { not: [names] | table }: the only section a helo condition takes.
            var negated = helo is { HasChildren: true, IsList: false };
            if (negated)
            {
                CheckKeys(helo, "not");
            }

            // A section without "not" was reported by CheckKeys.
            if ((negated ? helo["not"] : helo) is { } names)
            {
                IRuleCondition condition = new HeloCondition(ReadTableOrList(names, tables, LookupUse.Domain));
                conditions.Add(negated ? new NotCondition(condition) : condition);
            }
        }

        if (rule["tls"] is not null)
        {
            conditions.Add(new TlsCondition(ReadBool(rule, "tls", true)));
        }

        return conditions.Count == 1 ? @for : new AllCondition(conditions);
    }

    /// <summary>An inline list (<c>[a, b]</c>, <c>~ regex</c> entries allowed) or the name of a table.</summary>
    private ILookupTable ReadTableOrList(ConfigNode node, IReadOnlyDictionary<string, TableSettings> tables, LookupUse use)
    {
        if (node.HasChildren)
        {
            var values = ReadList(node);
            foreach (var (item, value) in values)
            {
                CheckEntry(item.Path, value, use);
            }

            return new StaticListTable(node.Path, values.Select(v => v.Value), _delimiter);
        }

        var name = node.Value?.Trim() ?? string.Empty;
        if (name.Length == 0)
        {
            Error(node, "is empty: give a list ([...]) or a table name");
            return new StaticListTable(node.Path, []);
        }

        if (name.StartsWith('~'))
        {
            CheckEntry(node.Path, name, use);
            return new StaticListTable(node.Path, [name], _delimiter);
        }

        if (!tables.TryGetValue(name, out var table) || !_lookupTables.TryGetValue(name, out var compiled))
        {
            Error(node, UnknownTable(name, tables) + $"; for a single entry write [{name}]");
            return new StaticListTable(name, []);
        }

        if (_checkedTables.Add((table.Name, use)))
        {
            switch (table)
            {
                case ListTableSettings list:
                    for (var i = 0; i < list.Values.Count; i++)
                    {
                        CheckEntry($"tables.{table.Name}.values[{i.ToString(CultureInfo.InvariantCulture)}]", list.Values[i], use);
                    }

                    break;
                case FileTableSettings file when compiled is FileTable fileTable && File.Exists(file.Path):
                    foreach (var entry in fileTable.Contents.Entries)
                    {
                        CheckEntry($"tables.{table.Name}.path", entry.Key, use);
                    }

                    break;
            }
        }

        return compiled;
    }

    private void CheckEntry(string path, string value, LookupUse use)
    {
        if (value.StartsWith('~'))
        {
            if (!TableContents.TryParsePattern(value, out _, out var patternError))
            {
                Error(path, patternError ?? $"'{value}' is not a regular expression");
            }

            return;
        }

        switch (use)
        {
            case LookupUse.Network when !NetworkAddress.TryParseNetwork(value, out _, out var error):
                Error(path, error);
                break;
            case LookupUse.Domain:
                var name = value.StartsWith("*.", StringComparison.Ordinal) ? value[2..] : value;
                if (DomainName.Normalize(name) is not { } ascii || !DomainName.IsHostName(ascii))
                {
                    Error(path, $"'{value}' is not a domain name (use example.org, or *.example.org for its subdomains)");
                }

                break;
        }
    }

    /// <summary><c>550 5.7.1 text</c>: a 4xx or 5xx code, an optional enhanced code of the same class, the text.</summary>
    private SmtpReply? ParseReply(ConfigNode node, string text)
    {
        var match = ReplyPattern().Match(text);
        if (!match.Success)
        {
            Error(node, $"'{text}' is not a reply (use e.g. \"550 5.7.1 Relaying denied\")");
            return null;
        }

        var code = int.Parse(match.Groups["code"].Value, CultureInfo.InvariantCulture);
        var status = match.Groups["status"].Success ? match.Groups["status"].Value : null;
        if (status is not null && status[0] != match.Groups["code"].Value[0])
        {
            Error(node, $"'{text}': the enhanced code {status} does not match the class of {code}");
            return null;
        }

        return new SmtpReply(code, status, match.Groups["text"].Value);
    }

    [GeneratedRegex(@"^(?<code>[45][0-9][0-9])(?: (?<status>[45]\.[0-9]{1,3}\.[0-9]{1,3}))? (?<text>[\x20-\x7E]+)$")]
    private static partial Regex ReplyPattern();
}
