using System.Globalization;
using System.Net;
using System.Text.Json;
using SmtpServer.Core.Admin;
using SmtpServer.Core.Queue;

namespace SmtpServer.Cli;

/// <summary>show queue / envelope / message, explain: online through the API, else from the spool.</summary>
internal sealed partial class Smtpctl
{
    private static readonly Dictionary<string, string> FilterOptions = new(StringComparer.Ordinal)
    {
        ["--sender"] = "sender",
        ["--recipient"] = "recipient",
        ["--domain"] = "domain",
        ["--state"] = "state",
        ["--min-age"] = "minAge",
        ["--max-age"] = "maxAge",
        ["--limit"] = "limit",
    };

    private async Task<int> ShowQueueAsync(IReadOnlyList<string> options, CancellationToken cancellationToken)
    {
        var query = new List<(string Key, string Value)>();
        for (var i = 0; i < options.Count; i++)
        {
            if (!FilterOptions.TryGetValue(options[i], out var key) || i + 1 >= options.Count)
            {
                return await UsageErrorAsync($"show queue: unknown option '{options[i]}'").ConfigureAwait(false);
            }

            query.Add((key, options[++i]));
        }

        QueueListing listing;
        try
        {
            var path = "v1/queue" + (query.Count == 0 ? string.Empty : "?" + string.Join('&', query.Select(q => q.Key + "=" + Uri.EscapeDataString(q.Value))));
            var (status, body, _) = await SendAsync(HttpMethod.Get, path, null, cancellationToken).ConfigureAwait(false);
            if (await FailureAsync(status, body).ConfigureAwait(false) is { } failed)
            {
                return failed;
            }

            listing = JsonSerializer.Deserialize(body, AdminJsonContext.Default.QueueListing)!;
        }
        catch (ServerUnreachableException)
        {
            if (OfflineListing(query, out var error) is not { } offline)
            {
                await stderr.WriteLineAsync("smtpctl: " + error).ConfigureAwait(false);
                return ExitCode.Usage;
            }

            listing = offline;
        }

        if (_json)
        {
            await stdout.WriteLineAsync(JsonSerializer.Serialize(listing, AdminJsonContext.Default.QueueListing)).ConfigureAwait(false);
            return ExitCode.Ok;
        }

        var now = DateTimeOffset.UtcNow;
        foreach (var e in listing.Envelopes)
        {
            // OpenSMTPD's show queue: one line per envelope, '|'-separated.
            await stdout.WriteLineAsync(string.Join('|',
                e.Id, e.Action, e.State, e.Sender.Length == 0 ? "<>" : e.Sender, e.Recipient, Ago(e.ReceivedAt, now),
                e.Attempts.ToString(CultureInfo.InvariantCulture), e.NextAttempt is { } next ? Ago(next, now) : "now", OneLine(e.LastError ?? "-"))).ConfigureAwait(false);
        }

        var summary = $"{listing.Total} envelope(s)" + (listing.Truncated ? $", {listing.Envelopes.Count} shown" : string.Empty)
            + (listing.Unreadable > 0 ? $", {listing.Unreadable} unreadable" : string.Empty) + (listing.Offline ? " (server not running: read from the spool)" : string.Empty);
        await stderr.WriteLineAsync(summary).ConfigureAwait(false);
        return ExitCode.Ok;
    }

