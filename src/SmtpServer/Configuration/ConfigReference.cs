using System.Text;

namespace SmtpServer.Configuration;

/// <summary>
/// Renders docs/configuration.md from config/smtpd.schema.json (<c>smtpd --config-reference</c>):
/// every key with its type, default and meaning, one table per top-level section. Generated,
/// never edited, so the reference cannot drift from the schema (a test regenerates and compares).
/// </summary>
internal static class ConfigReference
{
    /// <summary>The schema, relative to the repository root (where the command is run).</summary>
    public const string SchemaPath = "config/smtpd.schema.json";

    public const string RegenerateCommand = "dotnet run --project src/SmtpServer -- --config-reference docs/configuration.md";

    public static string Render(ConfigSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        var text = new StringBuilder();
        text.Append("# Configuration reference\n\n")
            .Append("<!-- Generated from ").Append(SchemaPath).Append(" by `smtpd --config-reference`: do not edit.\n")
            .Append("     After changing the schema, from the repository root: ").Append(RegenerateCommand).Append(" -->\n\n")
            .Append(schema.Description).Append("\n\n")
            .Append("Every key of the file, as `").Append(SchemaPath).Append("` (the JSON Schema editors use) describes it. ")
            .Append("`listeners[]` stands for each entry of a list, `<name>` for a name you choose (`tables.<name>`). ")
            .Append("See `config/smtpd.example.yaml` for a whole file.\n\n");

        text.Append("## Value formats\n\n| format | how it is written |\n| --- | --- |\n");
        foreach (var (title, description) in schema.Formats)
        {
            text.Append("| ").Append(title).Append(" | ").Append(Cell(description)).Append(" |\n");
        }

        foreach (var section in schema.Keys.Where(k => !k.Path.Contains('.', StringComparison.Ordinal) && !k.Path.Contains('[', StringComparison.Ordinal)))
        {
            text.Append("\n## ").Append(section.Path).Append("\n\n");
            text.Append(section.Description ?? string.Empty).Append(section.Required ? " Required." : string.Empty).Append("\n\n");
            text.Append("| key | type | default | meaning |\n| --- | --- | --- | --- |\n");
            foreach (var key in schema.Keys.Where(k => k.Section == section.Path && k != section))
            {
                var @default = key.Default is { } value ? ConfigSchema.Code(value) : key.Required ? "required" : string.Empty;
                text.Append("| `").Append(key.Path).Append("` | ").Append(Cell(key.Type)).Append(" | ").Append(Cell(@default))
                    .Append(" | ").Append(Cell(key.Description ?? string.Empty)).Append(" |\n");
            }
        }

        return text.ToString();
    }

    /// <summary>Text in a Markdown table cell: a pipe would end the cell.</summary>
    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
