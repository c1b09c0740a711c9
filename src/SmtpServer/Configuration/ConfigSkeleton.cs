using System.Text.Json;
using YamlDotNet.RepresentationModel;

namespace SmtpServer.Configuration;

/// <summary>
/// Microsoft.Extensions.Configuration drops empty sections and lists (<c>relay: {}</c>,
/// <c>delayWarnings: []</c>): they hold no value, so no key is stored. In this file format an
/// empty section is meaningful (an MX relay with default options), so the file is walked once more
/// and every empty mapping or sequence is added to the tree as a present, empty key.
/// </summary>
internal static class ConfigSkeleton
{
    public static void AddEmptyContainers(string fullPath, bool json, ConfigNode root)
    {
        var text = File.ReadAllText(fullPath);
        if (json)
        {
            var options = new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };
            using var document = JsonDocument.Parse(text, options);
            Walk(document.RootElement, root);
            return;
        }

        var stream = new YamlStream();
        using var reader = new StringReader(text);
        stream.Load(reader);
        if (stream.Documents.Count > 0)
        {
            Walk(stream.Documents[0].RootNode, root);
        }
    }

    private static void Walk(YamlNode node, ConfigNode target)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                foreach (var (key, value) in mapping.Children)
                {
                    if (key is YamlScalarNode { Value: { } name })
                    {
                        Walk(value, target.GetOrAdd(name));
                    }
                }

                break;
            case YamlSequenceNode sequence:
                for (var i = 0; i < sequence.Children.Count; i++)
                {
                    Walk(sequence.Children[i], target.GetOrAdd(i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                }

                break;
        }

    }

    private static void Walk(JsonElement element, ConfigNode target)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    Walk(property.Value, target.GetOrAdd(property.Name));
                }

                break;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in element.EnumerateArray())
                {
                    Walk(item, target.GetOrAdd((i++).ToString(System.Globalization.CultureInfo.InvariantCulture)));
                }

                break;
        }

    }
}