    private QueueListing? OfflineListing(List<(string Key, string Value)> query, out string error)
    {
        error = string.Empty;
        string? Get(string key) => query.LastOrDefault(q => q.Key == key).Value;
        var limit = 1000;
        if (Get("limit") is { } l && (!int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1))
        {
            error = "limit must be a positive number";
            return null;
        }

        if (Get("minAge") is not null || Get("maxAge") is not null || Get("state") is { } s && s is not ("pending" or "paused"))
        {
            error = "offline, only --sender, --recipient, --domain, --state pending|paused and --limit filter";
            return null;
        }

        var snapshot = QueueReader.Read(_queuePath);
        var all = snapshot.Messages
            .SelectMany(m => m.Envelopes.Select(e => EnvelopeSummary.From(e, m.Size, EnvelopeSummary.StoredState(e), null)))
            .Where(e => Get("state") is not { } x || e.State == x)
            .Where(e => Get("sender") is not { } x || e.Sender.Contains(x, StringComparison.OrdinalIgnoreCase))
            .Where(e => Get("recipient") is not { } x || e.Recipient.Contains(x, StringComparison.OrdinalIgnoreCase))
            .Where(e => Get("domain") is not { } x || string.Equals(e.Domain, x, StringComparison.OrdinalIgnoreCase))
            .ToList();
        return new QueueListing([.. all.Take(limit)], all.Count, all.Count > limit, snapshot.Unreadable, Offline: true);
    }

    private async Task<int> ShowEnvelopeAsync(string id, CancellationToken cancellationToken)
    {
        var (detail, body, exit) = await EnvelopeAsync(id, cancellationToken).ConfigureAwait(false);
        if (detail is null)
        {
            return exit;
        }

        if (_json)
        {
            await stdout.WriteLineAsync(body).ConfigureAwait(false);
            return ExitCode.Ok;
        }

        // The stored record as on disk (every field, indented), its attempt history as a table.
        await stdout.WriteLineAsync(JsonSerializer.Serialize(detail.Record with { History = null }, QueueJsonContext.Default.EnvelopeRecord)).ConfigureAwait(false);
        await stdout.WriteLineAsync($"state: {detail.Summary.State}").ConfigureAwait(false);
        foreach (var line in HistoryTable(detail.Record))
        {
            await stdout.WriteLineAsync(line).ConfigureAwait(false);
        }

        return ExitCode.Ok;
    }

    /// <summary>An envelope from the server, or from the spool when no server answers.</summary>
    private async Task<(EnvelopeDetail? Detail, string Body, int Exit)> EnvelopeAsync(string id, CancellationToken cancellationToken)
    {
        if (!EnvelopeId.TryParse(id, out var envelopeId))
        {
            await stderr.WriteLineAsync($"smtpctl: '{id}' is not an envelope id (msgid-XXXX)").ConfigureAwait(false);
            return (null, string.Empty, ExitCode.Usage);
        }

        try
        {
            var (status, body, _) = await SendAsync(HttpMethod.Get, "v1/envelopes/" + id, null, cancellationToken).ConfigureAwait(false);
            if (await FailureAsync(status, body).ConfigureAwait(false) is { } failed)
            {
                return (null, body, failed);
            }

            return (JsonSerializer.Deserialize(body, AdminJsonContext.Default.EnvelopeDetail), body, ExitCode.Ok);
        }
        catch (ServerUnreachableException)
        {
            var message = QueueReader.ReadMessage(_queuePath, envelopeId.Message);
            var record = message?.Envelopes.FirstOrDefault(e => e.Id == envelopeId);
            if (record is null)
            {
                await stderr.WriteLineAsync($"smtpctl: envelope {id} is not in the queue (server not running: read from the spool)").ConfigureAwait(false);
                return (null, string.Empty, ExitCode.Failed);
            }

            var detail = new EnvelopeDetail(EnvelopeSummary.From(record, message!.Size, EnvelopeSummary.StoredState(record), null), record);
            return (detail, JsonSerializer.Serialize(detail, AdminJsonContext.Default.EnvelopeDetail), ExitCode.Ok);
        }
    }

