using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Microsoft.AspNetCore.Http;
using SmtpServer.Configuration;
using SmtpServer.Core.Admin;

namespace SmtpServer.Admin;

/// <summary>
/// Filters of <c>GET /v1/queue</c>: sender and recipient match a substring (case-insensitive),
/// domain the recipient's domain exactly, state one of pending|inflight|paused, minAge/maxAge
/// durations with units (<c>1h</c>), limit 1..100000 (default 1000).
/// </summary>
internal sealed record QueueFilter(string? Sender, string? Recipient, string? Domain, string? State, DateTimeOffset? ReceivedBefore, DateTimeOffset? ReceivedAfter)
{
    private static readonly string[] States = ["pending", "inflight", "paused"];

    public bool Matches(EnvelopeSummary envelope) =>
        (Sender is null || envelope.Sender.Contains(Sender, StringComparison.OrdinalIgnoreCase))
        && (Recipient is null || envelope.Recipient.Contains(Recipient, StringComparison.OrdinalIgnoreCase))
        && (Domain is null || string.Equals(envelope.Domain, Domain, StringComparison.OrdinalIgnoreCase))
        && (State is null || string.Equals(envelope.State, State, StringComparison.Ordinal))
        && (ReceivedBefore is not { } before || envelope.ReceivedAt <= before)
        && (ReceivedAfter is not { } after || envelope.ReceivedAt >= after);

    public static bool TryParse(IQueryCollection query, DateTimeOffset now, out QueueFilter filter, out int limit, [NotNullWhen(false)] out string? error)
    {
        filter = new QueueFilter(null, null, null, null, null, null);
        limit = 1000;
        error = null;
        foreach (var (key, values) in query)
        {
            if (values.Count != 1 || string.IsNullOrEmpty(values[0]) || values[0]!.Length > 320)
            {
                error = $"'{key}' must be given once, 1 to 320 characters";
                return false;
            }
        }

        var state = Value(query, "state");
        if (state is not null && !States.Contains(state, StringComparer.Ordinal))
        {
            error = "state must be pending, inflight or paused";
            return false;
        }

        DateTimeOffset? before = null;
        DateTimeOffset? after = null;
        if (Value(query, "minAge") is { } minAge)
        {
            if (!ConfigValueParser.TryParseDuration(minAge, out var age, out var why))
            {
                error = "minAge: " + why;
                return false;
            }

            before = now - age;
        }

        if (Value(query, "maxAge") is { } maxAge)
        {
            if (!ConfigValueParser.TryParseDuration(maxAge, out var age, out var why))
            {
                error = "maxAge: " + why;
                return false;
            }

            after = now - age;
        }

        if (Value(query, "limit") is { } limitText
            && (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1 || limit > 100_000))
        {
            error = "limit must be a number from 1 to 100000";
            return false;
        }

        filter = new QueueFilter(Value(query, "sender"), Value(query, "recipient"), Value(query, "domain"), state, before, after);
        return true;
    }

    private static string? Value(IQueryCollection query, string key) => query.TryGetValue(key, out var values) ? values[0] : null;
}
