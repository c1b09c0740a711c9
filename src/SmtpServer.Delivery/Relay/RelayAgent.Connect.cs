using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace SmtpServer.Delivery.Relay;

internal sealed partial class RelayAgent
{
    /// <summary>
    /// A new session for the destination. By MX: the domain's hosts in preference order. To
    /// smarthosts: each in the configured order, passing over one paused after repeated
    /// failures or without credentials; the next one is tried in the same attempt, as the next
    /// MX host is (RFC 5321 §5.1), so a dead first smarthost costs no retry delay. When none
    /// gives a session, the answer is the last temporary failure if there was one (a backup
    /// that refuses with a 5xx must not bounce mail the first one will take again later).
    /// Without a session, <c>Tried</c> is the last address tried (for the attempt history), if any.
    /// </summary>
    private async ValueTask<(Session? Session, DeliveryFailure? Failure, RouteTarget? Tried)> ConnectAsync(string destination, CancellationToken cancellationToken)
    {
        if (_options.Hosts.Count == 0)
        {
            var mx = new Hop(destination, _options.TlsPolicy.ModeFor(destination) ?? _options.Tls, ImplicitTlsNoVerify: false, Lmtp: false, Credentials: null);
            var routes = await _resolver.ResolveDomainAsync(destination, cancellationToken).ConfigureAwait(false);
            return await TryRouteAsync(mx, routes, cancellationToken).ConfigureAwait(false);
        }

        DeliveryFailure? last = null;
        DeliveryFailure? lastTemporary = null;
        RouteTarget? lastTried = null;
        var now = _time.GetUtcNow();
        foreach (var host in _options.Hosts)
        {
            var route = host.ToString();
            if (PausedFailure(route, now) is { } paused)
            {
                lastTemporary ??= paused;
                continue;
            }

            if (host.CredentialsProblem is { } problem)
            {
                // OpenSMTPD's mta error: never sent without the AUTH it was configured with.
                lastTemporary = new DeliveryFailure(true, "4.7.0", $"Could not retrieve credentials for {route}: {problem}");
                continue;
            }

            var hop = new Hop(route, host.Tls, host.ImplicitTlsNoVerify, host.Lmtp, host.Credentials);
            var routes = await _resolver.ResolveHostAsync(host.Host, host.Port, cancellationToken).ConfigureAwait(false);
            var (session, failure, tried) = await TryRouteAsync(hop, routes, cancellationToken).ConfigureAwait(false);
            if (session is not null)
            {
                return (session, null, tried);
            }

            lastTried = tried ?? lastTried;

            last = failure;
            if (failure!.Temporary)
            {
                lastTemporary = failure;
            }
        }

        return (null, lastTemporary ?? last ?? new DeliveryFailure(true, "4.4.1", "Network error on destination MXs"), lastTried);
    }

    /// <summary>
    /// One route's addresses in order: a connect failure, a 4xx greeting or a failed setup moves
    /// to the next one; a 5xx greeting or a refused AUTH ends the route. A route that gives no
    /// session is penalized (OpenSMTPD's route penalty, REFERENCE.md §1.9).
    /// </summary>
    private async ValueTask<(Session? Session, DeliveryFailure? Failure, RouteTarget? Tried)> TryRouteAsync(Hop hop, RouteResolution routes, CancellationToken cancellationToken)
    {
        var last = routes.Failure;
        RouteTarget? tried = null;
        foreach (var target in routes.Targets)
        {
            tried = target;
            var (session, failure, next) = await TryTargetAsync(target, hop, allowTls: true, cancellationToken).ConfigureAwait(false);
            if (failure is { Status: "downgrade" })
            {
                // Opportunistic TLS failed in the handshake: OpenSMTPD reconnects in plaintext.
                (session, failure, next) = await TryTargetAsync(target, hop, allowTls: false, cancellationToken).ConfigureAwait(false);
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

        last ??= new DeliveryFailure(true, "4.4.1", "Network error on destination MXs");
        Penalize(hop.Route, last.Diagnostic);
        return (null, last, tried);
    }

    /// <summary>One address: connect, greeting, EHLO (HELO), STARTTLS per policy, AUTH.</summary>
    private async ValueTask<(Session? Session, DeliveryFailure? Failure, bool TryNext)> TryTargetAsync(RouteTarget target, Hop hop, bool allowTls, CancellationToken cancellationToken)
    {
        var lmtp = hop.Lmtp;
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
            if (hop.Tls == RelayTlsMode.Implicit)
            {
                await connection.UpgradeToTlsAsync(TlsOptions(target, verify: !hop.ImplicitTlsNoVerify), _options.ConnectTimeout, cancellationToken).ConfigureAwait(false);
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

            var wantTls = hop.Tls is RelayTlsMode.Opportunistic or RelayTlsMode.Required or RelayTlsMode.Verify && !lmtp;
            if (wantTls && allowTls && connection.Offers("STARTTLS"))
            {
                var starttls = await connection.CommandAsync("STARTTLS", _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
                if (starttls.Code != 220)
                {
                    if (hop.Tls != RelayTlsMode.Opportunistic)
                    {
                        return (null, FromReply(target, starttls, "STARTTLS"), true);
                    }
                }
                else
                {
                    try
                    {
                        await connection.UpgradeToTlsAsync(TlsOptions(target, verify: hop.Tls == RelayTlsMode.Verify), _options.ConnectTimeout, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is AuthenticationException or IOException && hop.Tls == RelayTlsMode.Opportunistic)
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

            if (connection.TlsProtocol is null && hop.Tls is RelayTlsMode.Required or RelayTlsMode.Verify)
            {
                return (null, new DeliveryFailure(true, "4.7.0", $"TLS required but not supported by remote host {target}"), true);
            }

            if (hop.Credentials is { } credentials)
            {
                var auth = await AuthenticateAsync(connection, target, credentials, cancellationToken).ConfigureAwait(false);
                if (auth is not null)
                {
                    return (null, auth, false);
                }
            }

            RelayLog.Connected(_logger, target.ToString(), hop.Route, connection.TlsProtocol ?? "none");
            keep = true;
            return (new Session(connection, target, lmtp, hop.Route), null, false);
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

    /// <summary>
    /// The handshake's options. Verified: the chain must end at a trusted root (relay.caFile's
    /// certificates only when set, else the system store) and the certificate must name the
    /// host we meant to reach (the MX or smarthost name; an address literal's address).
    /// </summary>
    private SslClientAuthenticationOptions TlsOptions(RouteTarget target, bool verify)
    {
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = target.HostName.StartsWith('[') ? target.Address.ToString() : target.HostName,
            EnabledSslProtocols = SslProtocols.None,
            RemoteCertificateValidationCallback = verify ? null : (_, _, _, _) => true,
        };
        if (verify && _options.TrustAnchors is { Count: > 0 } anchors)
        {
            var policy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,

                // As without caFile (SslStream's default): no CRL or OCSP fetches on the way.
                RevocationMode = X509RevocationMode.NoCheck,
            };
            foreach (var certificate in anchors)
            {
                // Self-signed ones are the roots; intermediates only help build the chain.
                (certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData) ? policy.CustomTrustStore : policy.ExtraStore).Add(certificate);
            }

            options.CertificateChainPolicy = policy;
        }

        return options;
    }

    /// <summary>How to speak to one route: a smarthost's settings, or the MX policy for the domain.</summary>
    /// <param name="Route">The penalty key and log name: the recipient domain, or the smarthost.</param>
    private sealed record Hop(string Route, RelayTlsMode Tls, bool ImplicitTlsNoVerify, bool Lmtp, System.Net.NetworkCredential? Credentials);

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