    private async Task<int> ShowMessageAsync(string id, CancellationToken cancellationToken)
    {
        QueueId queueId;
        if (EnvelopeId.TryParse(id, out var envelopeId))
        {
            queueId = envelopeId.Message;
        }
        else if (!QueueId.TryParse(id, out queueId))
        {
            await stderr.WriteLineAsync($"smtpctl: '{id}' is not a message or envelope id").ConfigureAwait(false);
            return ExitCode.Usage;
        }

        byte[] bytes;
        try
        {
            var (status, body, raw) = await SendAsync(HttpMethod.Get, "v1/messages/" + queueId, null, cancellationToken).ConfigureAwait(false);
            if (await FailureAsync(status, body).ConfigureAwait(false) is { } failed)
            {
                return failed;
            }

            bytes = raw;
        }
        catch (ServerUnreachableException)
        {
            var path = Path.Combine(QueueReader.MessageDirectory(_queuePath, queueId), FileQueueStore.MessageFileName);
            if (!File.Exists(path))
            {
                await stderr.WriteLineAsync($"smtpctl: message {queueId} is not in the queue").ConfigureAwait(false);
                return ExitCode.Failed;
            }

            bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        }

        // The message as stored (CRLF); written through the writer's encoding as Latin-1-safe text.
        await stdout.WriteAsync(System.Text.Encoding.UTF8.GetString(bytes)).ConfigureAwait(false);
        return ExitCode.Ok;
    }

    /// <summary>An envelope's story in words: where it came from, what was tried, what happens next.</summary>
    private async Task<int> ExplainAsync(string id, CancellationToken cancellationToken)
    {
        var (detail, body, exit) = await EnvelopeAsync(id, cancellationToken).ConfigureAwait(false);
        if (detail is null)
        {
            return exit;
        }

        if (_json)
        {
            await stdout.WriteLineAsync(body).ConfigureAwait(false);
            return ExitCode.Ok;
        }

        var r = detail.Record;
        var s = detail.Summary;
        var now = DateTimeOffset.UtcNow;
        var lines = new List<string>
        {
            $"Envelope {r.Id} of message {r.MessageId}: from <{s.Sender}> to <{s.Recipient}>.",
            $"Received {Time(r.ReceivedAt)} ({Ago(r.ReceivedAt, now)}) on listener {r.Listener} from {r.ClientAddress}"
                + (r.ClientHostName is null ? string.Empty : $" ({r.ClientHostName})") + $", HELO {r.Helo}, "
                + (r.Tls ? "over TLS" : "without TLS") + (r.AuthenticatedUser is null ? string.Empty : $", authenticated as {r.AuthenticatedUser}") + ".",
            $"The rules chose action \"{r.Action}\".",
            r.Attempts == 0
                ? "No delivery attempt yet."
                : $"Tried {r.Attempts} time(s); the last attempt was {Time(r.LastAttempt)}" + (r.LastAttempt is { } last ? $" ({Ago(last, now)})" : string.Empty)
                    + (r.LastError is null ? "." : $" and failed: {OneLine(r.LastError)}"),
        };
        lines.AddRange(NarrateHistory(r, s.State));
        lines.AddRange(
        [
            s.State switch
            {
                "paused" => "It is paused by the operator: it will not be tried until resumed (smtpctl resume " + r.Id + ").",
                "inflight" => "A delivery attempt is in progress right now.",
                _ => r.NextAttempt is { } next && next > now
                    ? $"Next attempt {Time(next)} ({Ago(next, now)}); smtpctl schedule {r.Id} tries it now."
                    : "It is due now and will be tried as soon as a delivery slot is free.",
            },
        ]);
        if (s.ExpiresAt is { } expires)
        {
            lines.Add($"If still undelivered at {Time(expires)} ({Ago(expires, now)}), it expires and the sender gets a bounce.");
        }

        if (r.DelayWarned is { } warned)
        {
            lines.Add($"The sender was warned of the delay (after {warned}).");
        }

        foreach (var line in lines)
        {
            await stdout.WriteLineAsync(line).ConfigureAwait(false);
        }

        return ExitCode.Ok;
    }

