using System.Text.Json;
using System.Text.Json.Nodes;
using SmtpServer.Configuration;
using SmtpServer.Testing;
using SmtpServer.Tests.Infrastructure;

namespace SmtpServer.Tests.Configuration;

/// <summary>
/// config/smtpd.schema.json (what editors and docs/configuration.md say) and
/// <see cref="SettingsBuilder"/> (what smtpd accepts) describe the same keys and defaults.
/// Whoever adds a key to one gets a failure naming the key and where to add it in the other.
/// </summary>
public sealed class ConfigSchemaAgreementTests : IDisposable
{
    private static readonly Dictionary<string, string> NoEnvironment = [];
    private static readonly string SchemaFile = ConfigLoaderTests.RepositoryFile(ConfigReference.SchemaPath);
    private readonly TempDirectory _directory = new("smtpd-schema");

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void Every_key_the_builder_accepts_is_in_the_schema()
    {
        var schema = Schema();
        var missing = new List<string>();
        foreach (var (example, builder, _) in BuildExamples(schema))
        {
            foreach (var (path, keys) in builder.CheckedSections)
            {
                var generic = path.Length == 0 ? string.Empty : schema.GenericPath(path);
                Assert.True(generic is not null, $"SettingsBuilder checked the keys of '{path}', which the schema's example has but the schema cannot name");
                var declared = schema.ChildrenOf(generic).ToHashSet(StringComparer.Ordinal);
                missing.AddRange(keys.Where(k => !declared.Contains(k)).Select(k =>
                    $"'{Join(generic, k)}' is accepted by SettingsBuilder but missing from {ConfigReference.SchemaPath}: add \"{k}\" "
                    + $"(with a description, and a default if it has one) to the properties of {Where(generic)}, then run: {ConfigReference.RegenerateCommand}"));
            }
        }

        Assert.True(missing.Count == 0, string.Join("\n", missing.Distinct()));
    }

