using Microsoft.Extensions.Logging;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;

namespace SmtpServer.Delivery;

/// <summary>
/// command: { run, args }. Runs the configured program once per recipient through
/// <see cref="CommandRunner"/>: no shell, envelope in the environment, message on stdin,
/// EX_TEMPFAIL temporary, killed and retried after the timeout.
/// </summary>
internal sealed class CommandAgent : IDeliveryAgent
{
    private readonly CommandAgentOptions _options;
    private readonly CommandRunner _runner;
    private readonly ILogger _logger;

    public CommandAgent(string action, CommandAgentOptions options, ILogger<CommandAgent> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.Run);
        ArgumentNullException.ThrowIfNull(options.Args);
        if (options.EffectiveTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("command timeout must be positive.", nameof(options));
        }

        Action = action;
        _options = options;
        _runner = new CommandRunner(action, logger);
        _logger = logger;
    }

    public string Action { get; }

    public bool IsLocal => true;

    public string DestinationOf(EnvelopeRecord envelope) => _options.Run;

    public ValueTask<IReadOnlyList<DeliveryResult>> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return LocalDelivery.ForEachRecipientAsync(
            request,
            "command",
            this,
            _logger,
            (envelope, ct) => _runner.RunAsync(_options.Run, _options.Args, _options.EffectiveTimeout, request.MessagePath, envelope, ct),
            cancellationToken);
    }
}
