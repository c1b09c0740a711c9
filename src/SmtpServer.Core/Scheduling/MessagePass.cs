using SmtpServer.Core.Queue;

namespace SmtpServer.Core.Scheduling;

/// <summary>
/// The jobs of one message started by one scheduling pass (its recipients that fell due
/// together). Recipients whose DSN is due are held here until the pass's last job ends, so
/// that all failed recipients of the message make one bounce, all delayed ones one warning
/// (REFERENCE.md §1.8: one bounce per message and type).
/// </summary>
internal sealed class MessagePass(StoredMessage message)
{
    private readonly List<HeldEnvelope> _held = [];
    private int _pending;

    public StoredMessage Message { get; } = message;

    /// <summary>Set by the scheduler loop before any of the jobs starts.</summary>
    public int Jobs
    {
        set => _pending = value;
    }

    public void Hold(HeldEnvelope envelope)
    {
        lock (_held)
        {
            _held.Add(envelope);
        }
    }

    /// <summary>True for the job that ends the pass: it then sends the DSNs.</summary>
    public bool JobDone() => Interlocked.Decrement(ref _pending) == 0;

    public IReadOnlyList<HeldEnvelope> Held
    {
        get
        {
            lock (_held)
            {
                return [.. _held];
            }
        }
    }
}
