using System.Collections.Concurrent;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;
using SmtpServer.Core.Scheduling;
using SmtpServer.Protocol;

namespace SmtpServer.Delivery.Relay;

/// <summary>
/// relay: { host?, auth?, tls?, tlsPolicy?, caFile?, rateLimit?, helo?, source?, family? }:
/// delivery over SMTP (by MX, or to smarthosts tried in turn) with our own client (DESIGN.md
/// decision 9). Sessions are kept per destination (the recipient domain, or the smarthosts)
/// and carry up to 100 messages, waiting 10 s for the next; at most 10 run at once per
/// destination; a route that cannot be reached (the domain, or one smarthost) is paused
/// 15 s·n² (at most 1 h), as OpenSMTPD's mta does (REFERENCE.md §1.9). With a rate limit, a
/// message over it is deferred to its turn instead of being attempted.
/// </summary>
internal sealed partial class RelayAgent : IDeliveryAgent, IAsyncDisposable
{
    private readonly RelayAgentOptions _options;
    private readonly RouteResolver _resolver;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Destination> _destinations = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, RoutePenalty> _penalties = new(StringComparer.OrdinalIgnoreCase);
    private readonly RelayRateLimiter? _rateLimiter;
    private readonly string? _smarthosts;
    private readonly ITimer _sweeper;
    private int _connectionsOpened;
    private bool _disposed;