    [Fact]
    public void Every_key_of_the_schema_is_accepted_by_the_builder()
    {
        var schema = Schema();
        var problems = new List<string>();
        foreach (var (example, builder, errors) in BuildExamples(schema))
        {
            problems.AddRange(errors.Where(e => e.Message.StartsWith("unknown key", StringComparison.Ordinal) || e.Message.StartsWith("unknown condition", StringComparison.Ordinal))
                .DistinctBy(e => schema.GenericPath(e.Key) ?? e.Key)
                .Select(e => $"{ConfigReference.SchemaPath} declares '{schema.GenericPath(e.Key) ?? e.Key}' but SettingsBuilder refuses it ({e.Key}: {e.Message}); "
                    + "read it in src/SmtpServer/Configuration/SettingsBuilder*.cs or remove it from the schema"));

            var checkedSections = builder.CheckedSections.GroupBy(s => s.Path).ToDictionary(g => g.Key, g => g.SelectMany(s => s.Keys).ToHashSet(StringComparer.Ordinal));
            foreach (var (path, section) in Sections(example, string.Empty))
            {
                var generic = path.Length == 0 ? string.Empty : schema.GenericPath(path)!;
                if (!schema.ChildrenOf(generic).Any())
                {
                    continue; // a map of names (tables, actions): its entries are the sections
                }

                if (!checkedSections.TryGetValue(path, out var accepted))
                {
                    problems.Add($"'{Describe(generic)}' is a section in {ConfigReference.SchemaPath} but SettingsBuilder never checked its keys (example: {path} = {section.ToJsonString()})");
                    continue;
                }

                problems.AddRange(section.Select(p => p.Key).Where(k => !accepted.Contains(k)).Select(k =>
                    $"'{Join(generic, k)}' is in {ConfigReference.SchemaPath} but SettingsBuilder does not accept it there (it accepts: {string.Join(", ", accepted)}); "
                    + "read it in src/SmtpServer/Configuration/SettingsBuilder*.cs or remove it from the schema"));
            }
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems.Distinct()));
    }

    [Fact]
    public void Defaults_in_the_schema_are_the_builders_defaults()
    {
        var schema = Schema();
        var minimal = MinimalConfig();
        var baseline = SettingsDump.Of(Load(minimal, "minimal"));
        var problems = new List<string>();
        var checkedKeys = 0;
        foreach (var key in schema.Keys.Where(k => k.Default is not null))
        {
            var value = JsonNode.Parse(key.Default!.Value.GetRawText());
            var tokens = Tokens(key.Path);
            var slots = Slots(minimal, tokens, 0).Count();
            string? why = slots == 0 ? "it has no place for it" : null;
            var compared = false;
            for (var i = 0; i < slots && !compared; i++)
            {
                var config = (JsonObject)minimal.DeepClone();
                Slots(config, tokens, 0).ElementAt(i)[tokens[^1]] = value?.DeepClone();
                var loaded = LoadResult(config, "explicit");
                if (loaded.Settings is null)
                {
                    why = "setting it there is refused: " + string.Join("; ", loaded.Errors);
                    continue;
                }

                compared = true;
                checkedKeys++;
                var explicitDump = SettingsDump.Of(loaded.Settings);
                var differences = explicitDump.Except(baseline).ToList();
                if (differences.Count > 0)
                {
                    problems.Add($"'{key.Path}': {ConfigReference.SchemaPath} says the default is {ConfigSchema.Code(key.Default.Value)}, "
                        + $"but SettingsBuilder's default differs; omitted: {string.Join(", ", baseline.Except(explicitDump))}; "
                        + $"set to {ConfigSchema.Code(key.Default.Value)}: {string.Join(", ", differences)}");
                }
            }

            if (!compared)
            {
                problems.Add($"'{key.Path}' has a default in {ConfigReference.SchemaPath} that cannot be checked: {why}; "
                    + $"give its section a place in {nameof(ConfigSchemaAgreementTests)}.{nameof(MinimalConfig)}");
            }
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
        Assert.True(checkedKeys > 30, $"only {checkedKeys} defaults compared");
    }

    [Fact]
    public void The_example_reaches_every_section_of_the_builder()
    {
        // Guards the two tests above: a builder that stopped at the first error would check nothing.
        var schema = Schema();
        var (_, builder, _) = BuildExamples(schema).Single();
        var reached = builder.CheckedSections.Select(s => schema.GenericPath(s.Path) ?? s.Path).ToHashSet();
        foreach (var expected in new[] { "", "server", "server.limits", "server.smtp", "queue", "admin", "logging", "listeners[]", "listeners[].tls",
            "listeners[].tls.certificates[]", "listeners[].auth", "tables.<name>", "actions.<name>", "actions.<name>.maildir", "actions.<name>.mbox",
            "actions.<name>.lmtp", "actions.<name>.command", "actions.<name>.relay", "rules[]", "rules[].from", "rules[].for", "rules[].helo", "dns" })
        {
            Assert.Contains(expected, reached);
        }
    }

    private static ConfigSchema Schema() => ConfigSchema.Parse(File.ReadAllText(SchemaFile));

    private IEnumerable<(JsonObject Example, SettingsBuilder Builder, List<ConfigError> Errors)> BuildExamples(ConfigSchema schema)
    {
        var examples = new SchemaExample(schema).Build();
        Assert.NotEmpty(examples);
        for (var i = 0; i < examples.Count; i++)
        {
            var path = _directory.Combine($"example{i}.json");
            File.WriteAllText(path, examples[i].ToJsonString());
            var errors = new List<ConfigError>();
            var root = ConfigLoader.ReadTree(path, NoEnvironment, errors);
            Assert.True(root is not null, string.Join("\n", errors));
            var builder = new SettingsBuilder(errors);
            builder.Build(root);
            yield return (examples[i], builder, errors);
        }
    }

    /// <summary>Every section of a JSON configuration with its path as <see cref="ConfigNode.Path"/> writes it.</summary>
    private static IEnumerable<(string Path, JsonObject Section)> Sections(JsonNode? node, string path)
    {
        switch (node)
        {
            case JsonObject section:
                yield return (path, section);
                foreach (var (key, child) in section)
                {
                    foreach (var inner in Sections(child, path.Length == 0 ? key : $"{path}.{key}"))
                    {
                        yield return inner;
                    }
                }

                break;
            case JsonArray items:
                for (var i = 0; i < items.Count; i++)
                {
                    foreach (var inner in Sections(items[i], $"{path}[{i}]"))
                    {
                        yield return inner;
                    }
                }

                break;
        }
    }

    /// <summary>
    /// A valid configuration that has, once each, every section under which the schema declares
    /// a default, with those keys left out: one listener with TLS and AUTH, a list and a file
    /// table, a maildir and a relay action, a rule without from/for.
    /// </summary>
    private JsonObject MinimalConfig()
    {
        var (certificate, key) = TestCertificates.Write(_directory.Path);
        var d = _directory.Path;
        return JsonNode.Parse($$"""
            {
              "server": { "hostname": "mx.test.example", "limits": {}, "smtp": {} },
              "queue": {},
              "admin": {},
              "logging": {},
              "listeners": [ { "name": "mx", "address": "127.0.0.1:0",
                "tls": { "certificate": "{{certificate}}", "key": "{{key}}" },
                "auth": { "credentials": "users" } } ],
              "tables": {
                "users": { "type": "file", "path": "{{d}}/credentials", "format": "credentials" },
                "domains": { "type": "list", "values": [ "test.example" ] },
                "aliases": { "type": "file", "path": "{{d}}/aliases" }
              },
              "actions": {
                "local": { "maildir": { "path": "{{d}}/mail/{user}" }, "aliases": "aliases", "aliasTargets": {} },
                "outbound": { "relay": {} } },
              "rules": [ { "action": "local" } ],
              "dns": {}
            }
            """)!.AsObject();
    }

    private ConfigLoadResult LoadResult(JsonObject config, string name)
    {
        var path = _directory.Combine(name + ".json");
        File.WriteAllText(path, config.ToJsonString());
        return ConfigLoader.Load(path, NoEnvironment);
    }

    private ServerSettings Load(JsonObject config, string name)
    {
        var loaded = LoadResult(config, name);
        Assert.True(loaded.Settings is not null, string.Join("\n", loaded.Errors));
        return loaded.Settings;
    }

    /// <summary><c>listeners[].tls.mode</c> as listeners, [], tls, mode.</summary>
    private static List<string> Tokens(string genericPath)
    {
        var tokens = new List<string>();
        foreach (var part in genericPath.Split('.'))
        {
            var name = part;
            var items = 0;
            while (name.EndsWith(ConfigSchema.ItemSuffix, StringComparison.Ordinal))
            {
                name = name[..^ConfigSchema.ItemSuffix.Length];
                items++;
            }

            tokens.Add(name);
            tokens.AddRange(Enumerable.Repeat(ConfigSchema.ItemSuffix, items));
        }

        return tokens;
    }

    /// <summary>The sections of <paramref name="node"/> where the last token could be set and is not.</summary>
    private static IEnumerable<JsonObject> Slots(JsonNode? node, List<string> tokens, int index)
    {
        if (index == tokens.Count - 1)
        {
            if (node is JsonObject parent && !parent.ContainsKey(tokens[index]))
            {
                yield return parent;
            }

            yield break;
        }

        IEnumerable<JsonNode?> children = (tokens[index], node) switch
        {
            (ConfigSchema.ItemSuffix, JsonArray items) => items,
            (ConfigSchema.NameSegment, JsonObject map) => map.Select(e => e.Value),
            (var name, JsonObject section) when section[name] is { } child => [child],
            _ => [],
        };
        foreach (var child in children)
        {
            foreach (var slot in Slots(child, tokens, index + 1))
            {
                yield return slot;
            }
        }
    }

    private static string Join(string generic, string key) => generic.Length == 0 ? key : $"{generic}.{key}";

    private static string Describe(string generic) => generic.Length == 0 ? "(the top level)" : generic;

    private static string Where(string generic) => generic.Length == 0 ? "the top level" : $"'{generic}'";
}
