using Microsoft.Extensions.Logging;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;
using SmtpServer.Core.Routing;

namespace SmtpServer.Delivery;

/// <summary>
/// An action's agent, plus the aliases(5) <c>/file</c> and <c>|command</c> targets its alias
/// expansion chose (<see cref="EnvelopeRecord.Target"/>): those envelopes are appended to the
/// file by <see cref="MboxWriter"/> or piped to the program by <see cref="CommandRunner"/>; every
/// other envelope goes to the action's own agent. The action's current <c>aliasTargets</c>
/// (after a reload, the new one) is checked again here, so an envelope queued before the
/// operator withdrew the permission is not run: it fails temporarily and stays queued until the
/// permission is back or it expires.
/// </summary>
internal sealed class AliasTargetAgent : IDeliveryAgent, IAsyncDisposable
{
    private readonly IDeliveryAgent _inner;
    private readonly Func<AliasTargetPermissions> _permissions;
    private readonly MboxWriter _files;
    private readonly CommandRunner _commands;
    private readonly TimeSpan _commandTimeout;
    private readonly ILogger _logger;

    /// <param name="inner">The action's own agent.</param>
    /// <param name="permissions">The action's <c>aliasTargets</c> as configured now.</param>
    /// <param name="timeProvider">For the mbox lock waits.</param>
    /// <param name="logger">Where deliveries and failures are logged.</param>
    /// <param name="commandTimeout">After this a command is killed and retried (default 5 min).</param>
    public AliasTargetAgent(IDeliveryAgent inner, Func<AliasTargetPermissions> permissions, TimeProvider timeProvider, ILogger<AliasTargetAgent> logger, TimeSpan? commandTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(permissions);
        _inner = inner;
        _permissions = permissions;
        _logger = logger;
        _files = new MboxWriter(inner.Action, MboxWriter.DefaultLockTimeout, MboxWriter.DefaultStaleLockAge, timeProvider, logger);
        _commands = new CommandRunner(inner.Action, logger);
        _commandTimeout = commandTimeout ?? CommandRunner.DefaultTimeout;
    }

    /// <summary>The action's own agent, for everything that is not a file or command target.</summary>
    public IDeliveryAgent Inner => _inner;

    public string Action => _inner.Action;

    public bool IsLocal => _inner.IsLocal;

    /// <summary>A target is its own destination: one file or program per delivery, never mixed with mailboxes.</summary>
    public string DestinationOf(EnvelopeRecord envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        return envelope.Target is { } target
            ? $"{(target.Kind == DeliveryTargetKind.File ? "file" : "command")}:{target}"
            : _inner.DestinationOf(envelope);
    }

    public async ValueTask<IReadOnlyList<DeliveryResult>> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Recipients.All(r => r.Target is null))
        {
            return await _inner.DeliverAsync(request, cancellationToken).ConfigureAwait(false);
        }

        var results = new List<DeliveryResult>(request.Recipients.Count);
        var plain = request.Recipients.Where(r => r.Target is null).ToList();
        if (plain.Count > 0)
        {
            results.AddRange(await _inner.DeliverAsync(request with { Recipients = plain }, cancellationToken).ConfigureAwait(false));
        }

        results.AddRange(await LocalDelivery.ForEachRecipientAsync(
            request with { Recipients = [.. request.Recipients.Where(r => r.Target is not null)] },
            "alias",
            this,
            _logger,
            (envelope, ct) => DeliverToTargetAsync(request.MessagePath, envelope, ct),
            cancellationToken).ConfigureAwait(false));
        return results;
    }

    private ValueTask<DeliveryResult> DeliverToTargetAsync(string messagePath, EnvelopeRecord envelope, CancellationToken cancellationToken)
    {
        var target = envelope.Target!;
        var needed = target.Kind == DeliveryTargetKind.File ? AliasTargetPermissions.Files : AliasTargetPermissions.Commands;
        if (!_permissions().HasFlag(needed))
        {
            var kind = target.Kind == DeliveryTargetKind.File ? "files" : "commands";
            return ValueTask.FromResult(LocalDelivery.Fail(_logger, Action, envelope.Id, new DeliveryFailure(
                true, "4.7.1", $"alias target {target}: action '{Action}' does not allow {kind} (aliasTargets.{kind}); kept in the queue")));
        }

        return target.Kind == DeliveryTargetKind.File
            ? _files.AppendAsync(target.Path, messagePath, envelope, cancellationToken)
            : _commands.RunAsync(target.Path, target.Arguments, _commandTimeout, messagePath, envelope, cancellationToken);
    }

    public ValueTask DisposeAsync() => _inner is IAsyncDisposable disposable ? disposable.DisposeAsync() : ValueTask.CompletedTask;
}
