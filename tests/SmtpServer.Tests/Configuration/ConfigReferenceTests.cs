using SmtpServer.Configuration;

namespace SmtpServer.Tests.Configuration;

/// <summary>docs/configuration.md is the schema rendered (<c>smtpd --config-reference</c>), and says what every key means.</summary>
public sealed class ConfigReferenceTests
{
    private const string ReferenceFile = "docs/configuration.md";

    [Fact]
    public void Docs_configuration_md_is_generated_from_the_current_schema()
    {
        var expected = ConfigReference.Render(ConfigSchema.Parse(File.ReadAllText(ConfigLoaderTests.RepositoryFile(ConfigReference.SchemaPath))));
        var path = ConfigLoaderTests.RepositoryFile(ReferenceFile);
        var actual = File.Exists(path) ? File.ReadAllText(path) : string.Empty;
        if (actual == expected)
        {
            return;
        }

        var expectedLines = expected.Split('\n');
        var actualLines = actual.Split('\n');
        var line = 0;
        while (line < expectedLines.Length && line < actualLines.Length && expectedLines[line] == actualLines[line])
        {
            line++;
        }

        Assert.Fail($"{ReferenceFile} is not what {ConfigReference.SchemaPath} renders to; regenerate it from the repository root with:\n"
            + $"  {ConfigReference.RegenerateCommand}\n"
            + $"first difference at line {line + 1}:\n"
            + $"  file:   {(line < actualLines.Length ? actualLines[line] : "(end of file)")}\n"
            + $"  schema: {(line < expectedLines.Length ? expectedLines[line] : "(end of file)")}");
    }

    [Fact]
    public void Every_key_in_the_schema_says_what_it_means()
    {
        var schema = ConfigSchema.Parse(File.ReadAllText(ConfigLoaderTests.RepositoryFile(ConfigReference.SchemaPath)));
        var undocumented = schema.Keys.Where(k => string.IsNullOrWhiteSpace(k.Description)).Select(k => k.Path).ToList();
        Assert.True(undocumented.Count == 0, $"keys without a \"description\" in {ConfigReference.SchemaPath}: {string.Join(", ", undocumented)}");
        Assert.Contains(schema.Keys, k => k.Path == "listeners[].tls.mode" && k.Default is not null);
        Assert.Contains(schema.Keys, k => k.Path == "actions.<name>.relay.host");
        Assert.Contains(schema.Keys, k => k.Path == "rules[].from.not");
    }

    [Theory]
    [InlineData("README.md")]
    [InlineData("docs/operations.md")]
    public void The_reference_is_linked_from(string document)
    {
        var text = File.ReadAllText(ConfigLoaderTests.RepositoryFile(document));
        Assert.Contains(document.StartsWith("docs/", StringComparison.Ordinal) ? "(configuration.md)" : "(docs/configuration.md)", text, StringComparison.Ordinal);
    }
}
