using System.Text;

namespace SmtpServer.Core.Routing;

/// <summary>
/// Splits the command line of an aliases(5) <c>|command</c> value into argv, because no shell
/// ever runs it (DESIGN.md decision 7). The rules are a small, fixed subset of the shell's:
/// <list type="bullet">
/// <item>arguments are separated by spaces and tabs;</item>
/// <item><c>'…'</c> keeps everything up to the next <c>'</c> literally;</item>
/// <item><c>"…"</c> keeps everything literally except <c>\"</c> and <c>\\</c>, which become <c>"</c> and <c>\</c>;</item>
/// <item>outside quotes, <c>\c</c> is the character <c>c</c>;</item>
/// <item>quoted and unquoted pieces next to each other make one argument (<c>a'b c'</c> is <c>ab c</c>).</item>
/// </list>
/// Nothing else is special: <c>$</c>, <c>*</c>, <c>~</c>, <c>;</c>, <c>|</c>, <c>&gt;</c> and
/// backquotes are ordinary characters. An unterminated quote, a trailing backslash or an empty
/// line is an error.
/// </summary>
internal static class CommandLine
{
    public static bool TrySplit(string text, out List<string> argv, out string error)
    {
        ArgumentNullException.ThrowIfNull(text);
        argv = [];
        error = string.Empty;
        var current = new StringBuilder();
        var inArgument = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            switch (c)
            {
                case ' ' or '\t':
                    if (inArgument)
                    {
                        argv.Add(current.ToString());
                        current.Clear();
                        inArgument = false;
                    }

                    continue;
                case '\'':
                {
                    var end = text.IndexOf('\'', i + 1);
                    if (end < 0)
                    {
                        error = "unterminated ' quote";
                        return false;
                    }

                    current.Append(text, i + 1, end - i - 1);
                    i = end;
                    break;
                }

                case '"':
                {
                    var closed = false;
                    for (i++; i < text.Length; i++)
                    {
                        if (text[i] == '"')
                        {
                            closed = true;
                            break;
                        }

                        if (text[i] == '\\' && i + 1 < text.Length && text[i + 1] is '"' or '\\')
                        {
                            i++;
                        }

                        current.Append(text[i]);
                    }

                    if (!closed)
                    {
                        error = "unterminated \" quote";
                        return false;
                    }

                    break;
                }

                case '\\':
                    if (i + 1 == text.Length)
                    {
                        error = "trailing backslash";
                        return false;
                    }

                    current.Append(text[++i]);
                    break;
                default:
                    current.Append(c);
                    break;
            }

            inArgument = true;
        }

        if (inArgument)
        {
            argv.Add(current.ToString());
        }

        if (argv.Count == 0)
        {
            error = "empty command";
            return false;
        }

        return true;
    }
}
