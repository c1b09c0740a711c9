using System.Text.Json;

namespace SmtpServer.Configuration;

/// <summary>
/// config/smtpd.schema.json flattened into key paths (<c>server.limits.maxRecipients</c>,
/// <c>listeners[].tls.mode</c>, <c>actions.&lt;name&gt;.relay.host</c>) with their type, default
/// and meaning. The schema is the one description of the configuration: editors validate with
/// it, <see cref="ConfigReference"/> renders it into docs/configuration.md, and tests hold it
/// and <see cref="SettingsBuilder"/> to the same keys and defaults.
/// </summary>
internal sealed class ConfigSchema
{
    /// <summary>The path segment of an entry of a map whose keys the user names (tables, actions).</summary>
    public const string NameSegment = "<name>";

    /// <summary>The path suffix of a list's items.</summary>
    public const string ItemSuffix = "[]";

    private static readonly string[] Combinators = ["allOf", "anyOf", "oneOf"];

    private readonly JsonElement _definitions;
    private readonly List<ConfigKey> _keys = [];

    private ConfigSchema(JsonElement root)
    {
        Root = root;
        _definitions = root.TryGetProperty("$defs", out var definitions) ? definitions : default;
        Walk([root], string.Empty, false, []);
    }

    public JsonElement Root { get; }

    public string Title => Text(Root, "title") ?? "configuration";

    public string Description => Text(Root, "description") ?? string.Empty;

    /// <summary>Every key, parents before children, in the schema's order.</summary>
    public IReadOnlyList<ConfigKey> Keys => _keys;

    /// <summary>The value formats shared by several keys: the <c>$defs</c> that have a title.</summary>
    public IEnumerable<(string Title, string Description)> Formats =>
        _definitions.ValueKind != JsonValueKind.Object
            ? []
            : _definitions.EnumerateObject()
                .Where(d => Text(d.Value, "title") is not null)
                .Select(d => (Text(d.Value, "title")!, Text(d.Value, "description") ?? string.Empty));

