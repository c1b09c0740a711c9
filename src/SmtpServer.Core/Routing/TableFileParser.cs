namespace SmtpServer.Core.Routing;

/// <summary>
/// Parses the text of a file table (OpenSMTPD <c>table_static</c>, shared by every format):
/// <c>#</c> starts a comment line, blank lines are skipped, keys are case-insensitive. A bad
/// line is skipped and reported; it never makes a neighbouring line mean something else.
/// </summary>
internal static class TableFileParser
{
    public static List<(string Key, IReadOnlyList<string> Values)> Parse(IEnumerable<string> lines, TableFormat format, List<TableProblem> problems)
    {
        var result = new List<(string Key, IReadOnlyList<string> Values)>();
        var number = 0;
        List<string>? continued = null;
        foreach (var raw in lines)
        {
            number++;
            var trimmed = raw.Trim();
            if (trimmed.Length == 0 || trimmed[0] == '#')
            {
                continued = null;
                continue;
            }

            // aliases(5): a line that starts with white space continues the previous entry.
            if (format == TableFormat.Aliases && continued is not null && char.IsWhiteSpace(raw[0]))
            {
                continued.AddRange(SplitValues(trimmed));
                continue;
            }

            continued = null;
            switch (format)
            {
                case TableFormat.List:
                    result.Add((trimmed, []));
                    break;
                case TableFormat.Netaddr:
                    if (NetworkAddress.TryParseNetwork(trimmed, out _, out var error))
                    {
                        result.Add((trimmed, []));
                    }
                    else
                    {
                        problems.Add(new TableProblem(number, error));
                    }

                    break;
                case TableFormat.Aliases:
                {
                    var colon = trimmed.IndexOf(':', StringComparison.Ordinal);
                    var (key, rest) = colon > 0 ? (trimmed[..colon].Trim(), trimmed[(colon + 1)..]) : SplitKey(trimmed);
                    var values = SplitValues(rest);
                    if (key.Length == 0 || key.Any(char.IsWhiteSpace))
                    {
                        problems.Add(new TableProblem(number, "expected 'name: value, value, ...'"));
                        break;
                    }

                    continued = values;
                    result.Add((key.ToLowerInvariant(), values));
                    break;
                }

                default:
                {
                    var (key, value) = SplitKey(trimmed);
                    if (key.Length == 0 || value.Length == 0)
                    {
                        problems.Add(new TableProblem(number, format == TableFormat.Credentials ? "expected 'user:hash'" : "expected 'key value' or 'key: value'"));
                        break;
                    }

                    result.Add((key, [value]));
                    break;
                }
            }
        }

        // An aliases entry whose values all came on continuation lines is still one entry.
        for (var i = 0; i < result.Count; i++)
        {
            if (format == TableFormat.Aliases && result[i].Values.Count == 0)
            {
                problems.Add(new TableProblem(0, $"alias '{result[i].Key}' has no value"));
                result.RemoveAt(i--);
            }
        }

        return result;
    }

    /// <summary><c>key value</c> or <c>key: value</c>: the key ends at the first white space or ':'.</summary>
    private static (string Key, string Value) SplitKey(string line)
    {
        var end = line.IndexOfAny([' ', '\t', ':']);
        if (end < 0)
        {
            return (line, string.Empty);
        }

        var value = line[end..].TrimStart();
        if (line[end] == ':' || value.StartsWith(':'))
        {
            value = value.TrimStart(':').TrimStart();
        }

        return (line[..end], value.Trim());
    }

    /// <summary>
    /// Comma-separated values. Double quotes protect commas (<c>"|cmd a,b"</c>), with <c>\"</c>
    /// and <c>\\</c> escaped inside them; a value wholly in double quotes is returned without
    /// them (and unescaped), any other value verbatim, so the quotes of a command line stay for
    /// <see cref="CommandLine"/>. <c>error:5xx text</c> takes the rest of the value, commas
    /// included. With <paramref name="expanding"/> (the expander splitting a map value, or an
    /// aliases value again) a <c>|command</c> also takes the rest: an aliases value that still
    /// holds a comma in a command was quoted in the file.
    /// </summary>
    internal static List<string> SplitValues(string text, bool expanding = false)
    {
        var values = new List<string>();
        var current = new System.Text.StringBuilder();
        var quoted = false;
        var escaped = false;
        foreach (var c in text)
        {
            if (escaped || (quoted && c == '\\'))
            {
                escaped = !escaped;
            }
            else if (c == '"')
            {
                quoted = !quoted;
            }
            else if (c == ',' && !quoted && !TakesRest(current))
            {
                Add();
                continue;
            }

            current.Append(c);
        }

        Add();
        return values;

        bool TakesRest(System.Text.StringBuilder value)
        {
            var start = value.ToString().TrimStart();
            return start.StartsWith("error:", StringComparison.OrdinalIgnoreCase) || (expanding && start.StartsWith('|'));
        }

        void Add()
        {
            var value = Unquote(current.ToString().Trim());
            current.Clear();
            if (value.Length > 0)
            {
                values.Add(value);
            }
        }
    }

    /// <summary>
    /// A value wholly in double quotes without them, <c>\"</c> and <c>\\</c> unescaped; any other
    /// value as it is (<c>"a b"@example.org</c> keeps its quoted local part).
    /// </summary>
    internal static string Unquote(string value)
    {
        if (value.Length < 2 || value[0] != '"' || value[^1] != '"')
        {
            return value;
        }

        var inner = new System.Text.StringBuilder(value.Length);
        for (var i = 1; i < value.Length - 1; i++)
        {
            var c = value[i];
            if (c == '\\' && i + 1 < value.Length - 1 && value[i + 1] is '"' or '\\')
            {
                c = value[++i];
            }
            else if (c == '"')
            {
                return value; // Two quoted strings ("a"@b"c"), not one.
            }

            inner.Append(c);
        }

        return inner.ToString().Trim();
    }
}
