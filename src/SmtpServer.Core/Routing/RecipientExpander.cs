using System.Globalization;
using System.Text.RegularExpressions;
using SmtpServer.Protocol;

namespace SmtpServer.Core.Routing;

/// <summary>What a local action adds to routing: its <c>aliases</c>, <c>virtual</c> and <c>users</c> tables.</summary>
internal sealed record ActionExpansion
{
    /// <summary>aliases(5): local part → users, addresses, <c>error:</c> replies.</summary>
    public ILookupTable? Aliases { get; init; }

    /// <summary>Virtual users: <c>user@domain</c>, then <c>user</c>, then <c>@domain</c>, then <c>@</c>.</summary>
    public ILookupTable? Virtual { get; init; }

    /// <summary>The local users that exist (a list, map or credentials table): others are refused at RCPT.</summary>
    public ILookupTable? Users { get; init; }

    public bool Expands => Aliases is not null || Virtual is not null || Users is not null;
}

/// <summary>One address an RCPT became, and the action that delivers it.</summary>
internal sealed record ExpandedRecipient(Mailbox Recipient, string Action);

/// <summary>The recipients an RCPT expands to, or the reply that refuses it; plus how it got there.</summary>
internal sealed record ExpansionResult(IReadOnlyList<ExpandedRecipient> Recipients, SmtpReply? Reject, IReadOnlyList<string> Trace)
{
    public bool Accepted => Reject is null;
}

/// <summary>
/// Routes a recipient through the rules and expands it through the chosen action's aliases or
/// virtual table (OpenSMTPD's <c>lka_expand</c>): recursive, de-duplicated, at most
/// <see cref="MaxDepth"/> levels (524 5.2.4). Every address an alias produces goes through the
/// rules again as <c>from local</c>, so an alias may point to a remote address and be relayed.
/// A recipient of an action with aliases, virtual or users that none of them knows is refused
/// (550 5.1.1), here at RCPT time, so the server never bounces to a forged sender.
/// </summary>
internal sealed partial class RecipientExpander(IRouter router, IReadOnlyDictionary<string, ActionExpansion> actions, char delimiter = '+')
{
    /// <summary>OpenSMTPD's EXPAND_DEPTH.</summary>
    public const int MaxDepth = 10;

    /// <summary>Bounds what one RCPT may become (a huge list alias is a denial of service).</summary>
    public const int MaxRecipients = 1000;

    public IRouter Router { get; } = router;

    public char Delimiter { get; } = delimiter;

    public static SmtpReply UnknownUser(Mailbox recipient) => new(550, "5.1.1", $"Invalid recipient: <{recipient.Address}>: user unknown");

    public static readonly SmtpReply ExpansionProblem = new(524, "5.2.4", "Mailing list expansion problem");

    public async ValueTask<ExpansionResult> ExpandAsync(RoutingRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var state = new State(request);
        var reply = await VisitAsync(state, request.Recipient, 0, null, cancellationToken).ConfigureAwait(false);
        if (reply is null && state.Results.Count == 0)
        {
            state.Trace.Add("expansion produced no recipient");
            reply = ExpansionProblem;
        }

        return reply is null
            ? new ExpansionResult(state.Results, null, state.Trace)
            : new ExpansionResult([], reply, state.Trace);
    }

