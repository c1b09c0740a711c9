using SmtpServer.Core.Queue;
using SmtpServer.Protocol;

namespace SmtpServer.Core.Routing;

/// <summary>What a local action adds to routing: its <c>aliases</c>, <c>virtual</c> and <c>users</c> tables.</summary>
internal sealed record ActionExpansion
{
    /// <summary>aliases(5): local part → users, addresses, files, commands, <c>error:</c> replies.</summary>
    public ILookupTable? Aliases { get; init; }

    /// <summary>Virtual users: <c>user@domain</c>, then <c>user</c>, then <c>@domain</c>, then <c>@</c>.</summary>
    public ILookupTable? Virtual { get; init; }

    /// <summary>The local users that exist (a list, map or credentials table): others are refused at RCPT.</summary>
    public ILookupTable? Users { get; init; }

    /// <summary><c>aliasTargets</c>: whether <c>/file</c> and <c>|command</c> values may be used (none by default).</summary>
    public AliasTargetPermissions Permissions { get; init; }

    public bool Expands => Aliases is not null || Virtual is not null || Users is not null;
}

/// <summary>
/// One address an RCPT became and the action that delivers it; with <paramref name="Target"/>
/// an alias's file or command, delivered by that action on behalf of <paramref name="Recipient"/>
/// (the address whose alias named it).
/// </summary>
internal sealed record ExpandedRecipient(Mailbox Recipient, string Action, DeliveryTarget? Target = null);

/// <summary>
/// The recipients an RCPT expands to, or the reply that refuses it; plus how it got there.
/// <paramref name="Problem"/> says what in the configuration refused it (a file or command the
/// action does not allow, a malformed value), for the operator's log.
/// </summary>
internal sealed record ExpansionResult(IReadOnlyList<ExpandedRecipient> Recipients, SmtpReply? Reject, IReadOnlyList<string> Trace, string? Problem = null)
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
/// A <c>/file</c> or <c>|command</c> value is used only when the action's <c>aliasTargets</c>
/// allows it (OpenSMTPD: "<c>|command</c> only where the action allows it"); otherwise the RCPT
/// is refused (550 5.7.1), never half-delivered to the other values.
/// </summary>
internal sealed class RecipientExpander(IRouter router, IReadOnlyDictionary<string, ActionExpansion> actions, char delimiter = '+')
{
    /// <summary>OpenSMTPD's EXPAND_DEPTH.</summary>
    public const int MaxDepth = 10;

    /// <summary>Bounds what one RCPT may become (a huge list alias is a denial of service).</summary>
    public const int MaxRecipients = 1000;

    /// <summary>The largest <c>:include:</c> file read.</summary>
    public const int MaxIncludeSize = 64 * 1024;

    public IRouter Router { get; } = router;

    public char Delimiter { get; } = delimiter;

    public static SmtpReply UnknownUser(Mailbox recipient) => new(550, "5.1.1", $"Invalid recipient: <{recipient.Address}>: user unknown");

    public static readonly SmtpReply ExpansionProblem = new(524, "5.2.4", "Mailing list expansion problem");

    /// <summary>A value the server cannot use as written (the table is broken): the sender may retry after it is fixed.</summary>
    public static readonly SmtpReply BrokenAlias = new(451, "4.3.0", "Temporary failure");

