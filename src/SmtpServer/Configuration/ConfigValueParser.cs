using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace SmtpServer.Configuration;

/// <summary>
/// Sizes and durations as written in the config file.
/// Sizes: an integer with an optional unit, case-insensitive: <c>B</c>; <c>KB</c>, <c>MB</c>,
/// <c>GB</c>, <c>TB</c> are decimal (10³, 10⁶, …); <c>KiB</c>, <c>MiB</c>, <c>GiB</c>, <c>TiB</c> are
/// binary (2¹⁰, 2²⁰, …), as in IEC 80000-13. <c>35MiB</c> = 36 700 160; <c>10MB</c> = 10 000 000.
/// Durations: one or more integer+unit pairs: <c>ms</c>, <c>s</c>, <c>m</c>, <c>h</c>, <c>d</c>, <c>w</c>
/// (<c>300s</c>, <c>4h</c>, <c>1h30m</c>). A bare number is refused: seconds or minutes?
/// Rates: <c>N/unit</c> or <c>N/duration</c> (<c>60/min</c>, <c>5/30s</c>).
/// </summary>
internal static class ConfigValueParser
{
    private static readonly (string Unit, long Factor)[] SizeUnits =
    [
        ("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30), ("TiB", 1L << 40),
        ("KB", 1_000L), ("MB", 1_000_000L), ("GB", 1_000_000_000L), ("TB", 1_000_000_000_000L),
        ("B", 1L),
    ];

    public static bool TryParseSize(string text, out long bytes, [NotNullWhen(false)] out string? error)
    {
        bytes = 0;
        var s = text.Trim();
        var digits = 0;
        while (digits < s.Length && char.IsAsciiDigit(s[digits]))
        {
            digits++;
        }

        var unit = s[digits..].Trim();
        long factor = 1;
        if (unit.Length > 0)
        {
            factor = 0;
            foreach (var (name, f) in SizeUnits)
            {
                if (unit.Equals(name, StringComparison.OrdinalIgnoreCase))
                {
                    factor = f;
                    break;
                }
            }
        }

        if (digits == 0 || factor == 0
            || !long.TryParse(s.AsSpan(0, digits), NumberStyles.None, CultureInfo.InvariantCulture, out var count))
        {
            error = $"'{text}' is not a size (use e.g. 35MiB)";
            return false;
        }

        if (count > long.MaxValue / factor)
        {
            error = $"'{text}' is too large";
            return false;
        }

        bytes = count * factor;
        error = null;
        return true;
    }

    public static bool TryParseDuration(string text, out TimeSpan duration, [NotNullWhen(false)] out string? error)
    {
        duration = TimeSpan.Zero;
        var s = text.Trim();
        var i = 0;
        var any = false;
        try
        {
            while (i < s.Length)
            {
                var start = i;
                while (i < s.Length && char.IsAsciiDigit(s[i]))
                {
                    i++;
                }

                var numberEnd = i;
                while (i < s.Length && char.IsAsciiLetter(s[i]))
                {
                    i++;
                }

                if (numberEnd == start || !long.TryParse(s.AsSpan(start, numberEnd - start), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                {
                    return Fail(text, out error);
                }

                TimeSpan part = s[numberEnd..i] switch
                {
                    "ms" => TimeSpan.FromMilliseconds(n),
                    "s" => TimeSpan.FromSeconds(n),
                    "m" => TimeSpan.FromMinutes(n),
                    "h" => TimeSpan.FromHours(n),
                    "d" => TimeSpan.FromDays(n),
                    "w" => TimeSpan.FromDays(n * 7),
                    _ => TimeSpan.MinValue,
                };
                if (part == TimeSpan.MinValue)
                {
                    return Fail(text, out error);
                }

                duration += part;
                any = true;
            }
        }
        catch (OverflowException)
        {
            error = $"'{text}' is too long";
            return false;
        }

        if (!any)
        {
            return Fail(text, out error);
        }

        error = null;
        return true;
    }

    /// <summary>
    /// A rate: <c>N/unit</c> or <c>N/duration</c> (<c>60/min</c>, <c>1000/h</c>, <c>5/30s</c>), N at
    /// least 1; units s, sec, second, m, min, minute, h, hour, d, day, or any duration.
    /// </summary>
    public static bool TryParseRate(string text, out int count, out TimeSpan interval, [NotNullWhen(false)] out string? error)
    {
        count = 0;
        interval = TimeSpan.Zero;
        error = $"'{text}' is not a rate (use e.g. 60/min, 1000/h, 5/30s)";
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0
            || !int.TryParse(text.AsSpan(0, slash).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out count)
            || count < 1)
        {
            return false;
        }

        var unit = text[(slash + 1)..].Trim().ToLowerInvariant();
        interval = unit switch
        {
            "s" or "sec" or "second" => TimeSpan.FromSeconds(1),
            "m" or "min" or "minute" => TimeSpan.FromMinutes(1),
            "h" or "hour" => TimeSpan.FromHours(1),
            "d" or "day" => TimeSpan.FromDays(1),
            _ => TryParseDuration(unit, out var duration, out _) ? duration : TimeSpan.Zero,
        };
        if (interval <= TimeSpan.Zero)
        {
            return false;
        }

        error = null;
        return true;
    }

    private static bool Fail(string text, out string error)
    {
        error = $"'{text}' is not a duration (use e.g. 300s, 5m, 4h, 4d, 500ms)";
        return false;
    }
}
