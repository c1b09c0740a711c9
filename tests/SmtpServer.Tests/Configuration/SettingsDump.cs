using System.Collections;
using System.Globalization;
using System.Net;
using System.Reflection;

namespace SmtpServer.Tests.Configuration;

/// <summary>
/// Typed settings as lines <c>Limits.MaxRecipients = 1000</c>, found by reflection so that a
/// setting added later is compared too: two configurations that mean the same give the same
/// lines. Records are walked property by property; other types that describe themselves
/// (rules and conditions, tables by name) are written with their ToString.
/// </summary>
internal static class SettingsDump
{
    private const int MaxDepth = 8;

    public static List<string> Of(object settings)
    {
        var lines = new List<string>();
        Add(lines, string.Empty, settings, 0);
        return lines;
    }

    private static void Add(List<string> lines, string path, object? value, int depth)
    {
        switch (value)
        {
            case null:
                lines.Add($"{path} = null");
                return;
            case string or char or bool or Enum or TimeSpan or IPEndPoint or IPAddress or Uri:
                lines.Add($"{path} = {value}");
                return;
            case IFormattable number when value.GetType().IsPrimitive || value is decimal:
                lines.Add($"{path} = {number.ToString(null, CultureInfo.InvariantCulture)}");
                return;
            case IDictionary dictionary:
                foreach (var key in dictionary.Keys.Cast<object>().OrderBy(k => k.ToString(), StringComparer.Ordinal))
                {
                    Add(lines, $"{path}[{key}]", dictionary[key], depth + 1);
                }

                return;
            case IEnumerable items:
                var index = 0;
                foreach (var item in items)
                {
                    Add(lines, $"{path}[{index++}]", item, depth + 1);
                }

                return;
        }

        var type = value.GetType();
        var isRecord = type.GetMethod("<Clone>$") is not null;
        if (depth >= MaxDepth || type.Namespace?.StartsWith("SmtpServer", StringComparison.Ordinal) != true
            || (!isRecord && type.GetMethod(nameof(ToString), Type.EmptyTypes)!.DeclaringType != typeof(object)))
        {
            lines.Add($"{path} = {value}");
            return;
        }

        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.GetIndexParameters().Length == 0))
        {
            Add(lines, path.Length == 0 ? property.Name : $"{path}.{property.Name}", property.GetValue(value), depth + 1);
        }
    }
}
