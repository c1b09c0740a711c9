using System.Diagnostics.Metrics;
using System.Globalization;
using SmtpServer.Core.Scheduling;
using SmtpServer.Protocol;

namespace SmtpServer.Metrics;

/// <summary>
/// The server's instruments (STYLE.md §9 item 14, chasquid's counters): one <see cref="Meter"/>
/// per host, so two servers in one process (tests) never mix their numbers. Every label has a
/// bounded set of values: listener and action names from the configuration, SMTP verbs, reply
/// codes, and fixed reason words.
/// </summary>
internal sealed class SmtpMetrics : IDisposable
{
    public const string MeterName = "SmtpServer";

    private static readonly string[] VerbNames = Enum.GetNames<SmtpVerb>().Select(n => n.ToUpperInvariant()).ToArray();

    private readonly Counter<long> _sessions;
    private readonly UpDownCounter<long> _activeSessions;
    private readonly Counter<long> _refused;
    private readonly Counter<long> _commands;
    private readonly Counter<long> _replies;
    private readonly Counter<long> _accepted;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _recipients;
    private readonly Counter<long> _tls;
    private readonly Counter<long> _auth;

    public SmtpMetrics()
    {
        Meter = new Meter(MeterName);
        _sessions = Meter.CreateCounter<long>("smtpd.sessions", description: "SMTP sessions opened, by listener");
        _activeSessions = Meter.CreateUpDownCounter<long>("smtpd.sessions.active", description: "SMTP sessions in progress, by listener");
        _refused = Meter.CreateCounter<long>("smtpd.sessions.refused", description: "Connections refused with 421 at connect, by reason");
        _commands = Meter.CreateCounter<long>("smtpd.commands", description: "SMTP commands received, by verb");
        _replies = Meter.CreateCounter<long>("smtpd.replies", description: "SMTP replies sent, by code");
        _accepted = Meter.CreateCounter<long>("smtpd.messages.accepted", description: "Messages committed to the queue, by listener");
        _rejected = Meter.CreateCounter<long>("smtpd.messages.rejected", description: "Messages refused at the end of data, by reason");
        _bytes = Meter.CreateCounter<long>("smtpd.messages.received", unit: "By", description: "Bytes of accepted messages");
        _recipients = Meter.CreateCounter<long>("smtpd.messages.recipients", description: "Envelopes (recipients) of accepted messages");
        _tls = Meter.CreateCounter<long>("smtpd.tls.handshakes", description: "TLS handshakes (STARTTLS and implicit), by result");
        _auth = Meter.CreateCounter<long>("smtpd.auth", description: "AUTH attempts, by result");
        Scheduler = new SchedulerMetrics(Meter);
    }

    /// <summary>For sessions built without a host (in-memory tests): counted, never exported.</summary>
    public static SmtpMetrics Unexported { get; } = new();

    public Meter Meter { get; }

    public SchedulerMetrics Scheduler { get; }

    /// <summary>Queue gauges, read from the scheduler's latest counts at each scrape.</summary>
    public void ObserveQueue(Func<SchedulerStats> stats, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(stats);
        ArgumentNullException.ThrowIfNull(time);
        Meter.CreateObservableGauge("smtpd.queue.envelopes", () => (long)stats().Envelopes, description: "Envelopes (recipients) in the queue");
        Meter.CreateObservableGauge("smtpd.queue.messages", () => (long)stats().Messages, description: "Messages in the queue");
        Meter.CreateObservableGauge("smtpd.queue.inflight", () => (long)stats().InFlight, description: "Delivery jobs in progress");
        Meter.CreateObservableGauge(
            "smtpd.queue.oldest.age",
            () => stats().Oldest is { } oldest ? Math.Max(0, (time.GetUtcNow() - oldest).TotalSeconds) : 0,
            unit: "s",
            description: "Age of the oldest queued message");
    }

    public void SessionStarted(string listener)
    {
        _sessions.Add(1, new KeyValuePair<string, object?>("listener", listener));
        _activeSessions.Add(1, new KeyValuePair<string, object?>("listener", listener));
    }

    public void SessionEnded(string listener) => _activeSessions.Add(-1, new KeyValuePair<string, object?>("listener", listener));

    public void SessionRefused(string reason) => _refused.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void Command(SmtpVerb verb)
    {
        var index = (int)verb;
        var name = index >= 0 && index < VerbNames.Length ? VerbNames[index] : "UNKNOWN";
        _commands.Add(1, new KeyValuePair<string, object?>("command", name));
    }

    public void Reply(int code) => _replies.Add(1, new KeyValuePair<string, object?>("code", CodeText(code)));

    public void MessageAccepted(string listener, long size, int recipients)
    {
        _accepted.Add(1, new KeyValuePair<string, object?>("listener", listener));
        _bytes.Add(size);
        _recipients.Add(recipients);
    }

    public void MessageRejected(string reason) => _rejected.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void Tls(string result) => _tls.Add(1, new KeyValuePair<string, object?>("result", result));

    public void Auth(string result) => _auth.Add(1, new KeyValuePair<string, object?>("result", result));

    public void Dispose() => Meter.Dispose();

    private static string CodeText(int code) =>
        code is >= 200 and < 600 ? s_codes[code - 200] ??= code.ToString(CultureInfo.InvariantCulture) : "other";

    private static readonly string?[] s_codes = new string?[400];
}