    public static ConfigSchema Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return new ConfigSchema(document.RootElement.Clone());
    }

    /// <summary>The key at a generic path (<c>tables.&lt;name&gt;.format</c>), or null.</summary>
    public ConfigKey? Find(string path) => _keys.Find(k => k.Path == path);

    /// <summary>The names of the keys directly under a generic path ("" for the top level).</summary>
    public IEnumerable<string> ChildrenOf(string path)
    {
        var prefix = path.Length == 0 ? string.Empty : path + ".";
        foreach (var key in _keys)
        {
            if (key.Path.Length > prefix.Length && key.Path.StartsWith(prefix, StringComparison.Ordinal)
                && key.Path.AsSpan(prefix.Length).IndexOfAny('.', '[') < 0)
            {
                yield return key.Path[prefix.Length..];
            }
        }
    }

    /// <summary>
    /// The generic path of a path as <see cref="ConfigNode.Path"/> writes it:
    /// <c>actions.local.maildir</c> is <c>actions.&lt;name&gt;.maildir</c>, <c>rules[3].from</c> is
    /// <c>rules[].from</c>. Null when the schema has no such key.
    /// </summary>
    public string? GenericPath(string concretePath)
    {
        var generic = string.Empty;
        foreach (var raw in concretePath.Split('.'))
        {
            var segment = raw;
            var items = 0;
            while (segment.EndsWith(']') && segment.LastIndexOf('[') is var open and > 0)
            {
                segment = segment[..open];
                items++;
            }

            var prefix = generic.Length == 0 ? string.Empty : generic + ".";
            if (Find(prefix + segment) is not null)
            {
                generic = prefix + segment;
            }
            else if (generic.Length > 0 && _keys.Exists(k => k.Path.StartsWith(prefix + NameSegment + ".", StringComparison.Ordinal)))
            {
                generic = prefix + NameSegment;
            }
            else
            {
                return null;
            }

            for (var i = 0; i < items; i++)
            {
                generic += ItemSuffix;
            }
        }

        return generic;
    }

    /// <summary>
    /// The schemas that apply to a value described by <paramref name="node"/>: itself, what its
    /// <c>$ref</c> points to and the branches of allOf/anyOf/oneOf, recursively. A <c>$ref</c> in
    /// <paramref name="seen"/> is not followed (a condition inside <c>not</c> is a condition).
    /// </summary>
    public List<JsonElement> Expand(JsonElement node, HashSet<string> seen)
    {
        var result = new List<JsonElement>();
        Add(node);
        return result;

        void Add(JsonElement schema)
        {
            if (schema.ValueKind != JsonValueKind.Object)
            {
                return;
            }

            result.Add(schema);
            if (Reference(schema) is { } name && seen.Add(name) && _definitions.TryGetProperty(name, out var target))
            {
                Add(target);
            }

            foreach (var combinator in Combinators)
            {
                if (schema.TryGetProperty(combinator, out var branches) && branches.ValueKind == JsonValueKind.Array)
                {
                    foreach (var branch in branches.EnumerateArray())
                    {
                        Add(branch);
                    }
                }
            }
        }
    }

    public static string? Text(JsonElement schema, string keyword) =>
        schema.ValueKind == JsonValueKind.Object && schema.TryGetProperty(keyword, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;

    private static string? Reference(JsonElement schema) =>
        Text(schema, "$ref") is { } reference && reference.StartsWith("#/$defs/", StringComparison.Ordinal) ? reference["#/$defs/".Length..] : null;

    /// <summary>
    /// Adds the key at <paramref name="path"/> (described by <paramref name="nodes"/>: several when
    /// branches of a oneOf share a key, as <c>type</c> of list and file tables) and its children.
    /// </summary>
    private void Walk(IReadOnlyList<JsonElement> nodes, string path, bool required, HashSet<string> seen)
    {
        var expanded = nodes.SelectMany(n => Expand(n, seen)).ToList();
        if (path.Length > 0 && !path.EndsWith(ItemSuffix, StringComparison.Ordinal) && !path.EndsWith(NameSegment, StringComparison.Ordinal))
        {
            var defaultValue = nodes.Select(n => n.TryGetProperty("default", out var d) ? d : (JsonElement?)null).FirstOrDefault(d => d is not null);
            _keys.Add(new ConfigKey(
                path,
                string.Join(" or ", nodes.Select(TypeOf).Distinct()),
                defaultValue,
                nodes.Select(n => Text(n, "description")).FirstOrDefault(d => d is not null),
                required,
                nodes));
        }

        // Children: named properties (merged across branches), map entries, list items.
        var properties = new List<(string Name, List<JsonElement> Nodes, bool Required)>();
        foreach (var schema in expanded)
        {
            var requiredNames = schema.TryGetProperty("required", out var list) && list.ValueKind == JsonValueKind.Array
                ? list.EnumerateArray().Select(r => r.GetString()).ToHashSet()
                : [];
            if (schema.TryGetProperty("properties", out var named) && named.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in named.EnumerateObject())
                {
                    var index = properties.FindIndex(p => p.Name == property.Name);
                    if (index < 0)
                    {
                        properties.Add((property.Name, [property.Value], requiredNames.Contains(property.Name)));
                    }
                    else
                    {
                        properties[index].Nodes.Add(property.Value);
                    }
                }
            }
        }

        var prefix = path.Length == 0 ? string.Empty : path + ".";
        foreach (var (name, children, isRequired) in properties)
        {
            Walk(children, prefix + name, isRequired, [.. seen]);
        }

        var entries = expanded.Where(s => s.TryGetProperty("additionalProperties", out var a) && a.ValueKind == JsonValueKind.Object)
            .Select(s => s.GetProperty("additionalProperties")).ToList();
        if (entries.Count > 0)
        {
            Walk(entries, prefix + NameSegment, false, [.. seen]);
        }

        var items = expanded.Where(s => s.TryGetProperty("items", out var i) && i.ValueKind == JsonValueKind.Object)
            .Select(s => s.GetProperty("items")).ToList();
        if (items.Count > 0 && items.Any(i => Expand(i, [.. seen]).Any(e => e.TryGetProperty("properties", out _))))
        {
            Walk(items, path + ItemSuffix, false, [.. seen]);
        }
    }

    /// <summary>How the reference names a value's type: a format's title, the allowed values, or the JSON type.</summary>
    private string TypeOf(JsonElement schema)
    {
        if (Reference(schema) is { } name)
        {
            return _definitions.TryGetProperty(name, out var target) ? Text(target, "title") ?? name : name;
        }

        if (schema.TryGetProperty("const", out var constant))
        {
            return Code(constant);
        }

        if (schema.TryGetProperty("enum", out var values))
        {
            return "one of " + string.Join(", ", values.EnumerateArray().Select(Code));
        }

        foreach (var combinator in Combinators)
        {
            if (schema.TryGetProperty(combinator, out var branches) && branches.ValueKind == JsonValueKind.Array
                && branches.EnumerateArray().All(b => !b.TryGetProperty("required", out _) || b.EnumerateObject().Count() > 1))
            {
                return string.Join(" or ", branches.EnumerateArray().Select(TypeOf).Distinct());
            }
        }

        return Text(schema, "type") switch
        {
            "object" when schema.TryGetProperty("additionalProperties", out var entry) && entry.ValueKind == JsonValueKind.Object => "sections by name",
            "object" => "section",
            "array" when schema.TryGetProperty("items", out var item) =>
                Expand(item, []).Any(e => e.TryGetProperty("properties", out _)) ? "list of sections" : "list of " + TypeOf(item),
            { } type => type,
            null => "value",
        };
    }

    /// <summary>A JSON value as it is written in a YAML file, in backticks.</summary>
    public static string Code(JsonElement value) => "`" + Yaml(value) + "`";

    public static string Yaml(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!,
        JsonValueKind.Array => "[" + string.Join(", ", value.EnumerateArray().Select(Yaml)) + "]",
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => value.GetRawText(),
    };
}

/// <summary>One key of the configuration, as the schema describes it.</summary>
/// <param name="Path">Generic path: <c>listeners[].tls.mode</c>, <c>actions.&lt;name&gt;.relay.host</c>.</param>
/// <param name="Type">How its value is written (a format's title, the allowed values, or a JSON type).</param>
/// <param name="Default">The schema's <c>default</c>, or null.</param>
/// <param name="Description">What it means; null when the schema does not say.</param>
/// <param name="Required">Required in its section.</param>
/// <param name="Schemas">The schema nodes of the key (several when branches share it).</param>
internal sealed record ConfigKey(string Path, string Type, JsonElement? Default, string? Description, bool Required, IReadOnlyList<JsonElement> Schemas)
{
    /// <summary>The top-level section it belongs to (<c>server</c>, <c>listeners</c>, ...).</summary>
    public string Section => Path.Split('.', '[')[0];
}