    public RelayAgent(string action, RelayAgentOptions options, TimeProvider timeProvider, ILogger<RelayAgent> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        if (options.HeloName.Length == 0 || options.HeloName.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
        {
            throw new ArgumentException($"HELO name \"{options.HeloName}\" is not a host name.", nameof(options));
        }

        Action = action;
        _options = options;
        _resolver = new RouteResolver(options);
        _rateLimiter = options.RateLimit is { } limit ? new RelayRateLimiter(limit) : null;
        _smarthosts = options.Hosts.Count == 0 ? null : string.Join(", ", options.Hosts);
        _time = timeProvider;
        _logger = logger;
        var sweep = TimeSpan.FromTicks(Math.Max(options.Keepalive.Ticks / 2, TimeSpan.FromMilliseconds(100).Ticks));
        _sweeper = timeProvider.CreateTimer(_ => SweepIdle(), null, sweep, sweep);
    }

    public string Action { get; }

    public bool IsLocal => false;

    /// <summary>What the host built from the configuration (for tests).</summary>
    internal RelayAgentOptions Options => _options;

    /// <summary>Sessions opened so far (tests and the load figure: far fewer than messages).</summary>
    internal int ConnectionsOpened => Volatile.Read(ref _connectionsOpened);

    public string DestinationOf(EnvelopeRecord envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        return _smarthosts ?? envelope.Recipient.Domain.ToLowerInvariant();
    }

    public async ValueTask<IReadOnlyList<DeliveryResult>> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var results = new DeliveryResult?[request.Recipients.Count];
        var destinationName = DestinationOf(request.Recipients[0]);
        var destination = _destinations.GetOrAdd(destinationName, name => new Destination(name, _options.MaxConnectionsPerDestination));
        if (AllPaused(destinationName) is { } paused)
        {
            return Finish(request, results, paused, "-");
        }

        if (_rateLimiter?.TryAcquire(destinationName, request.MessageId.ToString(), _time.GetUtcNow()) is { } turn)
        {
            // Over the limit is not a failure: the scheduler offers the message again at its turn.
            RelayLog.RateLimited(_logger, request.MessageId, destinationName, turn);
            var reason = $"rate limit of {destinationName} ({_options.RateLimit!.Messages} per {_options.RateLimit.Interval}): deferred to {turn:HH:mm:ss}";
            return [.. request.Recipients.Select(r => DeliveryResult.Deferred(r.Id, turn, reason))];
        }

        long size;
        try
        {
            size = new FileInfo(request.MessagePath).Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Finish(request, results, new DeliveryFailure(true, "4.3.0", $"cannot read the queued message: {e.Message}"), "-");
        }

        await destination.Slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var (session, failure, tried) = await RentAsync(destination, cancellationToken).ConfigureAwait(false);
            if (session is null)
            {
                return Finish(request, results, failure, "-", tried);
            }

            try
            {
                await TransactAsync(session, request, size, results, cancellationToken).ConfigureAwait(false);
                _penalties.TryRemove(session.Route, out _);
            }
            finally
            {
                await ReturnAsync(destination, session).ConfigureAwait(false);
            }

            return Finish(request, results, null, session.Target.ToString(), session.Target, TlsVersion(session.Connection.TlsProtocol));
        }
        finally
        {
            destination.Slots.Release();
        }
    }

    /// <summary>
    /// Fills unresolved recipients with <paramref name="failure"/>, adds where the attempt went
    /// (<paramref name="target"/>: the session's address, or the last one tried; the session's
    /// TLS version), logs every line, returns the results.
    /// </summary>
    private DeliveryResult[] Finish(DeliveryRequest request, DeliveryResult?[] results, DeliveryFailure? failure, string relay, RouteTarget? target = null, string? tls = null)
    {
        var now = _time.GetUtcNow();
        for (var i = 0; i < results.Length; i++)
        {
            var envelope = request.Recipients[i];
            var result = results[i] = (results[i] ?? Sanitized(failure ?? new DeliveryFailure(true, "4.0.0", "no result")).ToResult(envelope.Id) with { RemoteMta = relay == "-" ? null : relay })
                with { RemoteHost = target?.HostName, RemoteAddress = target?.Address.ToString(), TlsProtocol = tls };
            var delay = now - envelope.ReceivedAt;
            RelayLog.Delivery(
                _logger,
                envelope.Id,
                envelope.Sender is null ? string.Empty : LocalRecipient.FormatAddress(envelope.Sender),
                LocalRecipient.FormatAddress(envelope.Recipient),
                relay,
                Scheduler.FormatDelay(delay),
                result.Status switch
                {
                    DeliveryStatus.Delivered => "Ok",
                    DeliveryStatus.TemporaryFailure => "TempFail",
                    _ => "PermFail",
                },
                result.Diagnostic ?? "Ok");
        }

        return [.. results.Select(r => r!)];
    }

    /// <summary>OpenSSL's names (TLSv1.3) for <see cref="System.Security.Authentication.SslProtocols"/> as the connection reports them (Tls13); null without TLS.</summary>
    internal static string? TlsVersion(string? protocol) => protocol switch
    {
        null => null,
        "Tls" => "TLSv1",
        ['T', 'l', 's', var major, var minor] when char.IsAsciiDigit(major) && char.IsAsciiDigit(minor) => $"TLSv{major}.{minor}",
        _ => protocol,
    };

    /// <summary>No control character of a remote's text reaches the envelope file or the log (CVE-2020-8794).</summary>
    internal static DeliveryFailure Sanitized(DeliveryFailure failure)
    {
        var text = new string([.. failure.Diagnostic.Select(c => char.IsControl(c) ? '?' : c)]);
        return failure with { Diagnostic = text.Length > 1000 ? text[..1000] + "..." : text };
    }

    /// <summary>A route (the domain, or one smarthost) that gave no session: paused 15 s·n², at most 1 h.</summary>
    private void Penalize(string route, string reason)
    {
        var penalty = _penalties.GetOrAdd(route, _ => new RoutePenalty());
        int failures;
        TimeSpan pause;
        lock (penalty)
        {
            failures = ++penalty.Failures;
            pause = TimeSpan.FromTicks(Math.Min(_options.RoutePenaltyBase.Ticks * failures * failures, _options.RoutePenaltyMax.Ticks));
            penalty.PausedUntil = _time.GetUtcNow() + pause;
            penalty.LastError = reason;
        }

        RelayLog.RoutePaused(_logger, route, pause, failures);
    }

    /// <summary>Why <paramref name="route"/> is not tried now, or null when it may be.</summary>
    private DeliveryFailure? PausedFailure(string route, DateTimeOffset now)
    {
        if (!_penalties.TryGetValue(route, out var penalty))
        {
            return null;
        }

        lock (penalty)
        {
            return now < penalty.PausedUntil
                ? new DeliveryFailure(true, "4.4.1", $"route to {route} paused until {penalty.PausedUntil:HH:mm:ss} after repeated failures: {penalty.LastError}")
                : null;
        }
    }

    /// <summary>A failure when every route of the destination is paused (nothing to try), else null.</summary>
    private DeliveryFailure? AllPaused(string destination)
    {
        var now = _time.GetUtcNow();
        IEnumerable<string> routes = _options.Hosts.Count == 0 ? [destination] : _options.Hosts.Select(h => h.ToString());
        var reasons = new List<string>();
        foreach (var route in routes)
        {
            if (PausedFailure(route, now) is not { } paused)
            {
                return null;
            }

            reasons.Add(paused.Diagnostic);
        }

        return new DeliveryFailure(true, "4.4.1", string.Join("; ", reasons));
    }

    /// <summary>An idle session to this destination, or a new one (see <see cref="ConnectAsync"/>).</summary>
    private async ValueTask<(Session? Session, DeliveryFailure? Failure, RouteTarget? Tried)> RentAsync(Destination destination, CancellationToken cancellationToken)
    {
        while (TryTakeIdle(destination) is { } idle)
        {
            if (!idle.NeedsReset)
            {
                return (idle, null, idle.Target);
            }

            try
            {
                var rset = await idle.Connection.CommandAsync("RSET", _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
                if (rset.IsPositive)
                {
                    idle.NeedsReset = false;
                    return (idle, null, idle.Target);
                }
            }
            catch (Exception e) when (IsSessionError(e))
            {
                RelayLog.SessionClosed(_logger, idle.Target.ToString(), e.Message);
            }

            await idle.Connection.DisposeAsync().ConfigureAwait(false);
        }

        return await ConnectAsync(destination.Name, cancellationToken).ConfigureAwait(false);
    }

    private Session? TryTakeIdle(Destination destination)
    {
        var now = _time.GetUtcNow();
        lock (destination.Idle)
        {
            while (destination.Idle.TryPop(out var session))
            {
                if (now - session.Connection.LastUsed < _options.Keepalive && session.Connection.Reusable)
                {
                    return session;
                }

                _ = session.Connection.QuitAsync().AsTask();
            }
        }

        return null;
    }

    private async ValueTask ReturnAsync(Destination destination, Session session)
    {
        if (session.NeedsReset && session.Connection.Reusable)
        {
            try
            {
                var rset = await session.Connection.CommandAsync("RSET", _options.CommandTimeout, CancellationToken.None).ConfigureAwait(false);
                session.NeedsReset = !rset.IsPositive;
                session.Connection.Reusable = rset.IsPositive;
            }
            catch (Exception e) when (IsSessionError(e))
            {
                session.Connection.Reusable = false;
            }
        }

        if (session.Connection.Reusable && session.Connection.Transactions < _options.MaxMessagesPerSession)
        {
            session.Connection.LastUsed = _time.GetUtcNow();
            lock (destination.Idle)
            {
                if (!_disposed)
                {
                    destination.Idle.Push(session);
                    return;
                }
            }
        }

        RelayLog.SessionClosed(_logger, session.Target.ToString(), session.Connection.Reusable ? "session limit" : "not reusable");
        await session.Connection.QuitAsync().ConfigureAwait(false);
    }

    private void SweepIdle()
    {
        var now = _time.GetUtcNow();
        _rateLimiter?.Prune(now);
        foreach (var destination in _destinations.Values)
        {
            List<Session> expired;
            lock (destination.Idle)
            {
                var all = destination.Idle.ToArray();
                expired = [.. all.Where(s => now - s.Connection.LastUsed >= _options.Keepalive)];
                if (expired.Count == 0)
                {
                    continue;
                }

                destination.Idle.Clear();
                foreach (var keep in all.Where(s => now - s.Connection.LastUsed < _options.Keepalive).Reverse())
                {
                    destination.Idle.Push(keep);
                }
            }

            foreach (var session in expired)
            {
                RelayLog.SessionClosed(_logger, session.Target.ToString(), "keepalive expired");
                _ = session.Connection.QuitAsync().AsTask();
            }
        }
    }

    private static bool IsSessionError(Exception e) =>
        e is IOException or SocketException or TimeoutException or SmtpClientProtocolException or ObjectDisposedException or System.Security.Authentication.AuthenticationException;

    public async ValueTask DisposeAsync()
    {
        var sessions = new List<Session>();
        foreach (var destination in _destinations.Values)
        {
            lock (destination.Idle)
            {
                _disposed = true;
                sessions.AddRange(destination.Idle);
                destination.Idle.Clear();
            }
        }

        _disposed = true;
        await _sweeper.DisposeAsync().ConfigureAwait(false);
        foreach (var session in sessions)
        {
            await session.Connection.QuitAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Per-destination state: the concurrency slots and idle sessions.</summary>
    private sealed class Destination(string name, int maxConnections)
    {
        public string Name { get; } = name;

        public SemaphoreSlim Slots { get; } = new(maxConnections, maxConnections);

        public Stack<Session> Idle { get; } = new();
    }

    /// <summary>A route's consecutive failures and the pause they earned (guarded by its own lock).</summary>
    private sealed class RoutePenalty
    {
        public int Failures { get; set; }

        public DateTimeOffset PausedUntil { get; set; }

        public string LastError { get; set; } = string.Empty;
    }

    /// <summary>A connected, greeted (and possibly TLS and AUTH) session, and where it goes.</summary>
    private sealed class Session(SmtpClientConnection connection, RouteTarget target, bool lmtp, string route)
    {
        public SmtpClientConnection Connection { get; } = connection;

        public RouteTarget Target { get; } = target;

        public bool Lmtp { get; } = lmtp;

        /// <summary>The route it belongs to (the domain, or the smarthost): a delivery over it clears the route's penalty.</summary>
        public string Route { get; } = route;

        /// <summary>A transaction ended without its final reply: RSET before the next.</summary>
        public bool NeedsReset { get; set; }
    }

    private static bool NeedsEightBit(EnvelopeRecord envelope) => envelope.Body != BodyType.SevenBit;
}
