using System.Net;
using SmtpServer.Configuration;
using SmtpServer.Core.Routing;
using SmtpServer.Protocol;

namespace SmtpServer;

/// <summary>
/// <c>smtpd --explain-route</c>: which rule matches a recipient and why, the action, and the
/// recipients aliases and virtual tables expand it to, without sending any mail.
/// </summary>
internal static class RouteExplainer
{
    /// <param name="clientHostName">--rdns: the client's (forward-confirmed) reverse DNS name, as a session would have found it; no lookup is made.</param>
    public static async Task<int> ExplainAsync(
        ServerSettings settings, string? from, string to, string? source, string? auth, string? helo, bool tls, TextWriter output,
        IReadOnlyList<string>? clientCertificateNames = null, string? clientHostName = null)
    {
        IPAddress? client = null;
        if (source is not null && !source.Equals("local", StringComparison.OrdinalIgnoreCase) && !IPAddress.TryParse(source, out client))
        {
            await output.WriteLineAsync($"--src: '{source}' is not an IP address").ConfigureAwait(false);
            return 2;
        }

        var request = new RoutingRequest
        {
            ClientAddress = client,
            Listener = settings.Listeners.Count > 0 ? settings.Listeners[0].Name : "explain",
            Helo = helo ?? "explain",
            Sender = from is null or "" or "<>" ? null : ToMailbox(from),
            Recipient = ToMailbox(to),
            Tls = tls,
            AuthenticatedUser = auth,
            ClientHostName = clientHostName?.TrimEnd('.'),
            ClientCertificateNames = clientCertificateNames ?? [],
        };
        await output.WriteLineAsync($"from <{request.Sender?.Address}> to <{request.Recipient.Address}> src {client?.ToString() ?? "local"}"
            + (request.ClientHostName is null ? string.Empty : $" rdns {request.ClientHostName}")
            + (auth is null ? string.Empty : $" auth {auth}") + (tls ? " tls" : string.Empty)
            + (request.ClientCertificateNames.Count == 0 ? string.Empty : $" client-cert {string.Join(",", request.ClientCertificateNames)}")).ConfigureAwait(false);

        try
        {
            if (settings.Router is RuleRouter rules)
            {
                var (decision, trace) = await rules.ExplainAsync(request, CancellationToken.None).ConfigureAwait(false);
                foreach (var line in trace)
                {
                    await output.WriteLineAsync("  " + line).ConfigureAwait(false);
                }

                await output.WriteLineAsync(decision.Accepted ? $"action: {decision.Action}" : $"rejected: {decision.Reject}").ConfigureAwait(false);
            }

            if (settings.Expander is { } expander)
            {
                var expansion = await expander.ExpandAsync(request, CancellationToken.None).ConfigureAwait(false);
                await output.WriteLineAsync("expansion:").ConfigureAwait(false);
                foreach (var line in expansion.Trace)
                {
                    await output.WriteLineAsync("  " + line).ConfigureAwait(false);
                }

                if (!expansion.Accepted)
                {
                    await output.WriteLineAsync($"RCPT reply: {expansion.Reject}").ConfigureAwait(false);
                    return 1;
                }

                await output.WriteLineAsync("recipients:").ConfigureAwait(false);
                foreach (var (recipient, action, target) in expansion.Recipients)
                {
                    await output.WriteLineAsync($"  <{recipient.Address}> action {action}" + (target is null ? string.Empty : $" {target.Kind.ToString().ToLowerInvariant()} {target}")).ConfigureAwait(false);
                }
            }

            return 0;
        }
        catch (TableUnavailableException e)
        {
            await output.WriteLineAsync($"RCPT reply: 451 4.3.0 Temporary failure ({e.Message})").ConfigureAwait(false);
            return 1;
        }
    }

    private static Mailbox ToMailbox(string address)
    {
        address = address.Trim().TrimStart('<').TrimEnd('>');
        var at = address.LastIndexOf('@');
        return at < 0 ? new Mailbox(address, string.Empty) : new Mailbox(address[..at], address[(at + 1)..]);
    }
}
