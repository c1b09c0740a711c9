using System.Net;
using SmtpServer.Core.Dns;

namespace SmtpServer.Smtp;

internal sealed partial class SmtpSession
{
    private Task<ReverseDnsResult>? _clientLookup;

    /// <summary>Ends a lookup still running when the session does (cancelled at its end, disposed with it).</summary>
    private readonly CancellationTokenSource _lookupCancellation = new();

    /// <summary>
    /// dns.reverseLookup: starts the client's forward-confirmed reverse lookup at connect without
    /// waiting for it, so the banner goes out at once (OpenSMTPD waits for it before the banner);
    /// what needs the name (RCPT's rules, the Received header) waits for it then, bounded by
    /// dns.reverseLookupTimeout. The session's configuration snapshot decides.
    /// </summary>
    private void StartReverseLookup()
    {
        if (_settings.ReverseLookup && _services.Dns is { } dns && ClientAddress is { } address)
        {
            _clientLookup = LookUpClientAsync(dns, address, _lookupCancellation.Token);
        }
    }

    private async Task<ReverseDnsResult> LookUpClientAsync(IDnsResolver dns, IPAddress address, CancellationToken sessionEnded)
    {
        ReverseDnsResult result;
        try
        {
            using var either = CancellationTokenSource.CreateLinkedTokenSource(sessionEnded, _connection.ConnectionClosed);
            result = await ReverseDns.LookupAsync(dns, address, _settings.ReverseLookupTimeout, _services.Time, either.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The session ended first.
            return ReverseDnsResult.NoName;
        }
        catch (Exception ex)
        {
            // A resolver bug must not cost the session: the client simply has no name.
            SessionLog.ReverseDnsFailed(_logger, Id, address, ex);
            return new ReverseDnsResult(ReverseDnsStatus.TemporaryFailure, Error: ex.GetType().Name);
        }

        SessionLog.ReverseDns(_logger, Id, address, result.Name ?? "<unknown>", result.Status, result.Unconfirmed ?? result.Error ?? "-");
        return result;
    }

    /// <summary>The client's confirmed name once its lookup is done; null without one (the Received header says "unknown").</summary>
    private async ValueTask<string?> ClientHostNameAsync() => (await ClientLookupAsync().ConfigureAwait(false))?.Name;

    /// <summary>
    /// The whole result, for the rules: a lookup that failed for now (SERVFAIL, the time bound)
    /// makes an rdns condition answer 451 rather than guess (see RdnsCondition).
    /// </summary>
    private async ValueTask<ReverseDnsResult?> ClientLookupAsync() => _clientLookup is null ? null : await _clientLookup.ConfigureAwait(false);

    private static bool Failed(ReverseDnsResult? result) => result?.Status is ReverseDnsStatus.TemporaryFailure or ReverseDnsStatus.TimedOut;
}
