using System.Globalization;
using SmtpServer.Configuration;
using SmtpServer.Core.Queue;
using SmtpServer.Core.Routing;
using SmtpServer.Protocol;

namespace SmtpServer.Smtp;

internal sealed partial class SmtpSession
{
    private async ValueTask ExecuteAsync(ReadOnlyMemory<byte> line)
    {
        var verb = SmtpCommandParser.ParseVerb(line.Span, out var args);
        var argumentsStart = line.Length - args.Length;
        var arguments = line[argumentsStart..];
        _services.Metrics.Command(verb);
        if (_logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Debug))
        {
            SessionLog.Command(_logger, Id, Describe(line.Span));
        }

        if (_shutdownRequested && _transaction is null && verb != SmtpVerb.Quit)
        {
            _closeReason = "shutdown";
            await WriteReplyAsync(ShuttingDown()).ConfigureAwait(false);
            return;
        }

        var reply = verb switch
        {
            SmtpVerb.Helo => await HeloAsync(arguments, extended: false).ConfigureAwait(false),
            SmtpVerb.Ehlo => await HeloAsync(arguments, extended: true).ConfigureAwait(false),
            SmtpVerb.Mail => await MailAsync(arguments).ConfigureAwait(false),
            SmtpVerb.Rcpt => await RcptAsync(arguments).ConfigureAwait(false),
            SmtpVerb.Data => await DataAsync(arguments.Span.Length).ConfigureAwait(false),
            SmtpVerb.Bdat => await BdatAsync(arguments).ConfigureAwait(false),
            SmtpVerb.Rset => await RsetAsync(arguments.Span.Length).ConfigureAwait(false),
            SmtpVerb.Noop => SmtpReplies.Ok,
            SmtpVerb.Quit => Quit(arguments.Span.Length),
            SmtpVerb.Help => Help,

            // RFC 5321 §3.5.3: 252 without revealing whether the user exists.
            SmtpVerb.Vrfy => arguments.Length == 0 ? SmtpReplies.ArgumentSyntaxError : SmtpReplies.CannotVerify,
            SmtpVerb.Expn => NotImplemented,

            SmtpVerb.StartTls => StartTls(arguments.Span),
            SmtpVerb.Auth => await AuthAsync(arguments).ConfigureAwait(false),
            _ => Unrecognized(line.Span),
        };

        if (reply is null)
        {
            return;
        }

