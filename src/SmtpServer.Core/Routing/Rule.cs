using SmtpServer.Protocol;

namespace SmtpServer.Core.Routing;

/// <summary>
/// One entry of <c>rules:</c>: when <see cref="From"/> and <see cref="For"/> both match, the
/// recipient goes to <see cref="Action"/>, or is rejected when the rule is a reject rule.
/// </summary>
internal sealed class Rule
{
    private readonly RouteDecision? _decision;

    private Rule(IRuleCondition from, IRuleCondition @for, string? action, SmtpReply? reply)
    {
        From = from;
        For = @for;
        Action = action;
        RejectReply = reply;
        _decision = action is null ? null : RouteDecision.Deliver(action);
    }

    public IRuleCondition From { get; }

    public IRuleCondition For { get; }

    /// <summary>The action's name, or null for a reject rule.</summary>
    public string? Action { get; }

    /// <summary>A reject rule's own reply; null means the standard 550 5.7.1.</summary>
    public SmtpReply? RejectReply { get; }

    public bool IsReject => Action is null;

    public static Rule Deliver(IRuleCondition from, IRuleCondition @for, string action)
    {
        ArgumentException.ThrowIfNullOrEmpty(action);
        return new Rule(from, @for, action, null);
    }

    public static Rule Reject(IRuleCondition from, IRuleCondition @for, SmtpReply? reply = null) => new(from, @for, null, reply);

    /// <summary>The decision for a matching request (cached for delivering rules).</summary>
    internal RouteDecision Decide(RoutingRequest request)
        => _decision ?? RouteDecision.Rejected(RejectReply ?? RuleRouter.InvalidRecipient(request.Recipient));

    public override string ToString() => $"from {From} for {For} {(IsReject ? "reject" : "action " + Action)}";
}
