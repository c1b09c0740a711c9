using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging;
using SmtpServer.Configuration;
using SmtpServer.Protocol;
using SmtpServer.Tls;

namespace SmtpServer.Smtp;

/// <summary>
/// One SMTP server session (RFC 5321) over a connection's pipes. It reads as many complete
/// commands as the input holds, answers each in order and flushes the replies only when it is
/// about to wait for more input: that is server-side PIPELINING (RFC 2920 §3.2). DATA and BDAT
/// stream straight into the spool file.
/// </summary>
internal sealed partial class SmtpSession : IDisposable
{
    private readonly ConnectionContext _connection;
    private readonly ListenerSettings _listener;
    private readonly SmtpServices _services;
    private readonly ServerSettings _settings;

    /// <summary>The listener as the session's configuration snapshot has it (a reload may change senders and masquerade).</summary>
    private readonly ListenerSettings _currentListener;
    private readonly SessionLimits _limits;
    private readonly ILogger _logger;
    private readonly ListenerSecurity _security;

    // Replaced by the TLS pipes after STARTTLS (SmtpSession.Tls.cs).
    private PipeReader _input;
    private PipeWriter _output;
    private readonly string _hostname;
    private readonly byte[] _lineBuffer;
    private readonly ITimer _idleTimer;
    private readonly CancellationTokenRegistration _shutdownRegistration;
    private readonly DataReader _dataReader;
    private readonly BdatReader _bdatReader;

    private volatile SessionState _state = SessionState.Connected;
    private volatile bool _timedOut;
    private volatile bool _shutdownRequested;
    private bool _closing;
    private string _closeReason = "disconnected";
    private string? _helo;
    private bool _extended;
    private int _messages;
    private int _errors;
    private long _bdatRemaining;
    private bool _bdatLast;
    private SmtpTransaction? _transaction;