        if (reply.Code >= 500)
        {
            await ReplyErrorAsync(reply, Describe(line.Span)).ConfigureAwait(false);
        }
        else
        {
            await WriteReplyAsync(reply).ConfigureAwait(false);
        }
    }

    private async ValueTask<SmtpReply> HeloAsync(ReadOnlyMemory<byte> arguments, bool extended)
    {
        if (!SmtpCommandParser.TryParseHelo(arguments.Span, out var domain, out var error))
        {
            return error;
        }

        // RFC 5321 §4.1.4: a second EHLO/HELO is allowed and resets the transaction
        // (OpenSMTPD answers 503 instead; we follow the RFC).
        await AbortTransactionAsync().ConfigureAwait(false);
        _helo = domain;
        _extended = extended;
        var greeting = $"{_hostname} Hello {domain} [{ClientAddress?.ToString() ?? "local"}]";
        if (!extended)
        {
            return new SmtpReply(250, null, greeting);
        }

        List<string> lines =
        [
            greeting,
            "PIPELINING",
            string.Create(CultureInfo.InvariantCulture, $"SIZE {_limits.MaxMessageSize}"),
            "8BITMIME",
            "SMTPUTF8",
            "CHUNKING",
            "DSN",
            "ENHANCEDSTATUSCODES",
        ];

        // RFC 3207 §4.2: not after TLS. RFC 4954 §4: AUTH only where it may be used, and no longer once done.
        if (StartTlsOffered)
        {
            lines.Add("STARTTLS");
        }

        if (AuthAvailable && _authenticatedUser is null)
        {
            lines.Add("AUTH PLAIN LOGIN");
        }

        lines.Add("HELP");
        return new SmtpReply(250, null, lines);
    }

    private async ValueTask<SmtpReply> MailAsync(ReadOnlyMemory<byte> arguments)
    {
        if (_helo is null)
        {
            return new SmtpReply(503, "5.5.1", "Error: send HELO/EHLO first");
        }

        if (_transaction is not null)
        {
            return new SmtpReply(503, "5.5.1", "Error: nested MAIL command");
        }

        // RFC 3207 §4 and RFC 4954 §6: 530 until the listener's requirements are met.
        if (_listener.Tls is { Required: true } && _tls is null)
        {
            return new SmtpReply(530, "5.7.0", "Must issue a STARTTLS command first");
        }

        if (_listener.Auth is { Mode: AuthMode.Required } && _authenticatedUser is null)
        {
            return new SmtpReply(530, "5.7.0", "Authentication required");
        }

        if (!SmtpCommandParser.TryParseMail(arguments.Span, out var sender, out var parameters, out var error))
        {
            return error;
        }

        // RFC 5321 §4.1.1.11: ESMTP parameters need EHLO.
        if (!_extended && parameters != MailParameters.Empty)
        {
            return new SmtpReply(555, "5.5.4", "MAIL parameters need EHLO");
        }

        if (parameters.Body == BodyType.BinaryMime)
        {
            // BINARYMIME is not advertised: the stored message is always canonical CRLF text.
            return new SmtpReply(555, "5.5.4", "BODY=BINARYMIME not supported");
        }

        if (parameters.Size > _limits.MaxMessageSize)
        {
            // RFC 1870 §6.3: a declared size over the limit is refused at MAIL.
            return new SmtpReply(552, "5.3.4", "Message size exceeds fixed maximum message size");
        }

        if (_messages >= _limits.MaxMessagesPerSession)
        {
            return new SmtpReply(452, "4.5.3", "Too many messages sent in this session");
        }

        if (!_services.Queue.HasFreeSpace())
        {
            return new SmtpReply(452, "4.3.1", "Insufficient system storage");
        }

        var senders = _currentListener.Senders;
        if (senders is not null && _authenticatedUser is not null)
        {
            bool allowed;
            try
            {
                allowed = await SenderAllowedAsync(senders, _authenticatedUser, sender).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                SessionLog.RoutingFailure(_logger, Id, sender?.Address ?? "<>", ex);
                return new SmtpReply(451, "4.3.0", "Temporary failure");
            }

            if (!allowed)
            {
                return new SmtpReply(553, "5.7.1", $"Sender address rejected: not owned by user {_authenticatedUser}");
            }
        }

        _transaction = new SmtpTransaction(sender, parameters);
        return SenderOk;
    }

    /// <summary>
    /// listeners[].senders (OpenSMTPD <c>senders &lt;table&gt;</c>): the login's entry lists the
    /// addresses it may use in MAIL FROM, as <c>user@domain</c>, <c>@domain</c> or <c>user</c>.
    /// </summary>
    private async ValueTask<bool> SenderAllowedAsync(ILookupTable senders, string login, Mailbox? sender)
    {
        var entry = await senders.LookupAsync(login, _connection.ConnectionClosed).ConfigureAwait(false);
        if (entry is null)
        {
            return false;
        }

        var allowed = entry.Values
            .SelectMany(v => v.Split([',', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Select(v => (v, (IReadOnlyList<string>)[]));
        var table = new TableContents(allowed, _settings.SubaddressDelimiter);
        return sender is null ? table.MatchKey("<>") : table.MatchMailAddress(sender.Address);
    }

    private async ValueTask<SmtpReply> RcptAsync(ReadOnlyMemory<byte> arguments)
    {
        if (_transaction is null)
        {
            return new SmtpReply(503, "5.5.1", "Error: need MAIL command");
        }

        if (_transaction.Spool is not null || _transaction.Chunking)
        {
            return SmtpReplies.BadSequence;
        }

        if (!SmtpCommandParser.TryParseRcpt(arguments.Span, _transaction.Parameters.SmtpUtf8, out var recipient, out var parameters, out var error))
        {
            _transaction.RejectedRecipients++;
            return error;
        }

        if (_transaction.Recipients.Count >= _limits.MaxRecipients)
        {
            // RFC 5321 §4.5.3.1.10: 452 (OpenSMTPD answers 451).
            _transaction.RejectedRecipients++;
            return new SmtpReply(452, "4.5.3", "Too many recipients");
        }

        var lookup = await ClientLookupAsync().ConfigureAwait(false);
        var request = new RoutingRequest
        {
            ClientAddress = ClientAddress,
            Listener = _listener.Name,
            Helo = _helo,
            Sender = _transaction.Sender,
            Recipient = recipient,
            Tls = _tls is not null,
            AuthenticatedUser = _authenticatedUser,
            ClientHostName = lookup?.Name,
            ReverseLookupFailed = Failed(lookup),
            ClientCertificateNames = _tls?.VerifiedClientNames() ?? [],
        };
        IReadOnlyList<ExpandedRecipient> routed;
        try
        {
            if (_settings.Expander is { } expander)
            {
                // Rules, then the action's aliases/virtual table: one RCPT may become several recipients.
                var expansion = await expander.ExpandAsync(request, _connection.ConnectionClosed).ConfigureAwait(false);
                if (!expansion.Accepted)
                {
                    if (expansion.Problem is { } problem)
                    {
                        // The configuration refused it (a file or command the action does not allow,
                        // a malformed alias): the operator needs to know, the client only gets the reply.
                        SessionLog.AliasRefused(_logger, Id, recipient.Address, expansion.Reject!.ToString(), problem);
                    }

                    _transaction.RejectedRecipients++;
                    return expansion.Reject!;
                }

                routed = expansion.Recipients;
            }
            else
            {
                var decision = await _settings.Router.RouteAsync(request, _connection.ConnectionClosed).ConfigureAwait(false);
                if (!decision.Accepted)
                {
                    _transaction.RejectedRecipients++;
                    return decision.Reject!;
                }

                routed = [new ExpandedRecipient(recipient, decision.Action!)];
            }
        }
        catch (ReverseDnsUnavailableException)
        {
            // RFC 7372 §3.3: X.7.25, reverse DNS validation failed; temporary, as the lookup was.
            _transaction.RejectedRecipients++;
            return new SmtpReply(451, "4.7.25", "Client host rejected: cannot find your hostname, temporary DNS failure");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A lookup that fails must never turn into a wrong answer (REFERENCE.md §1.3).
            SessionLog.RoutingFailure(_logger, Id, recipient.Address, ex);
            _transaction.RejectedRecipients++;
            return new SmtpReply(451, "4.3.0", "Temporary failure");
        }

        foreach (var (address, action, target) in routed)
        {
            // An expanded recipient keeps the one the client gave, for the DSN Original-Recipient.
            var recipientParameters = address == recipient || parameters.OriginalRecipient is not null
                ? parameters
                : parameters with { OriginalRecipientType = "rfc822", OriginalRecipient = recipient.Address };
            _transaction.Recipients.Add(new RecipientEnvelope(address, recipientParameters, action, target));
        }

        return RecipientOk;
    }

    private async ValueTask<SmtpReply> RsetAsync(int argumentLength)
    {
        if (argumentLength != 0)
        {
            return SmtpReplies.NoArgumentsAllowed;
        }

        await AbortTransactionAsync().ConfigureAwait(false);
        return SmtpReplies.Ok;
    }

    private SmtpReply? Quit(int argumentLength)
    {
        if (argumentLength != 0)
        {
            return SmtpReplies.NoArgumentsAllowed;
        }

        _closeReason = "quit";
        _closing = true;
        SmtpReplyWriter.Write(_output, new SmtpReply(221, "2.0.0", $"{_hostname} Bye"));
        return null;
    }

    private SmtpReply Unrecognized(ReadOnlySpan<byte> line)
    {
        // A browser or proxy talking to us (the ALPACA cross-protocol class): hang up.
        if (_helo is null && (line.StartsWith("GET "u8) || line.StartsWith("POST "u8) || line.StartsWith("CONNECT "u8)
            || line.StartsWith("HEAD "u8) || line.StartsWith("PUT "u8)))
        {
            _closeReason = "not-smtp";
            return new SmtpReply(421, "4.7.0", $"{_hostname} This is an SMTP server, closing connection");
        }

        return SmtpReplies.CommandUnrecognized;
    }

    private async ValueTask AbortTransactionAsync()
    {
        var spool = _transaction?.Spool;
        _transaction = null;
        _bdatRemaining = 0;
        if (spool is not null)
        {
            await spool.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static readonly SmtpReply SenderOk = new(250, "2.1.0", "Ok");
    private static readonly SmtpReply RecipientOk = new(250, "2.1.5", "Recipient ok");
    private static readonly SmtpReply NotImplemented = new(502, "5.5.1", "Command not implemented");
    private static readonly SmtpReply Help = new(214, "2.0.0",
        ["Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS AUTH", "See RFC 5321; report problems to postmaster"]);
}
