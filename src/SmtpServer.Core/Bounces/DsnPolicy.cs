using SmtpServer.Core.Queue;
using SmtpServer.Protocol;

namespace SmtpServer.Core.Bounces;

/// <summary>Whether a recipient's sender asked for (or may get) a DSN of some kind.</summary>
internal static class DsnPolicy
{
    /// <summary>
    /// Never for the null sender: a DSN is sent from &lt;&gt;, so this also means never a bounce of
    /// a bounce (RFC 3461 §6.2, RFC 5321 §6.1). NOTIFY=NEVER: nothing. An absent NOTIFY means
    /// FAILURE,DELAY (RFC 3461 §4.1).
    /// </summary>
    public static bool Wants(EnvelopeRecord envelope, DsnKind kind)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        if (envelope.Sender is null)
        {
            return false;
        }

        var notify = envelope.Notify;
        if ((notify & DsnNotify.Never) != 0)
        {
            return false;
        }

        if (notify == DsnNotify.None)
        {
            notify = DsnNotify.Failure | DsnNotify.Delay;
        }

        var wanted = kind switch
        {
            DsnKind.Failed => DsnNotify.Failure,
            DsnKind.Delayed => DsnNotify.Delay,
            _ => DsnNotify.Success,
        };
        return (notify & wanted) != 0;
    }

    /// <summary>Why no failure DSN goes out for this envelope (for the log), or null when one does.</summary>
    public static string? WhyNot(EnvelopeRecord envelope, DsnKind kind)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        if (Wants(envelope, kind))
        {
            return null;
        }

        return envelope.Sender is null ? "null sender" : $"NOTIFY={envelope.Notify}";
    }
}
