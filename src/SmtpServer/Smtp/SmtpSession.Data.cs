using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using SmtpServer.Core.Queue;
using SmtpServer.Protocol;

namespace SmtpServer.Smtp;

internal sealed partial class SmtpSession
{
    private long _chunkSize;
    private SmtpReply? _discardedChunkReply;

    private async ValueTask<SmtpReply> DataAsync(int argumentLength)
    {
        if (argumentLength != 0)
        {
            return SmtpReplies.NoArgumentsAllowed;
        }

        if (CheckReadyForContent() is { } refused)
        {
            return refused;
        }

        if (_transaction!.Chunking)
        {
            // RFC 3030 §3: DATA may not follow BDAT in the same transaction.
            return SmtpReplies.BadSequence;
        }

        if (!await OpenSpoolAsync().ConfigureAwait(false))
        {
            return QueueUnavailable;
        }

        _dataReader.Reset();
        _state = SessionState.ReadingData;
        return StartMailInput;
    }

    private async ValueTask<SmtpReply?> BdatAsync(ReadOnlyMemory<byte> arguments)
    {
        if (!SmtpCommandParser.TryParseBdat(arguments.Span, out var size, out var last, out var error))
        {
            // Without a size we cannot skip the chunk; the client's next bytes are read as commands.
            return error;
        }

        _chunkSize = size;
        _bdatLast = last;
        var refused = CheckReadyForContent()
            ?? (_transaction!.ChunkingFailed || (_transaction.Spool is not null && !_transaction.Chunking) ? SmtpReplies.BadSequence : null);
        if (refused is null && _transaction!.Spool is null)
        {
            if (await OpenSpoolAsync().ConfigureAwait(false))
            {
                _transaction.Chunking = true;
                _bdatReader.Reset();
            }
            else
            {
                refused = QueueUnavailable;
            }
        }

        if (refused is not null)
        {
            // RFC 3030 §2: a refused BDAT's chunk is still read, then answered.
            _discardedChunkReply = refused;
            _bdatRemaining = size;
        }
        else
        {
            _bdatReader.BeginChunk(size, last);
        }

        _state = SessionState.ReadingChunk;
        return null;
    }

    private async ValueTask<SequencePosition> ReadChunkAsync(ReadOnlySequence<byte> buffer)
    {
        if (_discardedChunkReply is { } reply)
        {
            var take = Math.Min(_bdatRemaining, buffer.Length);
            _bdatRemaining -= take;
            if (_bdatRemaining > 0)
            {
                return buffer.GetPosition(take);
            }

            _discardedChunkReply = null;
            _state = SessionState.ReadingCommand;
            await ReplyErrorAsync(reply, "BDAT").ConfigureAwait(false);
            return buffer.GetPosition(take);
        }

        var writer = _transaction!.Content;
        var result = _bdatReader.Read(buffer, writer, out var consumed);
        await _transaction.Spool!.Writer.FlushAsync().ConfigureAwait(false);
        if (result != DataReadResult.Completed)
        {
            return consumed;
        }

        _state = SessionState.ReadingCommand;
        if (_bdatLast)
        {
            _bdatReader.Complete(writer);
            _transaction.Submission?.Complete();
            await EndOfDataAsync(_bdatReader.Error, _bdatReader.Size).ConfigureAwait(false);
        }
        else if (_bdatReader.Error != MessageContentError.None)
        {
            // The message has failed already: say so now, and refuse the remaining chunks.
            var spool = _transaction.Spool;
            _transaction.Spool = null;
            _transaction.ChunkingFailed = true;
            await spool.DisposeAsync().ConfigureAwait(false);
            await ReplyErrorAsync(SmtpReplies.For(_bdatReader.Error), "BDAT").ConfigureAwait(false);
        }
        else
        {
            await WriteReplyAsync(new SmtpReply(250, "2.0.0", string.Create(CultureInfo.InvariantCulture, $"{_chunkSize} octets received"))).ConfigureAwait(false);
        }

        return consumed;
    }

    /// <summary>MAIL and at least one accepted RCPT must come before DATA or BDAT (RFC 5321 §3.3).</summary>
    private SmtpReply? CheckReadyForContent()
    {
        if (_transaction is null)
        {
            return new SmtpReply(503, "5.5.1", "Error: need MAIL command");
        }

        if (_transaction.Recipients.Count == 0)
        {
            return _transaction.RejectedRecipients > 0
                ? new SmtpReply(554, "5.5.1", "Error: no valid recipients")
                : new SmtpReply(503, "5.5.1", "Error: need RCPT command");
        }

        return null;
    }