    public SmtpSession(ConnectionContext connection, ListenerSettings listener, SmtpServices services, ListenerSecurity security)
    {
        _connection = connection;
        _listener = listener;
        _services = services;
        _security = security;
        _settings = services.Settings;
        _currentListener = _settings.Listeners.FirstOrDefault(l => l.Name == listener.Name) ?? listener;
        _limits = _settings.Limits;
        _logger = services.SessionLogger;
        _input = connection.Transport.Input;
        _output = connection.Transport.Output;
        _hostname = listener.Hostname ?? _settings.Hostname;
        _lineBuffer = new byte[Math.Max(_limits.MaxCommandLineLength, _limits.MaxAuthLineLength)];
        Id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        ClientAddress = (connection.RemoteEndPoint as IPEndPoint)?.Address;

        // Implicit TLS (RFC 8314): the connection middleware did the handshake already.
        _tls = connection.Features.Get<TlsConnectionInfo>();

        var contentLimits = new MessageContentLimits(
            _limits.MaxMessageSize, _limits.MaxTextLineLength, _limits.MaxHeaderSize, MaxReceivedHeaders, _limits.BareLineEndings);
        _dataReader = new DataReader(contentLimits);
        _bdatReader = new BdatReader(contentLimits);

        // The idle timer cancels the pending read instead of throwing (RFC 5321 §4.5.3.2 timeouts);
        // the loop then answers 421 4.4.2 and closes.
        _idleTimer = services.Time.CreateTimer(static s => ((SmtpSession)s!).OnIdleTimeout(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        var lifetime = connection.Features.Get<IConnectionLifetimeNotificationFeature>();
        if (lifetime is not null)
        {
            _shutdownRegistration = lifetime.ConnectionClosedRequested.UnsafeRegister(static s => ((SmtpSession)s!).OnShutdownRequested(), this);
        }
    }

    /// <summary>RFC 5321 §6.3 loop detection: OpenSMTPD's MAX_HOPS_COUNT.</summary>
    internal const int MaxReceivedHeaders = 100;

    public string Id { get; }

    public IPAddress? ClientAddress { get; }

    public SessionState State => _state;

    public async Task RunAsync()
    {
        var clientText = ClientAddress?.ToString() ?? "local";
        SessionLog.Connected(_logger, Id, clientText, _listener.Name);
        _services.Metrics.SessionStarted(_listener.Name);
        LogTls();
        StartReverseLookup();
        try
        {
            await WriteReplyAsync(new SmtpReply(220, null, $"{_hostname} ESMTP smtpd ready")).ConfigureAwait(false);
            await ReadLoopAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ConnectionResetException or ConnectionAbortedException or ObjectDisposedException or OperationCanceledException)
        {
            _closeReason = "io-error";
        }
        catch (Exception ex)
        {
            // A bug in one session must never cost the process (DESIGN.md, decision 6).
            _closeReason = "internal-error";
            SessionLog.SessionError(_logger, Id, _state, ex);
        }
        finally
        {
            var last = _state;
            _state = SessionState.Closed;
            await _lookupCancellation.CancelAsync().ConfigureAwait(false);
            await AbortTransactionAsync().ConfigureAwait(false);
            await CloseTlsAsync().ConfigureAwait(false);
            SessionLog.Disconnected(_logger, Id, _closeReason, last);
            _services.Metrics.SessionEnded(_listener.Name);
        }
    }

    private async Task ReadLoopAsync()
    {
        while (!_closing)
        {
            // Replies go out only when no complete command is left to answer (RFC 2920 §3.2).
            var flush = await _output.FlushAsync().ConfigureAwait(false);
            if (flush.IsCompleted)
            {
                _closeReason = "io-error";
                return;
            }

            ArmIdleTimer();
            var result = await _input.ReadAsync().ConfigureAwait(false);
            DisarmIdleTimer();

            if (result.IsCanceled)
            {
                if (await HandleInterruptAsync().ConfigureAwait(false))
                {
                    return;
                }

                continue;
            }

            var buffer = result.Buffer;
            var consumed = await ProcessAsync(buffer).ConfigureAwait(false);
            if (_startTlsPending)
            {
                // RFC 3207 §4.2 / CVE-2011-0411: whatever the client sent after STARTTLS, in
                // plain text, is thrown away rather than read as commands under TLS.
                _input.AdvanceTo(buffer.End);
                if (!await UpgradeToTlsAsync(buffer.Slice(consumed).Length).ConfigureAwait(false))
                {
                    return;
                }

                continue;
            }

            _input.AdvanceTo(consumed, buffer.End);

            if (result.IsCompleted && !_closing)
            {
                _closeReason = _state is SessionState.ReadingData or SessionState.ReadingChunk ? "eof-in-data" : "eof";
                return;
            }
        }

        await _output.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>A read was cancelled by the idle timer or by a graceful stop.</summary>
    private async ValueTask<bool> HandleInterruptAsync()
    {
        if (_timedOut)
        {
            // RFC 5321 §4.5.3.2 lets a server close on timeout; 421 tells the client why.
            _closeReason = "timeout";
            await WriteReplyAsync(new SmtpReply(421, "4.4.2", $"{_hostname} Timeout exceeded, closing connection")).ConfigureAwait(false);
            return true;
        }

        if (_shutdownRequested && _transaction is null)
        {
            _closeReason = "shutdown";
            await WriteReplyAsync(ShuttingDown()).ConfigureAwait(false);
            return true;
        }

        return false;
    }

    /// <summary>Handles every complete unit of input in the buffer; returns what was consumed.</summary>
    private async ValueTask<SequencePosition> ProcessAsync(ReadOnlySequence<byte> buffer)
    {
        while (!_closing && !_startTlsPending)
        {
            switch (_state)
            {
                case SessionState.ReadingData:
                {
                    var done = _dataReader.Read(buffer, _transaction!.Content, out var consumed);
                    buffer = buffer.Slice(consumed);
                    await _transaction.Spool!.Writer.FlushAsync().ConfigureAwait(false);
                    if (done != DataReadResult.Completed)
                    {
                        return buffer.Start;
                    }

                    _transaction!.Submission?.Complete();
                    await EndOfDataAsync(_dataReader.Error, _dataReader.Size).ConfigureAwait(false);
                    break;
                }

                case SessionState.ReadingChunk:
                {
                    var position = await ReadChunkAsync(buffer).ConfigureAwait(false);
                    buffer = buffer.Slice(position);
                    if (_state == SessionState.ReadingChunk)
                    {
                        return buffer.Start;
                    }

                    break;
                }

                case SessionState.DiscardingLongLine:
                {
                    // Stay in sync after an over-long line (chasquid readLine): drop up to its end.
                    var found = SmtpLineReader.TrySkipLine(buffer, out var consumed);
                    buffer = buffer.Slice(consumed);
                    if (!found)
                    {
                        return buffer.Start;
                    }

                    _state = SessionState.ReadingCommand;
                    break;
                }

                case SessionState.ReadingAuthResponse:
                {
                    // SASL responses (RFC 4954 §4) carry base64 and have their own bound.
                    var status = SmtpLineReader.TryReadLine(buffer, _limits.MaxAuthLineLength, out var line, out var consumed);
                    if (status == LineStatus.Incomplete)
                    {
                        return buffer.Start;
                    }

                    if (status == LineStatus.TooLong)
                    {
                        _auth = null;
                        _state = SessionState.DiscardingLongLine;
                        await ReplyErrorAsync(SmtpReplies.AuthLineTooLong, "AUTH <response>").ConfigureAwait(false);
                        break;
                    }

                    var length = (int)line.Length;
                    line.CopyTo(_lineBuffer);
                    buffer = buffer.Slice(consumed);
                    _state = SessionState.ExecutingCommand;
                    await AuthResponseAsync(_lineBuffer.AsMemory(0, length)).ConfigureAwait(false);
                    if (_state == SessionState.ExecutingCommand)
                    {
                        _state = SessionState.ReadingCommand;
                    }

                    break;
                }

                default:
                {
                    _state = SessionState.ReadingCommand;

                    // Read up to the AUTH bound (an AUTH line with its initial response may be
                    // longer than a command line); any other verb must fit the command bound.
                    var status = SmtpLineReader.TryReadLine(buffer, _lineBuffer.Length, out var line, out var consumed);
                    if (status == LineStatus.Incomplete)
                    {
                        return buffer.Start;
                    }

                    if (status == LineStatus.TooLong)
                    {
                        _state = SessionState.DiscardingLongLine;
                        await ReplyErrorAsync(SmtpReplies.LineTooLong, "(line too long)").ConfigureAwait(false);
                        break;
                    }

                    var length = (int)line.Length;
                    var lineBytes = buffer.Slice(0, consumed).Length;
                    line.CopyTo(_lineBuffer);
                    buffer = buffer.Slice(consumed);
                    if (lineBytes > _limits.MaxCommandLineLength && !IsAuthLine(_lineBuffer.AsSpan(0, length)))
                    {
                        await ReplyErrorAsync(SmtpReplies.LineTooLong, "(line too long)").ConfigureAwait(false);
                        break;
                    }

                    _state = SessionState.ExecutingCommand;
                    await ExecuteAsync(_lineBuffer.AsMemory(0, length)).ConfigureAwait(false);
                    if (_state == SessionState.ExecutingCommand)
                    {
                        _state = SessionState.ReadingCommand;
                    }

                    break;
                }
            }
        }

        return buffer.Start;
    }

    private ValueTask WriteReplyAsync(SmtpReply reply)
    {
        SmtpReplyWriter.Write(_output, reply);
        _services.Metrics.Reply(reply.Code);
        if (reply.ClosesSession)
        {
            _closing = true;
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>A failed command: counted against server.limits.maxErrorsPerSession.</summary>
    private async ValueTask ReplyErrorAsync(SmtpReply reply, string command)
    {
        await WriteReplyAsync(reply).ConfigureAwait(false);
        if (reply.Code < 500 || _closing)
        {
            return;
        }

        SessionLog.FailedCommand(_logger, Id, command, reply.ToString());
        if (++_errors >= _limits.MaxErrorsPerSession)
        {
            _closeReason = "too-many-errors";
            await WriteReplyAsync(new SmtpReply(421, "4.7.0", $"{_hostname} Too many errors, closing connection")).ConfigureAwait(false);
        }
    }

    private SmtpReply ShuttingDown() => new(421, "4.3.2", $"{_hostname} Service shutting down, closing connection");

    private void ArmIdleTimer() => _idleTimer.Change(_limits.IdleTimeout, Timeout.InfiniteTimeSpan);

    private void DisarmIdleTimer() => _idleTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

    private void OnIdleTimeout()
    {
        _timedOut = true;
        _input.CancelPendingRead();
    }

    private void OnShutdownRequested()
    {
        _shutdownRequested = true;

        // Only a session outside a transaction is interrupted; one inside a transaction may finish
        // its message (up to the host's shutdown timeout) and is closed after that reply.
        if (_transaction is null)
        {
            _input.CancelPendingRead();
        }
    }

    private static string Describe(ReadOnlySpan<byte> line)
    {
        // Logs show the verb and never AUTH secrets (chasquid redacts AUTH); cap the length.
        var verb = SmtpCommandParser.ParseVerb(line, out _);
        if (verb == SmtpVerb.Auth)
        {
            return "AUTH <redacted>";
        }

        var text = Encoding.UTF8.GetString(line[..Math.Min(line.Length, 100)]);
        return string.Create(text.Length, text, static (span, t) =>
        {
            for (var i = 0; i < t.Length; i++)
            {
                span[i] = char.IsControl(t[i]) ? '?' : t[i];
            }
        });
    }

    public void Dispose()
    {
        _lookupCancellation.Dispose();
        _idleTimer.Dispose();
        _shutdownRegistration.Dispose();
    }
}
