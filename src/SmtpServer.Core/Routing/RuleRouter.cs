using SmtpServer.Protocol;

namespace SmtpServer.Core.Routing;

/// <summary>
/// The ordered <c>rules:</c>: the first rule whose <c>from</c> and <c>for</c> both match decides;
/// no match rejects the recipient, as OpenSMTPD's <c>ruleset_match()</c> does. Conditions are
/// checked from before for (OpenSMTPD's order) and <c>for</c> only when <c>from</c> matched.
/// </summary>
internal sealed class RuleRouter : IRouter
{
    public RuleRouter(IEnumerable<Rule> rules)
    {
        Rules = [.. rules];
    }

    public IReadOnlyList<Rule> Rules { get; }

    /// <summary><c>550 5.7.1 Invalid recipient: &lt;user@domain&gt;</c> (REFERENCE.md §2).</summary>
    public static SmtpReply InvalidRecipient(Mailbox recipient) => new(550, "5.7.1", $"Invalid recipient: <{recipient.Address}>");

    public ValueTask<RouteDecision> RouteAsync(RoutingRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);

        // Fast path: every condition so far answered synchronously (static lists, any, local).
        for (var i = 0; i < Rules.Count; i++)
        {
            var rule = Rules[i];
            var from = rule.From.MatchesAsync(request, cancellationToken);
            if (!from.IsCompletedSuccessfully)
            {
                return RouteSlowAsync(request, i, from, cancellationToken);
            }

            if (!from.Result)
            {
                continue;
            }

            var @for = rule.For.MatchesAsync(request, cancellationToken);
            if (!@for.IsCompletedSuccessfully)
            {
                return RouteSlowAsync(request, i, @for, cancellationToken, fromMatched: true);
            }

            if (@for.Result)
            {
                return new(rule.Decide(request));
            }
        }

        return new(RouteDecision.Rejected(InvalidRecipient(request.Recipient)));
    }

    private async ValueTask<RouteDecision> RouteSlowAsync(
        RoutingRequest request, int index, ValueTask<bool> pending, CancellationToken cancellationToken, bool fromMatched = false)
    {
        var matched = await pending.ConfigureAwait(false);
        if (matched && !fromMatched)
        {
            matched = await Rules[index].For.MatchesAsync(request, cancellationToken).ConfigureAwait(false);
        }

        if (matched)
        {
            return Rules[index].Decide(request);
        }

        for (var i = index + 1; i < Rules.Count; i++)
        {
            var rule = Rules[i];
            if (await rule.From.MatchesAsync(request, cancellationToken).ConfigureAwait(false)
                && await rule.For.MatchesAsync(request, cancellationToken).ConfigureAwait(false))
            {
                return rule.Decide(request);
            }
        }

        return RouteDecision.Rejected(InvalidRecipient(request.Recipient));
    }

    /// <summary>The decision, and for every rule tried why it did or did not match (<c>smtpd --explain-route</c>).</summary>
    public async ValueTask<(RouteDecision Decision, IReadOnlyList<string> Trace)> ExplainAsync(RoutingRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var trace = new List<string>();
        for (var i = 0; i < Rules.Count; i++)
        {
            var rule = Rules[i];
            var number = (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (!await rule.From.MatchesAsync(request, cancellationToken).ConfigureAwait(false))
            {
                trace.Add($"rule {number} ({rule}): from {rule.From}: no match");
                continue;
            }

            if (!await rule.For.MatchesAsync(request, cancellationToken).ConfigureAwait(false))
            {
                trace.Add($"rule {number} ({rule}): from {rule.From} matched; for {rule.For}: no match");
                continue;
            }

            trace.Add($"rule {number} ({rule}): MATCHED (from {rule.From}, for {rule.For})");
            return (rule.Decide(request), trace);
        }

        trace.Add("no rule matched");
        return (RouteDecision.Rejected(InvalidRecipient(request.Recipient)), trace);
    }
}
