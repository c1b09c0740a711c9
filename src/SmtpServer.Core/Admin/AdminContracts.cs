using SmtpServer.Core.Queue;

namespace SmtpServer.Core.Admin;

// The admin API's wire format (HTTP/JSON over admin.socket), shared by smtpd and smtpctl.
// Field names are the contract scripts rely on (smtpctl --json prints these objects).

/// <summary>One envelope in <c>show queue</c>: OpenSMTPD's columns, named.</summary>
internal sealed record EnvelopeSummary(
    string Id,
    string MessageId,
    string Sender,
    string Recipient,
    string Domain,
    string Action,
    string State,
    DateTimeOffset ReceivedAt,
    DateTimeOffset? ExpiresAt,
    int Attempts,
    DateTimeOffset? LastAttempt,
    DateTimeOffset? NextAttempt,
    string? LastError,
    long Size)
{
    public static EnvelopeSummary From(EnvelopeRecord record, long size, string state, TimeSpan? expire)
    {
        ArgumentNullException.ThrowIfNull(record);
        return new EnvelopeSummary(
            record.Id.ToString(),
            record.MessageId.ToString(),
            record.SenderMailbox?.Address ?? string.Empty,
            record.RecipientMailbox.Address,
            record.Recipient.Domain,
            record.Action,
            state,
            record.ReceivedAt,
            expire is { } e ? record.ReceivedAt + e : null,
            record.Attempts,
            record.LastAttempt,
            record.NextAttempt,
            record.LastError,
            size);
    }

    /// <summary>The state as the spool has it, for envelopes the scheduler does not (yet) know, and offline.</summary>
    public static string StoredState(EnvelopeRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        return record.Paused ? "paused" : "pending";
    }
}

internal sealed record QueueListing(IReadOnlyList<EnvelopeSummary> Envelopes, int Total, bool Truncated, int Unreadable, bool Offline);

/// <summary><c>show envelope</c>: the summary and the stored record as it is on disk.</summary>
internal sealed record EnvelopeDetail(EnvelopeSummary Summary, EnvelopeRecord Record);

/// <summary>Body of schedule, remove, pause and resume: "all", a message id, an envelope id, or (pause/resume) smtp, mda, mta.</summary>
internal sealed record TargetRequest(string? Target);

internal sealed record ControlResponse(string Target, int Matched, int Skipped);

internal sealed record LogLevelRequest(string? Level);

internal sealed record LogLevelResponse(string Level);

internal sealed record ErrorResponse(string Error, string Message);

/// <summary><c>reload</c> refused (422): every problem of the file; the running configuration stays.</summary>
internal sealed record ConfigErrorsResponse(string Error, string Message, IReadOnlyList<ConfigErrorItem> Errors);

/// <summary>One problem: the key path (empty: the file as a whole) and what is wrong.</summary>
internal sealed record ConfigErrorItem(string Key, string Message);

/// <summary><c>reload</c> done: new sessions use the new configuration; changed listeners need a restart.</summary>
internal sealed record ReloadResponse(bool Reloaded, IReadOnlyList<string> ListenersNeedingRestart);

/// <summary><c>update table</c> done: the file as read now, and the lines that were skipped.</summary>
internal sealed record TableUpdateResponse(string Table, string Path, int Entries, IReadOnlyList<string> Skipped);

internal sealed record StatusResponse(string State, bool SmtpPaused, bool MdaPaused, bool MtaPaused, bool Draining, int ActiveSessions);

/// <summary><c>show stats</c>: the queue and every metric series, as "name{labels}" → value.</summary>
internal sealed record StatsResponse(
    StatusResponse Status,
    int QueueEnvelopes,
    int QueueMessages,
    double QueueOldestAgeSeconds,
    int InFlight,
    int PausedEnvelopes,
    IReadOnlyDictionary<string, double> Counters);
