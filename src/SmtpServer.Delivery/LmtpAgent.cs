using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;
using SmtpServer.Protocol;

namespace SmtpServer.Delivery;

/// <summary>
/// lmtp: { address }. An RFC 2033 client: MAIL, one RCPT per recipient (each answered on its
/// own), DATA, and after the final dot one reply per accepted recipient (§4.2), so each
/// recipient gets its own result. Connections are pooled per address and carry many messages
/// (OpenSMTPD forks one mail.lmtp per delivery, issue #1081); a pooled one is RSET before reuse
/// and replaced by a fresh one if that fails.
/// The LMTP server is the final delivery agent and adds Return-Path and Delivered-To itself
/// (Dovecot does; RFC 5321 §4.4 gives Return-Path to the final delivery), so this agent adds no
/// header: a copy of ours would be a second Return-Path, and a per-recipient Delivered-To
/// cannot go in one DATA for several recipients. It does refuse loops like the others.
/// </summary>
internal sealed class LmtpAgent : IDeliveryAgent, IAsyncDisposable
{
    private readonly LmtpAgentOptions _options;
    private readonly EndPoint _endPoint;
    private readonly string _lhloName;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Stack<SmtpClientConnection> _idle = new();
    private readonly ITimer _sweeper;
    private bool _disposed;
    private int _connectionsOpened;

