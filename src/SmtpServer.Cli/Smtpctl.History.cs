using System.Globalization;
using SmtpServer.Core.Queue;

namespace SmtpServer.Cli;

/// <summary>An envelope's attempt history for people: a table (show envelope) and sentences (explain).</summary>
internal sealed partial class Smtpctl
{
    /// <summary>One row per kept attempt, and one where attempts were not kept.</summary>
    internal static IReadOnlyList<string> HistoryTable(EnvelopeRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var attempts = record.History?.Attempts ?? [];
        if (attempts.Count == 0)
        {
            return [record.Attempts == 0 ? "attempts: none yet" : $"attempts: {record.Attempts}, none recorded (made before attempt histories were kept)"];
        }

        var rows = new List<string[]> { new[] { "#", "time", "action", "result", "to", "tls", "reply" } };
        var previous = 0;
        foreach (var attempt in attempts)
        {
            if (attempt.Number > previous + 1)
            {
                rows.Add(["", Gap(previous, attempt.Number), "", "", "", "", ""]);
            }

            rows.Add(
            [
                attempt.Number.ToString(CultureInfo.InvariantCulture), Time(attempt.At), attempt.Action, ResultName(attempt.Result),
                Where(attempt) ?? "-", attempt.Tls ?? "-", OneLine(attempt.Reply ?? "-"),
            ]);
            previous = attempt.Number;
        }

        // Every column but the last padded to its widest cell (the reply runs on).
        var widths = Enumerable.Range(0, rows[0].Length - 1).Select(c => rows.Max(r => r[c].Length)).ToArray();
        var lines = new List<string> { $"attempts: {record.Attempts}" + (record.History!.Dropped > 0 ? $" ({record.History.Dropped} not kept)" : string.Empty) };
        lines.AddRange(rows.Select(r => ("  " + string.Join("  ", r.Take(widths.Length).Select((cell, c) => cell.PadRight(widths[c]))) + "  " + r[^1]).TrimEnd()));
        return lines;
    }

    /// <summary>
    /// One sentence per kept attempt: "attempt 3 at … to mx1.example.org [192.0.2.1] over TLS
    /// 1.3: 451 4.7.1 greylisted; next retry …". The next retry of an attempt is the next one
    /// made, or for the last one the envelope's next attempt.
    /// </summary>
    internal static IReadOnlyList<string> NarrateHistory(EnvelopeRecord record, string state)
    {
        ArgumentNullException.ThrowIfNull(record);
        var attempts = record.History?.Attempts ?? [];
        if (attempts.Count == 0)
        {
            return record.Attempts == 0 ? [] : ["  (no details of these attempts: they were made before attempt histories were kept)"];
        }

        var lines = new List<string>();
        var previous = 0;
        for (var i = 0; i < attempts.Count; i++)
        {
            var attempt = attempts[i];
            if (attempt.Number > previous + 1)
            {
                lines.Add($"  ({Gap(previous, attempt.Number)})");
            }

            previous = attempt.Number;
            var text = $"  attempt {attempt.Number} at {Time(attempt.At)}";
            if (Where(attempt) is { } where)
            {
                text += " to " + where;
            }

            if (attempt.Tls is { } tls)
            {
                text += " over " + tls.Replace("TLSv", "TLS ", StringComparison.Ordinal);
            }
            else if (attempt.Host is not null)
            {
                text += " without TLS";
            }

            text += attempt.Result switch
            {
                AttemptResult.Ok => ": delivered",
                AttemptResult.Permanent => ": failed permanently",
                _ => string.Empty,
            };
            text += attempt.Reply is { } reply ? (attempt.Result == AttemptResult.Temporary ? ": " : ", ") + OneLine(reply) : string.Empty;
            if (attempt.Result == AttemptResult.Temporary)
            {
                DateTimeOffset? next = i + 1 < attempts.Count
                    ? attempts[i + 1].Number == attempt.Number + 1 ? attempts[i + 1].At : null
                    : state == "paused" ? null : record.NextAttempt;
                text += next is { } at ? $"; next retry {Time(at)}" : string.Empty;
            }

            lines.Add(text);
        }

        return lines;
    }

    /// <summary>host [address], the address or the host alone, or a local agent's destination.</summary>
    private static string? Where(AttemptRecord attempt) => (attempt.Host, attempt.Address) switch
    {
        ({ } host, { } address) => $"{host} [{address}]",
        ({ } host, _) => host,
        (null, { } address) => address,
        _ => attempt.Destination,
    };

    private static string Gap(int previous, int next) =>
        next == previous + 2 ? $"attempt {previous + 1} not kept" : $"attempts {previous + 1} to {next - 1} not kept";

    private static string ResultName(AttemptResult result) => result switch
    {
        AttemptResult.Ok => "ok",
        AttemptResult.Permanent => "permanent",
        _ => "temporary",
    };
}
