using System.Net.Security;
using System.Security.Authentication;
using System.Text;

namespace SmtpServer.Delivery.Relay;

internal sealed partial class RelayAgent
{
    /// <summary>
    /// Resolves the destination and tries its addresses in order: a connect failure, a 4xx
    /// greeting or a failed setup moves to the next one; a 5xx greeting is final. Without a
    /// session, <c>Tried</c> is the last address tried (for the attempt history), if any.
    /// </summary>
    private async ValueTask<(Session? Session, DeliveryFailure? Failure, RouteTarget? Tried)> ConnectAsync(string destination, CancellationToken cancellationToken)
    {
        var host = _options.Host;
        var routes = host is null
            ? await _resolver.ResolveDomainAsync(destination, cancellationToken).ConfigureAwait(false)
            : await _resolver.ResolveHostAsync(host.Host, host.Port, cancellationToken).ConfigureAwait(false);
        if (routes.Failure is not null)
        {
            return (null, routes.Failure, null);
        }

        DeliveryFailure? last = null;
        RouteTarget? tried = null;
        foreach (var target in routes.Targets)
        {
            tried = target;
            var (session, failure, next) = await TryTargetAsync(target, allowTls: true, cancellationToken).ConfigureAwait(false);
            if (failure is { Status: "downgrade" })
            {
                // Opportunistic TLS failed in the handshake: OpenSMTPD reconnects in plaintext.
                (session, failure, next) = await TryTargetAsync(target, allowTls: false, cancellationToken).ConfigureAwait(false);
            }

            if (session is not null)
            {
                return (session, null, target);
            }

            last = failure;
            if (!next)
            {
                break;
            }
        }

        return (null, last ?? new DeliveryFailure(true, "4.4.1", "Network error on destination MXs"), tried);
    }

