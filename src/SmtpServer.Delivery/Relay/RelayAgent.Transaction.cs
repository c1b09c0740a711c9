using System.Globalization;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;
using SmtpServer.Protocol;

namespace SmtpServer.Delivery.Relay;

internal sealed partial class RelayAgent
{
    /// <summary>
    /// One transaction: checks the peer's limits and extensions, MAIL and RCPT (pipelined when
    /// offered, RFC 2920), DATA, the spool file byte for byte (dot-stuffed), the final reply.
    /// A failure at MAIL or DATA applies to every recipient; a lost connection after the final
    /// dot is temporary (delivered twice at worst, never zero times).
    /// </summary>
    private async ValueTask TransactAsync(Session session, DeliveryRequest request, long size, DeliveryResult?[] results, CancellationToken cancellationToken)
    {
        var connection = session.Connection;
        var all = Enumerable.Range(0, results.Length).ToList();
        var first = request.Recipients[0];
        var remote = session.Target.ToString();

        if (connection.MaxMessageSize is { } limit && size > limit)
        {
            SetAll(results, all, request, new DeliveryFailure(false, "5.3.4", $"message too large for peer {remote} ({size} > SIZE {limit})"), remote);
            return;
        }

        if (NeedsEightBit(first) && !connection.Offers8BitMime && !session.Lmtp)
        {
            SetAll(results, all, request, new DeliveryFailure(false, "5.6.3", $"the message is 8-bit (BODY={(first.Body == BodyType.BinaryMime ? "BINARYMIME" : "8BITMIME")}) and {remote} does not offer 8BITMIME"), remote);
            return;
        }

        if (first.Body == BodyType.BinaryMime && !connection.Offers("BINARYMIME"))
        {
            SetAll(results, all, request, new DeliveryFailure(false, "5.6.3", $"the message is BINARYMIME and {remote} does not offer it"), remote);
            return;
        }

        if (first.SmtpUtf8 && !connection.OffersSmtpUtf8)
        {
            SetAll(results, all, request, new DeliveryFailure(false, "5.6.7", $"the message needs SMTPUTF8 and {remote} does not offer it"), remote);
            return;
        }

        connection.Transactions++;
        session.NeedsReset = true;
        try
        {
            var commands = new List<string>(results.Length + 1) { MailCommand(first, connection, size) };
            commands.AddRange(request.Recipients.Select(r => RcptCommand(r, connection)));
            IReadOnlyList<SmtpClientReply> replies;
            if (connection.Offers("PIPELINING"))
            {
                replies = await connection.PipelineAsync(commands, _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                var serial = new List<SmtpClientReply>(commands.Count);
                foreach (var command in commands)
                {
                    var reply = await connection.CommandAsync(command, _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
                    serial.Add(reply);
                    if (serial.Count == 1 && !reply.IsPositive)
                    {
                        break;
                    }
                }

                replies = serial;
            }

            if (!replies[0].IsPositive)
            {
                SetAll(results, all, request, FromReply(session.Target, replies[0], "MAIL FROM"), remote);
                return;
            }

            var accepted = new List<int>();
            for (var i = 0; i < results.Length; i++)
            {
                if (replies[i + 1].IsPositive)
                {
                    accepted.Add(i);
                }
                else
                {
                    SetAll(results, [i], request, FromReply(session.Target, replies[i + 1], "RCPT TO"), remote);
                }
            }

            if (accepted.Count == 0)
            {
                return;
            }

            var data = await connection.CommandAsync("DATA", _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
            if (data.Code != 354)
            {
                SetAll(results, accepted, request, FromReply(session.Target, data, "DATA"), remote);
                return;
            }

            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(_options.DataTimeout);
            try
            {
                await connection.SendMessageAsync(request.MessagePath, deadline.Token).ConfigureAwait(false);
                if (session.Lmtp)
                {
                    // RFC 2033 §4.2: one reply per accepted recipient, in RCPT order.
                    foreach (var i in accepted)
                    {
                        connection.SetStep("waiting for the reply after the final dot");
                        var reply = await connection.ReadReplyCoreAsync(deadline.Token).ConfigureAwait(false);
                        Resolve(reply, [i]);
                    }
                }
                else
                {
                    connection.SetStep("waiting for the reply after the final dot");
                    var reply = await connection.ReadReplyCoreAsync(deadline.Token).ConfigureAwait(false);
                    Resolve(reply, accepted);
                }

                session.NeedsReset = false;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"timed out after {_options.DataTimeout.TotalSeconds:0} s {connection.Step}");
            }
        }
        catch (Exception e) when (IsSessionError(e))
        {
            connection.Reusable = false;
            var step = connection.Step;
            RelayLog.ConnectionFailed(_logger, remote, step, e.Message);
            var failure = new DeliveryFailure(true, e is SmtpClientProtocolException ? "4.5.0" : "4.4.2", $"{remote}: {e.Message} ({step})");
            SetAll(results, [.. all.Where(i => results[i] is null)], request, failure, remote);
        }

        void Resolve(SmtpClientReply reply, IReadOnlyList<int> indexes)
        {
            if (reply.Code == 421)
            {
                connection.Reusable = false;
            }

            foreach (var i in indexes)
            {
                results[i] = reply.IsPositive
                    ? DeliveryResult.Ok(request.Recipients[i].Id) with { Diagnostic = Sanitized(new DeliveryFailure(false, "2.0.0", reply.ToString())).Diagnostic, RemoteMta = remote }
                    : Sanitized(FromReply(session.Target, reply, "end of DATA")).ToResult(request.Recipients[i].Id) with { RemoteMta = remote };
            }
        }
    }

    private static void SetAll(DeliveryResult?[] results, IReadOnlyList<int> indexes, DeliveryRequest request, DeliveryFailure failure, string remote)
    {
        var clean = Sanitized(failure);
        foreach (var i in indexes)
        {
            results[i] = clean.ToResult(request.Recipients[i].Id) with { RemoteMta = remote };
        }
    }

    /// <summary>MAIL FROM with the parameters the peer offers: SIZE, BODY, SMTPUTF8, and RET/ENVID with DSN.</summary>
    internal static string MailCommand(EnvelopeRecord envelope, SmtpClientConnection connection, long size)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentNullException.ThrowIfNull(connection);
        var sender = envelope.Sender is null ? string.Empty : LocalRecipient.FormatAddress(envelope.Sender);
        var command = $"MAIL FROM:<{sender}>";
        if (connection.OffersSize)
        {
            command += string.Create(CultureInfo.InvariantCulture, $" SIZE={size}");
        }

        if (envelope.Body == BodyType.EightBitMime && connection.Offers8BitMime)
        {
            command += " BODY=8BITMIME";
        }
        else if (envelope.Body == BodyType.BinaryMime)
        {
            command += " BODY=BINARYMIME";
        }

        if (envelope.SmtpUtf8 && connection.OffersSmtpUtf8)
        {
            command += " SMTPUTF8";
        }

        if (connection.Offers("DSN"))
        {
            if (envelope.Ret != DsnReturn.Unspecified)
            {
                command += envelope.Ret == DsnReturn.Full ? " RET=FULL" : " RET=HDRS";
            }

            if (envelope.EnvelopeIdParameter is { Length: > 0 } envid)
            {
                command += " ENVID=" + XText.Encode(envid);
            }
        }

        return command;
    }

    /// <summary>RCPT TO with NOTIFY and ORCPT when the peer offers DSN (RFC 3461 §4.1, §4.2).</summary>
    internal static string RcptCommand(EnvelopeRecord envelope, SmtpClientConnection connection)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentNullException.ThrowIfNull(connection);
        var command = $"RCPT TO:<{LocalRecipient.FormatAddress(envelope.Recipient)}>";
        if (connection.Offers("DSN"))
        {
            if (envelope.Notify != DsnNotify.None)
            {
                var notify = envelope.Notify.HasFlag(DsnNotify.Never)
                    ? "NEVER"
                    : string.Join(',', new[] { (DsnNotify.Success, "SUCCESS"), (DsnNotify.Failure, "FAILURE"), (DsnNotify.Delay, "DELAY") }
                        .Where(f => envelope.Notify.HasFlag(f.Item1)).Select(f => f.Item2));
                command += " NOTIFY=" + notify;
            }

            if (envelope.OriginalRecipient is { Length: > 0 } orcpt)
            {
                command += $" ORCPT={envelope.OriginalRecipientType ?? "rfc822"};{XText.Encode(orcpt)}";
            }
        }

        return command;
    }
}