    public LmtpAgent(string action, LmtpAgentOptions options, TimeProvider timeProvider, ILogger<LmtpAgent> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        Action = action;
        _options = options;
        _endPoint = LmtpEndpoint.Parse(options.Address);
        _lhloName = options.LhloName ?? "localhost";
        if (_lhloName.Length == 0 || _lhloName.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
        {
            throw new ArgumentException($"LHLO name \"{_lhloName}\" is not a host name.", nameof(options));
        }

        _time = timeProvider;
        _logger = logger;
        _sweeper = timeProvider.CreateTimer(_ => SweepIdle(), null, options.IdleTimeout, options.IdleTimeout);
    }

    public string Action { get; }

    public bool IsLocal => true;

    /// <summary>Sessions opened so far (tests: many messages should share one).</summary>
    internal int ConnectionsOpened => Volatile.Read(ref _connectionsOpened);

    public string DestinationOf(EnvelopeRecord envelope) => _options.Address;

    public async ValueTask<IReadOnlyList<DeliveryResult>> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var results = new DeliveryResult?[request.Recipients.Count];
        IReadOnlyList<string> deliveredTo;
        try
        {
            deliveredTo = await TraceHeaders.ReadDeliveredToAsync(request.MessagePath, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [.. request.Recipients.Select(r => Fail(r.Id, new DeliveryFailure(true, "4.3.0", $"lmtp: cannot read the queued message: {e.Message}")))];
        }

        // Checks that need no server: envelope data that could inject a command line, and loops.
        var candidates = new List<int>();
        for (var i = 0; i < results.Length; i++)
        {
            var envelope = request.Recipients[i];
            if (TraceHeaders.Validate(envelope.Sender, envelope.Recipient) is { } invalid)
            {
                DeliveryLog.UnsafeEnvelope(_logger, Action, envelope.Id, invalid.Diagnostic);
                results[i] = Fail(envelope.Id, invalid);
            }
            else if (TraceHeaders.IsLoop(deliveredTo, envelope.Recipient))
            {
                DeliveryLog.LoopDetected(_logger, Action, envelope.Id, LocalRecipient.FormatAddress(envelope.Recipient));
                results[i] = Fail(envelope.Id, TraceHeaders.LoopFailure(envelope.Recipient));
            }
            else
            {
                candidates.Add(i);
            }
        }

        if (candidates.Count > 0)
        {
            await TransactAsync(request, candidates, results, cancellationToken).ConfigureAwait(false);
        }

        return [.. results.Select(r => r!)];
    }

    private async ValueTask TransactAsync(DeliveryRequest request, List<int> candidates, DeliveryResult?[] results, CancellationToken cancellationToken)
    {
        var first = request.Recipients[candidates[0]];
        SmtpClientConnection connection;
        try
        {
            connection = await RentAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or TimeoutException or SmtpClientProtocolException or SmtpClientRejectedException)
        {
            DeliveryLog.LmtpSessionFailed(_logger, _options.Address, "connecting", e.Message);
            var failure = e is SmtpClientRejectedException rejected
                ? FromReply(rejected.Reply, "greeting")
                : new DeliveryFailure(true, "4.4.1", $"lmtp: cannot connect to {_options.Address}: {e.Message}");
            foreach (var i in candidates)
            {
                results[i] = Fail(request.Recipients[i].Id, failure with { Temporary = true, Status = Temporary(failure.Status) });
            }

            return;
        }

        try
        {
            var mail = await connection.CommandAsync(MailCommand(first, connection, request.MessagePath), _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
            if (!mail.IsPositive)
            {
                Resolve(mail, "MAIL FROM", connection, candidates, request, results);
                return;
            }

            var accepted = new List<int>(candidates.Count);
            foreach (var i in candidates)
            {
                var rcpt = await connection.CommandAsync($"RCPT TO:<{LocalRecipient.FormatAddress(request.Recipients[i].Recipient)}>", _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
                if (rcpt.IsPositive)
                {
                    accepted.Add(i);
                }
                else
                {
                    Resolve(rcpt, "RCPT TO", connection, [i], request, results);
                }
            }

            if (accepted.Count == 0)
            {
                return;
            }

            var data = await connection.CommandAsync("DATA", _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
            if (data.Code != 354)
            {
                Resolve(data, "DATA", connection, accepted, request, results);
                return;
            }

            using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                deadline.CancelAfter(_options.DataTimeout);
                try
                {
                    await connection.SendMessageAsync(request.MessagePath, deadline.Token).ConfigureAwait(false);

                    // RFC 2033 §4.2: one reply per recipient that got a 2xx to RCPT, in RCPT order.
                    foreach (var i in accepted)
                    {
                        connection.SetStep($"waiting for the reply for {LocalRecipient.FormatAddress(request.Recipients[i].Recipient)} after DATA");
                        var reply = await connection.ReadReplyCoreAsync(deadline.Token).ConfigureAwait(false);
                        Resolve(reply, "end of DATA", connection, [i], request, results);
                    }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new TimeoutException($"timed out after {_options.DataTimeout.TotalSeconds:0} s {connection.Step}");
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or TimeoutException or SmtpClientProtocolException or ObjectDisposedException)
        {
            // The session is unusable. Recipients without a reply are retried: a recipient whose
            // reply was lost after the dot may be delivered twice, never zero times.
            connection.Reusable = false;
            var step = connection.Step;
            DeliveryLog.LmtpSessionFailed(_logger, _options.Address, step, e.Message);
            var status = e switch
            {
                SmtpClientProtocolException => "4.5.0",
                TimeoutException => "4.4.2",
                _ => "4.4.2",
            };
            foreach (var i in candidates.Where(i => results[i] is null))
            {
                results[i] = Fail(request.Recipients[i].Id, new DeliveryFailure(true, status, $"lmtp: {_options.Address}: {e.Message} ({step})"));
            }
        }
        finally
        {
            await ReturnAsync(connection).ConfigureAwait(false);
        }
    }

    private string MailCommand(EnvelopeRecord envelope, SmtpClientConnection connection, string messagePath)
    {
        var sender = envelope.Sender is null ? string.Empty : LocalRecipient.FormatAddress(envelope.Sender);
        var command = $"MAIL FROM:<{sender}>";
        if (connection.OffersSize)
        {
            // Parameters only when offered: Dovecot answers 555 to an unadvertised SIZE.
            command += string.Create(CultureInfo.InvariantCulture, $" SIZE={new FileInfo(messagePath).Length}");
        }

        if (envelope.Body != BodyType.SevenBit && connection.Offers8BitMime)
        {
            command += " BODY=8BITMIME";
        }

        if (envelope.SmtpUtf8 && connection.OffersSmtpUtf8)
        {
            command += " SMTPUTF8";
        }

        return command;
    }

    /// <summary>Records a non-positive (or, after DATA, any) reply for <paramref name="indexes"/>.</summary>
    private void Resolve(SmtpClientReply reply, string step, SmtpClientConnection connection, IReadOnlyList<int> indexes, DeliveryRequest request, DeliveryResult?[] results)
    {
        if (reply.Code == 421)
        {
            // The server is closing the session (RFC 5321 §3.8).
            connection.Reusable = false;
        }

        foreach (var i in indexes)
        {
            var id = request.Recipients[i].Id;
            if (reply.IsPositive)
            {
                DeliveryLog.Delivered(_logger, Action, id, _options.Address);
                results[i] = DeliveryResult.Ok(id) with { RemoteMta = _options.Address, RemoteAddress = _options.Address };
            }
            else
            {
                results[i] = Fail(id, FromReply(reply, step));
            }
        }
    }

    private DeliveryFailure FromReply(SmtpClientReply reply, string step)
    {
        // 1xx or 3xx where a final answer is due is as unusable as a 4xx: retry.
        var temporary = !reply.IsPermanent;
        var status = reply.EnhancedStatus ?? (temporary ? "4.0.0" : "5.0.0");
        return new DeliveryFailure(temporary, temporary ? Temporary(status) : status, $"lmtp: {_options.Address} answered {reply} (after {step})");
    }

    private static string Temporary(string status) => status.StartsWith('4') ? status : "4" + status[1..];

    private DeliveryResult Fail(EnvelopeId envelope, DeliveryFailure failure)
    {
        DeliveryLog.DeliveryFailed(_logger, Action, envelope, failure.Status, failure.Diagnostic);
        return failure.ToResult(envelope) with { RemoteMta = _options.Address, RemoteAddress = _options.Address };
    }

    /// <summary>A pooled session that still answers RSET, or a new one.</summary>
    private async ValueTask<SmtpClientConnection> RentAsync(CancellationToken cancellationToken)
    {
        while (TryPopIdle() is { } pooled)
        {
            try
            {
                var rset = await pooled.CommandAsync("RSET", _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
                if (rset.IsPositive)
                {
                    return pooled;
                }
            }
            catch (Exception e) when (e is IOException or SocketException or TimeoutException or SmtpClientProtocolException)
            {
                // The server closed it while idle; nothing of this transaction was sent yet.
                DeliveryLog.SmtpClientConnectionClosed(_logger, _options.Address, e.Message);
            }

            pooled.Reusable = false;
            await pooled.DisposeAsync().ConfigureAwait(false);
        }

        var connection = await SmtpClientConnection.ConnectLmtpAsync(_endPoint, _lhloName, new SmtpClientTimeouts(_options.ConnectTimeout, _options.CommandTimeout), cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _connectionsOpened);
        DeliveryLog.LmtpConnected(_logger, _options.Address);
        return connection;
    }

    private SmtpClientConnection? TryPopIdle()
    {
        var now = _time.GetUtcNow();
        while (true)
        {
            SmtpClientConnection? candidate;
            lock (_idle)
            {
                if (!_idle.TryPop(out candidate))
                {
                    return null;
                }
            }

            if (now - candidate.LastUsed < _options.IdleTimeout)
            {
                return candidate;
            }

            _ = candidate.QuitAsync().AsTask();
        }
    }

    private async ValueTask ReturnAsync(SmtpClientConnection connection)
    {
        if (connection.Reusable)
        {
            connection.LastUsed = _time.GetUtcNow();
            lock (_idle)
            {
                if (!_disposed && _idle.Count < _options.MaxIdleConnections)
                {
                    _idle.Push(connection);
                    return;
                }
            }

            await connection.QuitAsync().ConfigureAwait(false);
            return;
        }

        await connection.DisposeAsync().ConfigureAwait(false);
    }

    private void SweepIdle()
    {
        var now = _time.GetUtcNow();
        List<SmtpClientConnection> expired;
        lock (_idle)
        {
            var all = _idle.ToArray();
            expired = [.. all.Where(c => now - c.LastUsed >= _options.IdleTimeout)];
            _idle.Clear();
            foreach (var keep in all.Where(c => now - c.LastUsed < _options.IdleTimeout).Reverse())
            {
                _idle.Push(keep);
            }
        }

        foreach (var connection in expired)
        {
            DeliveryLog.SmtpClientConnectionClosed(_logger, _options.Address, "idle");
            _ = connection.QuitAsync().AsTask();
        }
    }

    public async ValueTask DisposeAsync()
    {
        SmtpClientConnection[] idle;
        lock (_idle)
        {
            _disposed = true;
            idle = _idle.ToArray();
            _idle.Clear();
        }

        await _sweeper.DisposeAsync().ConfigureAwait(false);
        foreach (var connection in idle)
        {
            await connection.QuitAsync().ConfigureAwait(false);
        }
    }
}
