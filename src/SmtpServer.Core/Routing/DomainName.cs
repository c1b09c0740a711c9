using System.Globalization;

namespace SmtpServer.Core.Routing;

/// <summary>Domain comparison rules: case-insensitive, trailing dot ignored, IDNs compared as A-labels.</summary>
internal static class DomainName
{
    private static readonly IdnMapping Idn = new() { AllowUnassigned = false, UseStd3AsciiRules = false };

    public static ReadOnlySpan<char> TrimTrailingDot(ReadOnlySpan<char> domain)
        => domain.Length > 1 && domain[^1] == '.' ? domain[..^1] : domain;

    /// <summary>
    /// The lower-case ASCII form (<c>Bücher.Example.</c> → <c>xn--bcher-kva.example</c>), or null
    /// when the name cannot be converted (RFC 5890 rules).
    /// </summary>
    public static string? Normalize(string domain)
    {
        var trimmed = TrimTrailingDot(domain.AsSpan().Trim());
        if (trimmed.IsEmpty)
        {
            return null;
        }

        if (System.Text.Ascii.IsValid(trimmed))
        {
            return trimmed.ToString().ToLowerInvariant();
        }

        try
        {
            return Idn.GetAscii(trimmed.ToString()).ToLowerInvariant();
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    /// <summary>RFC 1123 host name syntax: labels of letters, digits and hyphens.</summary>
    public static bool IsHostName(string name)
    {
        var trimmed = name.TrimEnd('.');
        if (trimmed.Length is 0 or > 253)
        {
            return false;
        }

        foreach (var label in trimmed.Split('.'))
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-'
                || !label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                return false;
            }
        }

        return true;
    }
}
