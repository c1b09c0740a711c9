using System.Text.Json;
using System.Text.Json.Nodes;
using SmtpServer.Configuration;

namespace SmtpServer.Tests.Configuration;

/// <summary>
/// A configuration made from the schema alone in which every key the schema declares appears
/// at least once, with a value of the right shape (section, list or value). Values need not be
/// valid (a file that does not exist, a table nobody defined): the builder still checks the keys
/// of every section, which is what <see cref="ConfigSchemaAgreementTests"/> compares. Where
/// the schema allows only one of some keys (an action's agent, a condition), the section is
/// repeated: one more list item or map entry per choice.
/// </summary>
internal sealed class SchemaExample(ConfigSchema schema)
{
    private int _names;

    /// <summary>One configuration per variant of the top level (usually one).</summary>
    public IReadOnlyList<JsonObject> Build() => [.. Variants(schema.Root, []).OfType<JsonObject>()];

    /// <summary>
    /// Values for <paramref name="node"/>: first a simple one (a value, or the key's default),
    /// then every section-shaped one; together they use every key below.
    /// </summary>
    private List<JsonNode> Variants(JsonElement node, HashSet<string> seen)
    {
        var expanded = schema.Expand(node, seen);
        var result = new List<JsonNode>();
        if (node.TryGetProperty("default", out var @default))
        {
            result.Add(JsonNode.Parse(@default.GetRawText())!);
        }
        else if (expanded.Select(Simple).FirstOrDefault(v => v is not null) is { } simple)
        {
            result.Add(simple);
        }

        foreach (var candidate in expanded)
        {
            if (candidate.TryGetProperty("properties", out _))
            {
                result.AddRange(Objects(candidate, seen));
            }
            else if (candidate.TryGetProperty("additionalProperties", out var entry) && entry.ValueKind == JsonValueKind.Object)
            {
                var map = new JsonObject();
                foreach (var value in Variants(entry, [.. seen]).OfType<JsonObject>())
                {
                    map[$"x{++_names}"] = value;
                }

                result.Add(map);
            }
            else if (candidate.TryGetProperty("items", out var items) && items.ValueKind == JsonValueKind.Object)
            {
                var structured = Variants(items, [.. seen]).OfType<JsonObject>().ToList();
                if (structured.Count > 0)
                {
                    result.Add(new JsonArray([.. structured]));
                }
            }
        }

        return result.Count > 0 ? result : [JsonValue.Create("x")];
    }

    /// <summary>The sections an object schema allows, together holding each of its properties.</summary>
    private List<JsonNode> Objects(JsonElement candidate, HashSet<string> seen)
    {
        var properties = candidate.GetProperty("properties").EnumerateObject()
            .Select(p => (p.Name, Values: Variants(p.Value, [.. seen])))
            .ToList();
        var result = new List<JsonNode>();
        if (candidate.TryGetProperty("maxProperties", out var max) && max.GetInt32() == 1)
        {
            // A condition: exactly one key.
            foreach (var (name, values) in properties)
            {
                result.AddRange(values.Select(v => new JsonObject { [name] = v.DeepClone() }));
            }

            return result;
        }

        // An action: oneOf [{ required: [maildir] }, ...] means one of those keys per section.
        var choices = candidate.TryGetProperty("oneOf", out var oneOf)
            ? oneOf.EnumerateArray().Where(b => b.EnumerateObject().All(k => k.Name == "required"))
                .Select(b => b.GetProperty("required").EnumerateArray().Select(r => r.GetString()!).ToHashSet()).ToList()
            : [];
        var exclusive = choices.SelectMany(c => c).ToHashSet();
        foreach (var choice in choices.Count > 0 ? choices : [[]])
        {
            var present = properties.Where(p => !exclusive.Contains(p.Name) || choice.Contains(p.Name)).ToList();
            JsonObject Make(string? replaced, JsonNode? value)
            {
                var section = new JsonObject();
                foreach (var (name, values) in present)
                {
                    section[name] = (name == replaced ? value! : values[0]).DeepClone();
                }

                return section;
            }

            result.Add(Make(null, null));
            foreach (var (name, values) in present)
            {
                result.AddRange(values.Skip(1).Select(v => Make(name, v)));
            }
        }

        return result;
    }

    /// <summary>A plain value that fits <paramref name="candidate"/>, or null when it describes no value.</summary>
    private static JsonNode? Simple(JsonElement candidate)
    {
        if (candidate.TryGetProperty("const", out var constant))
        {
            return JsonNode.Parse(constant.GetRawText());
        }

        if (candidate.TryGetProperty("enum", out var values))
        {
            return JsonNode.Parse(values[0].GetRawText());
        }

        return ConfigSchema.Text(candidate, "type") switch
        {
            "string" => JsonValue.Create("x"),
            "integer" or "number" => JsonValue.Create(1),
            "boolean" => JsonValue.Create(true),
            "array" when candidate.TryGetProperty("items", out var items) && Simple(items) is { } item => new JsonArray(item),
            _ => null,
        };
    }
}