    /// <summary>One address: connect, greeting, EHLO (HELO), STARTTLS per policy, AUTH.</summary>
    private async ValueTask<(Session? Session, DeliveryFailure? Failure, bool TryNext)> TryTargetAsync(RouteTarget target, bool allowTls, CancellationToken cancellationToken)
    {
        var lmtp = _options.Host?.Lmtp == true;
        SmtpClientConnection connection;
        try
        {
            connection = await SmtpClientConnection.OpenAsync(target.EndPoint, _options.Source, _options.ConnectTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsSessionError(e))
        {
            RelayLog.ConnectionFailed(_logger, target.ToString(), "connecting", e.Message);
            return (null, new DeliveryFailure(true, "4.4.1", $"Network error on destination MXs: {target}: {e.Message}"), true);
        }

        Interlocked.Increment(ref _connectionsOpened);
        var keep = false;
        try
        {
            if (_options.Tls == RelayTlsMode.Implicit)
            {
                await connection.UpgradeToTlsAsync(TlsOptions(target, verify: !_options.ImplicitTlsNoVerify), _options.ConnectTimeout, cancellationToken).ConfigureAwait(false);
            }

            connection.SetStep("waiting for the greeting");
            var greeting = await connection.ReadReplyAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
            if (greeting.Code != 220)
            {
                // RFC 5321 §3.1: 554 means no service here; a 4xx is worth the next MX.
                return (null, FromReply(target, greeting, "greeting"), !greeting.IsPermanent);
            }

            var hello = await HelloAsync(connection, lmtp, cancellationToken).ConfigureAwait(false);
            if (hello.Code != 250)
            {
                return (null, FromReply(target, hello, lmtp ? "LHLO" : "EHLO/HELO"), true);
            }

            var wantTls = _options.Tls is RelayTlsMode.Opportunistic or RelayTlsMode.Required or RelayTlsMode.Verify && !lmtp;
            if (wantTls && allowTls && connection.Offers("STARTTLS"))
            {
                var starttls = await connection.CommandAsync("STARTTLS", _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
                if (starttls.Code != 220)
                {
                    if (_options.Tls != RelayTlsMode.Opportunistic)
                    {
                        return (null, FromReply(target, starttls, "STARTTLS"), true);
                    }
                }
                else
                {
                    try
                    {
                        await connection.UpgradeToTlsAsync(TlsOptions(target, verify: _options.Tls == RelayTlsMode.Verify), _options.ConnectTimeout, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is AuthenticationException or IOException && _options.Tls == RelayTlsMode.Opportunistic)
                    {
                        RelayLog.TlsDowngrade(_logger, target.ToString(), e.Message);
                        return (null, new DeliveryFailure(true, "downgrade", e.Message), true);
                    }

                    hello = await HelloAsync(connection, lmtp: false, cancellationToken).ConfigureAwait(false);
                    if (hello.Code != 250)
                    {
                        return (null, FromReply(target, hello, "EHLO after STARTTLS"), true);
                    }
                }
            }

            if (connection.TlsProtocol is null && _options.Tls is RelayTlsMode.Required or RelayTlsMode.Verify)
            {
                return (null, new DeliveryFailure(true, "4.7.0", $"TLS required but not supported by remote host {target}"), true);
            }

            if (_options.Credentials is { } credentials)
            {
                var auth = await AuthenticateAsync(connection, target, credentials, cancellationToken).ConfigureAwait(false);
                if (auth is not null)
                {
                    return (null, auth, false);
                }
            }

            RelayLog.Connected(_logger, target.ToString(), _options.Host?.ToString() ?? target.HostName, connection.TlsProtocol ?? "none");
            keep = true;
            return (new Session(connection, target, lmtp), null, false);
        }
        catch (AuthenticationException e)
        {
            RelayLog.ConnectionFailed(_logger, target.ToString(), connection.Step, e.Message);
            return (null, new DeliveryFailure(true, "4.7.5", $"TLS handshake with {target} failed: {e.Message}"), true);
        }
        catch (Exception e) when (IsSessionError(e))
        {
            RelayLog.ConnectionFailed(_logger, target.ToString(), connection.Step, e.Message);
            var status = e is SmtpClientProtocolException ? "4.5.0" : "4.4.2";
            return (null, new DeliveryFailure(true, status, $"{target}: {e.Message} ({connection.Step})"), true);
        }
        finally
        {
            if (!keep)
            {
                await connection.QuitAsync().ConfigureAwait(false);
            }
        }
    }

    private async ValueTask<SmtpClientReply> HelloAsync(SmtpClientConnection connection, bool lmtp, CancellationToken cancellationToken)
    {
        if (lmtp)
        {
            return await connection.HelloAsync("LHLO", _options.HeloName, _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        }

        var ehlo = await connection.HelloAsync("EHLO", _options.HeloName, _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        return ehlo.IsPermanent
            ? await connection.HelloAsync("HELO", _options.HeloName, _options.CommandTimeout, cancellationToken).ConfigureAwait(false)
            : ehlo;
    }

    /// <summary>AUTH PLAIN, else LOGIN (OpenSMTPD's order); never without TLS. Null on success.</summary>
    private async ValueTask<DeliveryFailure?> AuthenticateAsync(SmtpClientConnection connection, RouteTarget target, System.Net.NetworkCredential credentials, CancellationToken cancellationToken)
    {
        if (connection.TlsProtocol is null)
        {
            return new DeliveryFailure(true, "4.7.0", $"Refuse to AUTH over insecure channel ({target})");
        }

        var mechanisms = connection.Extensions.TryGetValue("AUTH", out var list) ? list.Split(' ', StringSplitOptions.RemoveEmptyEntries) : [];
        SmtpClientReply reply;
        if (mechanisms.Contains("PLAIN", StringComparer.OrdinalIgnoreCase))
        {
            var token = Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{credentials.UserName}\0{credentials.Password}"));
            connection.SetStep("AUTH PLAIN");
            reply = await connection.CommandAsync("AUTH PLAIN " + token, _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        }
        else if (mechanisms.Contains("LOGIN", StringComparer.OrdinalIgnoreCase))
        {
            reply = await connection.CommandAsync("AUTH LOGIN", _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
            if (reply.Code == 334)
            {
                reply = await connection.CommandAsync(Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials.UserName)), _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
            }

            if (reply.Code == 334)
            {
                reply = await connection.CommandAsync(Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials.Password)), _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
            }
        }
        else
        {
            return new DeliveryFailure(true, "4.7.0", $"{target} offers neither AUTH PLAIN nor AUTH LOGIN");
        }

        // A refused login is a configuration problem here, not the message's: keep it queued.
        return reply.Code == 235 ? null : FromReply(target, reply, "AUTH") with { Temporary = true, Status = "4.7.0" };
    }

    private static SslClientAuthenticationOptions TlsOptions(RouteTarget target, bool verify) => new()
    {
        TargetHost = target.HostName,
        EnabledSslProtocols = SslProtocols.None,
        RemoteCertificateValidationCallback = verify ? null : (_, _, _, _) => true,
    };

    private static DeliveryFailure FromReply(RouteTarget target, SmtpClientReply reply, string step)
    {
        // 1xx or 3xx where a final answer is due is as unusable as a 4xx: retry.
        var temporary = !reply.IsPermanent;
        var status = reply.EnhancedStatus ?? (temporary ? "4.0.0" : "5.0.0");
        if (temporary && !status.StartsWith('4'))
        {
            status = "4" + status[1..];
        }

        return new DeliveryFailure(temporary, status, $"{target} answered {reply} (after {step})");
    }
}
