using System.IO.Pipelines;
using System.Net.Security;
using System.Security.Authentication;
using Microsoft.AspNetCore.Connections;
using SmtpServer.Configuration;
using SmtpServer.Protocol;
using SmtpServer.Tls;

namespace SmtpServer.Smtp;

/// <summary>STARTTLS (RFC 3207): the one in-protocol upgrade of the transport.</summary>
internal sealed partial class SmtpSession
{
    private TlsConnectionInfo? _tls;
    private SslStream? _sslStream;
    private bool _startTlsPending;

    /// <summary>STARTTLS is advertised and accepted: a starttls listener, not yet under TLS.</summary>
    private bool StartTlsOffered => _security.Tls is not null && _listener.Tls!.Mode == TlsMode.StartTls && _tls is null;

    private SmtpReply StartTls(ReadOnlySpan<byte> arguments)
    {
        if (_security.Tls is null || _listener.Tls!.Mode != TlsMode.StartTls)
        {
            return NotImplemented;
        }

        if (_tls is not null)
        {
            return AlreadyTls;
        }

        if (arguments.Length != 0)
        {
            return StartTlsSyntax;
        }

        if (_transaction is not null)
        {
            return SmtpReplies.BadSequence;
        }

        // The read loop throws away the rest of the input and runs the handshake once this
        // reply has been flushed.
        _startTlsPending = true;
        return SmtpReplies.ReadyToStartTls;
    }

    /// <summary>The handshake after 220; false when it failed and the session is over.</summary>
    private async ValueTask<bool> UpgradeToTlsAsync(long discarded)
    {
        _startTlsPending = false;
        if (discarded > 0)
        {
            SessionLog.DiscardedAfterStartTls(_logger, Id, discarded);
        }

        var flush = await _output.FlushAsync().ConfigureAwait(false);
        if (flush.IsCompleted)
        {
            _closeReason = "io-error";
            return false;
        }

        _state = SessionState.TlsHandshake;
        var transport = _connection.Transport;
        using var timeout = new CancellationTokenSource(_limits.IdleTimeout, _services.Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, _connection.ConnectionClosed);
        try
        {
            (_sslStream, _tls) = await _security.Tls!.AuthenticateAsync(new DuplexPipeStream(transport.Input, transport.Output), linked.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException or ConnectionResetException or ConnectionAbortedException)
        {
            _closeReason = timeout.IsCancellationRequested ? "tls-timeout" : "tls-handshake-failed";
            _services.Metrics.Tls("failed");
            TlsLog.HandshakeFailed(_logger, Id, ClientAddress?.ToString() ?? "local", timeout.IsCancellationRequested ? "timeout" : ex.Message);
            _closing = true;
            return false;
        }

        _input = PipeReader.Create(_sslStream, new StreamPipeReaderOptions(leaveOpen: true));
        _output = PipeWriter.Create(_sslStream, new StreamPipeWriterOptions(leaveOpen: true));
        LogTls();

        // RFC 3207 §4.2: discard all knowledge obtained from the client before TLS; the client
        // starts again with EHLO (no new greeting).
        await AbortTransactionAsync().ConfigureAwait(false);
        _helo = null;
        _extended = false;
        _authenticatedUser = null;
        _state = SessionState.ReadingCommand;
        return true;
    }

    private void LogTls()
    {
        if (_tls is { } tls)
        {
            _services.Metrics.Tls("ok");
            TlsLog.Established(_logger, Id, TlsConnectionInfo.ProtocolName(tls.Protocol), tls.CipherSuite, tls.ServerName ?? "-",
                tls.ClientCertificate is null ? "none" : $"{TlsConnectionInfo.Sanitize(tls.ClientCertificate.Subject)} verified={(tls.ClientCertificateVerified ? "yes" : "no")}");
        }
    }

    private async ValueTask CloseTlsAsync()
    {
        if (_sslStream is null)
        {
            return;
        }

        try
        {
            await _output.CompleteAsync().ConfigureAwait(false);
            await _input.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or ConnectionResetException or ConnectionAbortedException)
        {
            // The client is gone; nothing left to flush.
        }

        await _sslStream.DisposeAsync().ConfigureAwait(false);
        _sslStream = null;
    }

    private static readonly SmtpReply AlreadyTls = new(503, "5.5.1", "TLS already active");
    private static readonly SmtpReply StartTlsSyntax = new(501, "5.5.4", "Syntax: STARTTLS (no parameters allowed)");
}
