using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Json.Schema;
using SmtpServer.Configuration;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace SmtpServer.Tests.Configuration;

/// <summary>
/// The configuration files the project ships validate against config/smtpd.schema.json, as an
/// editor with the schema would check them (the builder is checked by ConfigLoaderTests).
/// </summary>
public sealed partial class ConfigFileSchemaTests
{
    private static readonly Lazy<JsonSchema> Schema = new(() => JsonSchema.FromText(
        File.ReadAllText(ConfigLoaderTests.RepositoryFile(ConfigReference.SchemaPath)),
        new BuildOptions { SchemaRegistry = new SchemaRegistry() }));

    public static TheoryData<string> ShippedFiles()
    {
        var files = new TheoryData<string> { "config/smtpd.yaml", "config/smtpd.example.yaml", "config/smtpd.json" };
        foreach (var file in Directory.GetFiles(ConfigLoaderTests.RepositoryFile("deploy/config"), "*.yaml").Order(StringComparer.Ordinal))
        {
            files.Add("deploy/config/" + Path.GetFileName(file));
        }

        return files;
    }

    [Theory]
    [MemberData(nameof(ShippedFiles))]
    public void Shipped_file_validates_against_the_schema(string file)
    {
        var errors = Validate(File.ReadAllText(ConfigLoaderTests.RepositoryFile(file)), Path.GetExtension(file));
        Assert.True(errors.Count == 0, $"{file} does not validate against {ConfigReference.SchemaPath}:\n{string.Join("\n", errors)}");
    }

    [Fact]
    public void The_deploy_directory_has_configurations_to_check()
    {
        Assert.Contains("deploy/config/smtpd.yaml", ((IEnumerable<object[]>)ShippedFiles()).Select(row => (string)row[0]));
    }

    private const string Base = """
        listeners: [ { name: mx, address: "127.0.0.1:2525" } ]
        rules: [ { from: any, for: local, action: local } ]

        """;

    private const string Actions = "actions: { local: { maildir: { path: ./mail } } }\n";

    [Fact]
    public void The_base_of_the_mistakes_below_validates()
    {
        Assert.Empty(Validate(Base + Actions, ".yaml"));
    }

    [Theory]
    [InlineData(Actions + "queue: { path: ./q, expiry: 4d }", "/queue")]
    [InlineData(Actions + "logging: { format: xml }", "/logging/format")]
    [InlineData(Actions + "server: { limits: { idleTimeout: 5 minutes } }", "/server/limits/idleTimeout")]
    [InlineData("actions: { local: { maildir: { path: /m }, mbox: { path: /b } } }", "/actions/local")]
    [InlineData(Actions + "tables: { t: { type: file, path: /t, format: cdb } }", "/tables/t")]
    public void The_schema_refuses_a_mistake(string sections, string location)
    {
        var errors = Validate(Base + sections, ".yaml");
        Assert.Contains(errors, e => e.StartsWith(location, StringComparison.Ordinal));
    }

    private static List<string> Validate(string text, string extension)
    {
        JsonNode? instance = extension is ".yaml" or ".yml" ? FromYaml(text) : JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip });
        using var document = JsonDocument.Parse(instance?.ToJsonString() ?? "null");
        var results = Schema.Value.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (results.IsValid)
        {
            return [];
        }

        return [.. (results.Details ?? [])
            .Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Key}: {e.Value} (schema {d.EvaluationPath})"))];
    }

    /// <summary>A YAML document as the JSON it stands for (YAML 1.2 core schema: plain true/false/null/numbers are typed).</summary>
    private static JsonNode? FromYaml(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return stream.Documents.Count == 0 ? null : Convert(stream.Documents[0].RootNode);
    }

    private static JsonNode? Convert(YamlNode node) => node switch
    {
        YamlMappingNode mapping => new JsonObject(mapping.Children.Select(c => KeyValuePair.Create(((YamlScalarNode)c.Key).Value!, Convert(c.Value)))),
        YamlSequenceNode sequence => new JsonArray([.. sequence.Children.Select(Convert)]),
        YamlScalarNode { Style: ScalarStyle.Plain, Value: var value } => Plain(value ?? string.Empty),
        YamlScalarNode scalar => JsonValue.Create(scalar.Value),
        _ => throw new InvalidDataException($"unsupported YAML node at {node.Start}"),
    };

    private static JsonNode? Plain(string value)
    {
        if (value is "" or "~" or "null" or "Null" or "NULL")
        {
            return null;
        }

        if (value is "true" or "True" or "TRUE" or "false" or "False" or "FALSE")
        {
            return JsonValue.Create(value.Equals("true", StringComparison.OrdinalIgnoreCase));
        }

        if (IntegerPattern().IsMatch(value))
        {
            return JsonValue.Create(long.Parse(value, CultureInfo.InvariantCulture));
        }

        return FloatPattern().IsMatch(value) ? JsonValue.Create(double.Parse(value, CultureInfo.InvariantCulture)) : JsonValue.Create(value);
    }

    [GeneratedRegex("^[-+]?[0-9]+$")]
    private static partial Regex IntegerPattern();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatPattern();
}