    /// <summary>RFC 3463 X.7.1: delivery not authorized; the action's policy forbids this kind of target.</summary>
    public static SmtpReply TargetNotAllowed(Mailbox recipient, DeliveryTargetKind kind) =>
        new(550, "5.7.1", $"Invalid recipient: <{recipient.Address}>: delivery to a {(kind == DeliveryTargetKind.File ? "file" : "command")} is not allowed");

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
            : new ExpansionResult([], reply, state.Trace, state.Problem);
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
            var routed = depth == 0 ? state.Request with { Recipient = address } : state.Request with { Recipient = address, ClientAddress = null, ClientHostName = null, ReverseLookupFailed = false };
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
        return await VisitTargetsAsync(state, AliasTarget.ParseAll(entry), new Origin(address, action, expansion, entry.Key, isVirtual), depth, indent, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Where the values being expanded come from: the address, its action, and the entry (or include file) that holds them.</summary>
    private sealed record Origin(Mailbox Address, string Action, ActionExpansion Expansion, string Key, bool IsVirtual);

    private async ValueTask<SmtpReply?> VisitTargetsAsync(State state, IEnumerable<AliasTarget> targets, Origin origin, int depth, string indent, CancellationToken cancellationToken)
    {
        var (address, action, expansion, key, isVirtual) = origin;
        foreach (var target in targets)
        {
            SmtpReply? reply;
            switch (target)
            {
                case ErrorTarget { Reply: { } errorReply } error:
                    state.Trace.Add($"{indent}  {error.Text}");
                    return errorReply;
                case ErrorTarget error:
                    state.Trace.Add($"{indent}  '{error.Text}' is not 'error:4xx|5xx text'");
                    state.Problem = $"alias '{key}': '{error.Text}' is not 'error:4xx|5xx text'";
                    return BrokenAlias;
                case InvalidTarget invalid:
                    state.Trace.Add($"{indent}  {invalid.Text}: {invalid.Problem}");
                    state.Problem = $"alias '{key}': '{invalid.Text}': {invalid.Problem}";
                    return BrokenAlias;
                case IncludeTarget include:
                    reply = await IncludeAsync(state, include.Path, origin, depth, indent + "  ", cancellationToken).ConfigureAwait(false);
                    break;
                case FileTarget { Target: var file }:
                    reply = AddTarget(state, address, action, expansion.Permissions, key, file, indent + "  ");
                    break;
                case CommandTarget { Target: var command }:
                    reply = AddTarget(state, address, action, expansion.Permissions, key, command, indent + "  ");
                    break;
                case AddressTarget remote:
                    reply = await VisitAsync(state, remote.Address, depth + 1, null, cancellationToken).ConfigureAwait(false);
                    break;
                case LocalUserTarget local:
                    var localUser = new Mailbox(local.User, address.Domain);

                    // A virtual user's value without a domain is a local user (the mailbox owner).
                    reply = isVirtual
                        ? Add(state, localUser, action, indent + "  ")
                        : await VisitAsync(state, localUser, depth + 1, action, cancellationToken).ConfigureAwait(false);
                    break;
                default:
                    throw new System.Diagnostics.UnreachableException($"alias target {target.GetType().Name}");
            }

            if (reply is not null)
            {
                return reply;
            }
        }

        return null;
    }

    /// <summary>
    /// <c>:include:/path</c> (aliases(5)): more values from that file, one per line or
    /// comma-separated, '#' comments, read now so an edit counts at the next RCPT. They are an
    /// alias value's values (a <c>/file</c> or <c>|command</c> only where the action allows it);
    /// the include is a level of the depth limit, and an include loop ends as an alias loop does
    /// (524 5.2.4 when nothing else was found). A relative path, a file that cannot be read or one over
    /// <see cref="MaxIncludeSize"/> is a broken table: 451 4.3.0, never an answer without the file.
    /// A file is read once per expansion (per action and domain, which its values depend on), as
    /// an alias entry is visited once: files that include each other several times would
    /// otherwise be read exponentially often.
    /// </summary>
    private async ValueTask<SmtpReply?> IncludeAsync(State state, string path, Origin origin, int depth, string indent, CancellationToken cancellationToken)
    {
        if (depth + 1 >= MaxDepth)
        {
            state.Trace.Add($"{indent}:include:{path}: expansion deeper than {MaxDepth}");
            return ExpansionProblem;
        }

        if (!state.Visited.Add($"{origin.Action}\n{origin.Address.Domain.ToLowerInvariant()}\n:include:{path}"))
        {
            // Its values are in the expansion already (or being expanded, for a loop).
            return null;
        }

        string text;
        try
        {
            text = DeliveryTarget.IsAbsolutePath(path)
                ? await ReadIncludeAsync(path, cancellationToken).ConfigureAwait(false)
                : throw new InvalidDataException("not a normalized absolute path");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            state.Trace.Add($"{indent}:include:{path}: {e.Message}");
            state.Problem = $"alias '{origin.Key}': :include:{path}: {e.Message}";
            return BrokenAlias;
        }

        var values = text.Split('\n')
            .Select(line => line.Trim())
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .SelectMany(line => TableFileParser.SplitValues(line, expanding: true))
            .ToList();
        state.Trace.Add($"{indent}:include:{path} → {string.Join(", ", values)}");
        var included = origin with { Key = $"{origin.Key}' :include:'{path}" };
        return await VisitTargetsAsync(state, values.Select(AliasTarget.Parse), included, depth + 1, indent, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<string> ReadIncludeAsync(string path, CancellationToken cancellationToken)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 4096, FileOptions.Asynchronous);
        await using (stream.ConfigureAwait(false))
        {
            // One byte over the bound says it is too large, without reading the rest.
            var buffer = new byte[MaxIncludeSize + 1];
            var length = 0;
            int read;
            while (length < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false)) > 0)
            {
                length += read;
            }

            return length > MaxIncludeSize
                ? throw new InvalidDataException($"larger than {MaxIncludeSize / 1024} KiB")
                : System.Text.Encoding.UTF8.GetString(buffer, 0, length);
        }
    }

    /// <summary>
    /// A file or command, delivered by <paramref name="action"/> for <paramref name="address"/> if
    /// the action allows that kind. The same file or command reached twice is one delivery.
    /// </summary>
    private static SmtpReply? AddTarget(State state, Mailbox address, string action, AliasTargetPermissions permissions, string key, DeliveryTarget target, string indent)
    {
        var needed = target.Kind == DeliveryTargetKind.File ? AliasTargetPermissions.Files : AliasTargetPermissions.Commands;
        if (!permissions.HasFlag(needed))
        {
            var kind = target.Kind == DeliveryTargetKind.File ? "files" : "commands";
            state.Trace.Add($"{indent}{target}: action '{action}' does not allow {kind} (aliasTargets.{kind}: true)");
            state.Problem = $"alias '{key}' → {target}: action '{action}' does not allow {kind}";
            return TargetNotAllowed(state.Request.Recipient, target.Kind);
        }

        return Add(state, address, action, indent, target);
    }

    /// <summary>One result, unless the same address of the same action, or the same file or command, is there already.</summary>
    private static SmtpReply? Add(State state, Mailbox address, string action, string indent, DeliveryTarget? target = null)
    {
        var key = target is null ? $"{action}\n{address.Address.ToLowerInvariant()}" : $"\0{target.Kind}\0{target}";
        if (!state.Seen.Add(key))
        {
            return null;
        }

        if (state.Results.Count >= MaxRecipients)
        {
            state.Trace.Add($"{indent}more than {MaxRecipients} recipients");
            return ExpansionProblem;
        }

        state.Trace.Add(target is null ? $"{indent}{address.Address}: action '{action}'" : $"{indent}{target}: action '{action}' for {address.Address}");
        state.Results.Add(new ExpandedRecipient(address, action, target));
        return null;
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

    private sealed class State(RoutingRequest request)
    {
        public RoutingRequest Request { get; } = request;

        public List<ExpandedRecipient> Results { get; } = [];

        public HashSet<string> Seen { get; } = new(StringComparer.Ordinal);

        public HashSet<string> Visited { get; } = new(StringComparer.Ordinal);

        public List<string> Trace { get; } = [];

        public string? Problem { get; set; }
    }
}