    private async Task<int> ShowStatsAsync(CancellationToken cancellationToken)
    {
        var (status, body, _) = await SendAsync(HttpMethod.Get, "v1/stats", null, cancellationToken).ConfigureAwait(false);
        if (await FailureAsync(status, body).ConfigureAwait(false) is { } failed)
        {
            return failed;
        }

        if (_json)
        {
            await stdout.WriteAsync(body).ConfigureAwait(false);
            return ExitCode.Ok;
        }

        var stats = JsonSerializer.Deserialize(body, AdminJsonContext.Default.StatsResponse)!;
        await stdout.WriteLineAsync($"state={stats.Status.State} smtp={(stats.Status.SmtpPaused ? "paused" : "running")} mda={(stats.Status.MdaPaused ? "paused" : "running")} mta={(stats.Status.MtaPaused ? "paused" : "running")} sessions={stats.Status.ActiveSessions}").ConfigureAwait(false);
        await stdout.WriteLineAsync($"queue.envelopes={stats.QueueEnvelopes} queue.messages={stats.QueueMessages} queue.oldest={stats.QueueOldestAgeSeconds:0}s queue.inflight={stats.InFlight} queue.paused={stats.PausedEnvelopes}").ConfigureAwait(false);
        foreach (var (name, value) in stats.Counters)
        {
            await stdout.WriteLineAsync($"{name}={value.ToString(CultureInfo.InvariantCulture)}").ConfigureAwait(false);
        }

        return ExitCode.Ok;
    }

    /// <summary>OpenSMTPD's monitor: one line per interval with what changed since the last.</summary>
    private async Task<int> MonitorAsync(IReadOnlyList<string> options, CancellationToken cancellationToken)
    {
        var count = int.MaxValue;
        var interval = 1.0;
        for (var i = 0; i < options.Count; i++)
        {
            var ok = i + 1 < options.Count && options[i] switch
            {
                "-n" => int.TryParse(options[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out count) && count > 0,
                "-i" => double.TryParse(options[i + 1], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out interval) && interval is >= 0.1 and <= 3600,
                _ => false,
            };
            if (!ok)
            {
                return await UsageErrorAsync("monitor [-n COUNT] [-i SECONDS (0.1 to 3600)]").ConfigureAwait(false);
            }

            i++;
        }

        string[] columns = ["smtpd_sessions_total", "smtpd_messages_accepted_total", "smtpd_messages_rejected_total", "smtpd_deliveries_total"];
        if (!_json)
        {
            await stdout.WriteLineAsync("sessions  accepted  rejected  delivery  | queue  inflight").ConfigureAwait(false);
        }

        Dictionary<string, double>? previous = null;
        for (var n = 0; n < count; n++)
        {
            if (n > 0)
            {
                await Task.Delay(TimeSpan.FromSeconds(interval), cancellationToken).ConfigureAwait(false);
            }

            var (status, body, _) = await SendAsync(HttpMethod.Get, "v1/stats", null, cancellationToken).ConfigureAwait(false);
            if (await FailureAsync(status, body).ConfigureAwait(false) is { } failed)
            {
                return failed;
            }

            var stats = JsonSerializer.Deserialize(body, AdminJsonContext.Default.StatsResponse)!;
            var totals = columns.ToDictionary(c => c, c => stats.Counters.Where(kv => kv.Key == c || kv.Key.StartsWith(c + "{", StringComparison.Ordinal)).Sum(kv => kv.Value));
            if (_json)
            {
                await stdout.WriteLineAsync(body.TrimEnd()).ConfigureAwait(false);
            }
            else
            {
                var deltas = columns.Select(c => (totals[c] - (previous?.GetValueOrDefault(c) ?? totals[c])).ToString("0", CultureInfo.InvariantCulture).PadLeft(8));
                await stdout.WriteLineAsync(string.Join("  ", deltas) + $"  | {stats.QueueEnvelopes,5}  {stats.InFlight,8}").ConfigureAwait(false);
            }

            previous = totals;
        }

        return ExitCode.Ok;
    }

    private static string OneLine(string text) => string.Concat(text.Select(c => char.IsControl(c) ? ' ' : c));
}