    private async ValueTask<SmtpReply?> VisitAsync(State state, Mailbox address, int depth, string? localAction, CancellationToken cancellationToken)
    {
        var indent = new string(' ', depth * 2);
        if (depth >= MaxDepth)
        {
            state.Trace.Add($"{indent}{address.Address}: expansion deeper than {MaxDepth}");
            return ExpansionProblem;
        }

        var action = localAction;
        if (action is null)
        {
            // Addresses produced by expansion match as "from local" (REFERENCE.md §1.6); the session's
            // own facts (auth user, TLS, verified client certificate names) carry over.
            var routed = depth == 0 ? state.Request with { Recipient = address } : state.Request with { Recipient = address, ClientAddress = null, ClientHostName = null };
            var decision = await Router.RouteAsync(routed, cancellationToken).ConfigureAwait(false);
            if (!decision.Accepted)
            {
                state.Trace.Add($"{indent}{address.Address}: rejected by the rules ({decision.Reject})");
                return decision.Reject;
            }

            action = decision.Action!;
        }

        if (!actions.TryGetValue(action, out var expansion) || !expansion.Expands)
        {
            return Add(state, address, action, indent);
        }

        var (user, _) = TableContents.Split(address.Address, out _);
        var stripped = StripTag(user);
        TableEntry? entry = null;
        var isVirtual = expansion.Virtual is not null;
        if (expansion.Virtual is { } virtualTable)
        {
            foreach (var key in VirtualKeys(user, stripped, address.Domain))
            {
                entry = await virtualTable.LookupAsync(key, cancellationToken).ConfigureAwait(false);
                if (entry is not null)
                {
                    break;
                }
            }
        }
        else if (expansion.Aliases is { } aliases)
        {
            entry = await aliases.LookupAsync(user.ToLowerInvariant(), cancellationToken).ConfigureAwait(false)
                ?? (stripped.Length != user.Length ? await aliases.LookupAsync(stripped.ToLowerInvariant(), cancellationToken).ConfigureAwait(false) : null);
        }

        if (entry is null)
        {
            // A user an alias named is a local user; so is one the users table lists.
            if (localAction is not null)
            {
                return Add(state, address, action, indent);
            }

            if (expansion.Users is { } users && await users.MatchMailAddressAsync(address.Address, cancellationToken).ConfigureAwait(false))
            {
                state.Trace.Add($"{indent}{address.Address}: local user in {users}");
                return Add(state, address, action, indent);
            }

            state.Trace.Add($"{indent}{address.Address}: unknown to action '{action}' ({expansion.Virtual ?? expansion.Aliases ?? expansion.Users})");
            return UnknownUser(state.Request.Recipient);
        }

        var visitKey = $"{action}\n{entry.Key.ToLowerInvariant()}";
        if (!state.Visited.Add(visitKey))
        {
            // "bob: bob, bob@elsewhere": the user itself, not a loop.
            return localAction is not null ? Add(state, address, action, indent) : null;
        }

        state.Trace.Add($"{indent}{address.Address}: {(isVirtual ? "virtual" : "alias")} '{entry.Key}' → {string.Join(", ", entry.Values)}");
        // A map entry holds one "a, b" value; an aliases entry is already split.
        foreach (var value in entry.Values.SelectMany(v => v.StartsWith("error:", StringComparison.OrdinalIgnoreCase)
            ? [v]
            : v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (value.StartsWith("error:", StringComparison.OrdinalIgnoreCase))
            {
                return ErrorReply(value, state, indent);
            }

            if (value[0] is '|' or '/' || value.StartsWith(":include:", StringComparison.OrdinalIgnoreCase))
            {
                // Commands, files and includes would run with the server's rights: not from a table.
                state.Trace.Add($"{indent}  {value}: commands, files and :include: are not allowed; skipped");
                continue;
            }

            SmtpReply? reply;
            if (value.Contains('@', StringComparison.Ordinal))
            {
                var at = value.LastIndexOf('@');
                reply = await VisitAsync(state, new Mailbox(value[..at], value[(at + 1)..]), depth + 1, null, cancellationToken).ConfigureAwait(false);
            }
            else if (isVirtual)
            {
                // A virtual user's value without a domain is a local user (the mailbox owner).
                reply = Add(state, new Mailbox(value, address.Domain), action, indent + "  ");
            }
            else
            {
                reply = await VisitAsync(state, new Mailbox(value, address.Domain), depth + 1, action, cancellationToken).ConfigureAwait(false);
            }

            if (reply is not null)
            {
                return reply;
            }
        }

        return null;
    }

    private static SmtpReply? Add(State state, Mailbox address, string action, string indent)
    {
        if (!state.Seen.Add($"{action}\n{address.Address.ToLowerInvariant()}"))
        {
            return null;
        }

        if (state.Results.Count >= MaxRecipients)
        {
            state.Trace.Add($"{indent}more than {MaxRecipients} recipients");
            return ExpansionProblem;
        }

        state.Trace.Add($"{indent}{address.Address}: action '{action}'");
        state.Results.Add(new ExpandedRecipient(address, action));
        return null;
    }

    private static SmtpReply ErrorReply(string value, State state, string indent)
    {
        var match = ErrorPattern().Match(value);
        if (!match.Success)
        {
            state.Trace.Add($"{indent}  '{value}' is not 'error:4xx|5xx text'");
            return new SmtpReply(451, "4.3.0", "Temporary failure");
        }

        var code = int.Parse(match.Groups["code"].Value, CultureInfo.InvariantCulture);
        var status = match.Groups["status"].Success && match.Groups["status"].Value[0] == match.Groups["code"].Value[0]
            ? match.Groups["status"].Value
            : $"{match.Groups["code"].Value[0]}.0.0";
        var text = match.Groups["text"].Value.Trim();
        state.Trace.Add($"{indent}  {value}");
        return new SmtpReply(code, status, text.Length == 0 ? "Delivery refused" : text);
    }

    private string StripTag(string user)
    {
        var at = user.IndexOf(Delimiter, StringComparison.Ordinal);
        return at > 0 ? user[..at] : user;
    }

    private static IEnumerable<string> VirtualKeys(string user, string stripped, string domain)
    {
        var normalized = domain.StartsWith('[') ? domain : DomainName.Normalize(domain) ?? domain;
        if (normalized.Length > 0)
        {
            yield return $"{user}@{normalized}";
            if (stripped.Length != user.Length)
            {
                yield return $"{stripped}@{normalized}";
            }
        }

        yield return user;
        if (stripped.Length != user.Length)
        {
            yield return stripped;
        }

        if (normalized.Length > 0)
        {
            yield return "@" + normalized;
        }

        yield return "@";
    }

    [GeneratedRegex(@"^error:\s*(?<code>[45][0-9][0-9])(?:[ -](?<status>[45]\.[0-9]{1,3}\.[0-9]{1,3}))?(?<text>[\x20-\x7E]*)$", RegexOptions.IgnoreCase)]
    private static partial Regex ErrorPattern();

    private sealed class State(RoutingRequest request)
    {
        public RoutingRequest Request { get; } = request;

        public List<ExpandedRecipient> Results { get; } = [];

        public HashSet<string> Seen { get; } = new(StringComparer.Ordinal);

        public HashSet<string> Visited { get; } = new(StringComparer.Ordinal);

        public List<string> Trace { get; } = [];
    }
}
