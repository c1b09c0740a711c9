namespace SmtpServer.Core.Routing;

/// <summary>
/// One side of a rule (<c>from</c> or <c>for</c>, and later the transaction-level options such
/// as <c>helo</c>, <c>tls</c>, <c>mailFrom</c>). Conditions are immutable and shared by every
/// session; most complete synchronously, table-backed ones may go to disk or a socket, hence
/// <see cref="ValueTask{TResult}"/>.
/// </summary>
internal interface IRuleCondition
{
    ValueTask<bool> MatchesAsync(RoutingRequest request, CancellationToken cancellationToken);
}
