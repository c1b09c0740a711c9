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

    /// <summary>Comma-separated values; a value in double quotes may hold commas (<c>"|cmd a,b"</c>).</summary>
    private static List<string> SplitValues(string text)
    {
        var values = new List<string>();
        var current = new System.Text.StringBuilder();
        var quoted = false;
        foreach (var c in text)
        {
            if (c == '"')
            {
                quoted = !quoted;
                continue;
            }

            // error:5xx text takes the rest of the value, commas included.
            if (c == ',' && !quoted && !current.ToString().TrimStart().StartsWith("error:", StringComparison.OrdinalIgnoreCase))
            {
                Add();
                continue;
            }

            current.Append(c);
        }

        Add();
        return values;

        void Add()
        {
            var value = current.ToString().Trim();
            current.Clear();
            if (value.Length > 0)
            {
                values.Add(value);
            }
        }
    }
}