    private async ValueTask<bool> OpenSpoolAsync()
    {
        try
        {
            var spool = await _services.Queue.CreateMessageAsync(_connection.ConnectionClosed).ConfigureAwait(false);
            _transaction!.Spool = spool;
            ReceivedHeader.Write(spool.Writer, new ReceivedHeader.Info(
                Helo: _helo!,
                ClientAddress: ClientAddress,
                Hostname: _hostname,
                Extended: _extended,
                Tls: _tls is not null,
                Authenticated: _authenticatedUser is not null,
                SmtpUtf8: _transaction.Parameters.SmtpUtf8,
                QueueId: spool.Id.ToString(),
                Recipient: _transaction.Recipients.Count == 1 ? _transaction.Recipients[0].Recipient.Address : null,
                Date: _services.Time.GetUtcNow())
            {
                ClientHostName = await ClientHostNameAsync().ConfigureAwait(false),
                TlsComment = _tls?.ReceivedComment(),
                AuthenticatedUser = _listener.ReceivedAuth ? _authenticatedUser : null,
            });

            // masquerade: only mail of an authenticated session, and not bounces (no sender to name).
            var masquerade = _currentListener.Masquerade && _authenticatedUser is not null ? _transaction.Sender?.Address : null;
            if (_listener.Submission || masquerade is not null)
            {
                var id = spool.Id.ToString();
                _transaction.Submission = new SubmissionHeaderWriter(
                    spool.Writer,
                    _listener.Submission ? () => $"<{id}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}@{_hostname}>" : null,
                    _listener.Submission ? () => ReceivedHeader.FormatDate(_services.Time.GetUtcNow()) : null,
                    masquerade);
            }

            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            SessionLog.QueueFailure(_logger, Id, "-", ex);
            return false;
        }
    }

    /// <summary>
    /// The end of DATA or of the LAST chunk: commit durably, then answer (DESIGN.md, decision 1).
    /// </summary>
    private async ValueTask EndOfDataAsync(MessageContentError error, long size)
    {
        var transaction = _transaction!;
        var spool = transaction.Spool!;
        _transaction = null;
        _state = SessionState.ReadingCommand;

        if (error != MessageContentError.None)
        {
            SessionLog.MessageRejected(_logger, Id, spool.Id.ToString(), error.ToString());
            _services.Metrics.MessageRejected(error.ToString());
            await spool.DisposeAsync().ConfigureAwait(false);
            await ReplyErrorAsync(SmtpReplies.For(error), "DATA").ConfigureAwait(false);
            return;
        }

        _state = SessionState.Committing;
        var envelope = new MessageEnvelope
        {
            Id = spool.Id,
            Sender = transaction.Sender,
            MailParameters = transaction.Parameters,
            Recipients = transaction.Recipients,
            Listener = _listener.Name,
            ClientAddress = ClientAddress?.ToString() ?? "local",
            ClientHostName = await ClientHostNameAsync().ConfigureAwait(false),
            Helo = _helo!,
            ReceivedAt = _services.Time.GetUtcNow(),
            Tls = _tls is not null,
            AuthenticatedUser = _authenticatedUser,
        };

        StoredMessage stored;
        try
        {
            // Not cancelled by a vanished client: once the bytes are here, committing them is
            // the safe side (a duplicate at worst, never a loss).
            stored = await spool.CommitAsync(envelope, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            SessionLog.QueueFailure(_logger, Id, spool.Id.ToString(), ex);
            _services.Metrics.MessageRejected("QueueFailure");
            await spool.DisposeAsync().ConfigureAwait(false);
            _state = SessionState.ReadingCommand;
            await WriteReplyAsync(new SmtpReply(451, "4.3.0", "Temporary failure, message not accepted; try again later")).ConfigureAwait(false);
            return;
        }

        _services.Scheduler.Enqueue(stored);
        await spool.DisposeAsync().ConfigureAwait(false);
        _state = SessionState.ReadingCommand;
        _messages++;
        _services.Metrics.MessageAccepted(_listener.Name, size, envelope.Recipients.Count);
        SessionLog.MessageAccepted(_logger, Id, spool.Id.ToString(), size, envelope.Recipients.Count,
            envelope.Sender?.Address ?? string.Empty, ReceivedHeader.Protocol(_extended, _tls is not null, _authenticatedUser is not null, transaction.Parameters.SmtpUtf8), _helo!);
        await WriteReplyAsync(new SmtpReply(250, "2.0.0", $"{spool.Id} Message accepted for delivery")).ConfigureAwait(false);

        if (_shutdownRequested)
        {
            _closeReason = "shutdown";
            await WriteReplyAsync(ShuttingDown()).ConfigureAwait(false);
        }
    }

    private static readonly SmtpReply StartMailInput = new(354, null, "End data with <CR><LF>.<CR><LF>");
    private static readonly SmtpReply QueueUnavailable = new(451, "4.3.0", "Temporary failure: queue unavailable");
}
