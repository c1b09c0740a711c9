using System.Buffers;
using System.Text;
using SmtpServer.Core.Queue;

namespace SmtpServer.Delivery;

/// <summary>
/// The two header fields every local delivery adds (OpenSMTPD mda.c): <c>Return-Path</c> with
/// the envelope sender and <c>Delivered-To</c> with the recipient, and the loop check that
/// refuses a message already carrying our <c>Delivered-To</c> for that recipient.
/// </summary>
internal static class TraceHeaders
{
    /// <summary>How much of the message is searched for the header section; a longer header section is only scanned this far.</summary>
    public const int MaxHeaderScan = 256 * 1024;

    private static readonly byte[] DeliveredToName = "delivered-to:"u8.ToArray();

    /// <summary><c>Return-Path: &lt;sender&gt;</c> and <c>Delivered-To: recipient</c>, each ending in <paramref name="newLine"/>.</summary>
    public static byte[] Build(AddressRecord? sender, AddressRecord recipient, string newLine = "\r\n")
    {
        var returnPath = sender is null ? string.Empty : LocalRecipient.FormatAddress(sender);
        return Encoding.UTF8.GetBytes($"Return-Path: <{returnPath}>{newLine}Delivered-To: {LocalRecipient.FormatAddress(recipient)}{newLine}");
    }

    /// <summary>
    /// Checks the envelope values before they go into a header line: a CR or LF would start a
    /// header of the sender's choosing. The address parser never lets one through; this holds
    /// even if a queue file was edited by hand. Null when fine, else the failure to report.
    /// </summary>
    public static DeliveryFailure? Validate(AddressRecord? sender, AddressRecord recipient)
    {
        if (!LocalRecipient.HasNoControlCharacters(LocalRecipient.FormatAddress(recipient)))
        {
            return new DeliveryFailure(false, "5.1.3", "recipient address contains control characters");
        }

        if (sender is not null && !LocalRecipient.HasNoControlCharacters(LocalRecipient.FormatAddress(sender)))
        {
            return new DeliveryFailure(false, "5.1.7", "sender address contains control characters");
        }

        return null;
    }

    /// <summary>
    /// The values of every <c>Delivered-To:</c> field in the header section of the message
    /// (unfolded, trimmed, angle brackets removed). Reads at most <see cref="MaxHeaderScan"/>
    /// bytes; the body is never looked at.
    /// </summary>
    public static async ValueTask<IReadOnlyList<string>> ReadDeliveredToAsync(string messagePath, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(MaxHeaderScan);
        try
        {
            int length = 0;
            var stream = new FileStream(messagePath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.Asynchronous);
            await using (stream.ConfigureAwait(false))
            {
                while (length < MaxHeaderScan)
                {
                    var read = await stream.ReadAsync(buffer.AsMemory(length, MaxHeaderScan - length), cancellationToken).ConfigureAwait(false);
                    if (read == 0)
                    {
                        break;
                    }

                    length += read;
                    if (buffer.AsSpan(0, length).IndexOf("\r\n\r\n"u8) >= 0 || buffer.AsSpan(0, length).IndexOf("\n\n"u8) >= 0)
                    {
                        break;
                    }
                }
            }

            return ParseDeliveredTo(buffer.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    internal static List<string> ParseDeliveredTo(ReadOnlySpan<byte> headers)
    {
        var values = new List<string>();
        StringBuilder? current = null;
        while (!headers.IsEmpty)
        {
            var lf = headers.IndexOf((byte)'\n');
            var line = lf < 0 ? headers : headers[..lf];
            headers = lf < 0 ? default : headers[(lf + 1)..];
            if (!line.IsEmpty && line[^1] == '\r')
            {
                line = line[..^1];
            }

            if (line.IsEmpty)
            {
                // The end of the header section.
                break;
            }

            if (line[0] is (byte)' ' or (byte)'\t')
            {
                // A folded continuation (RFC 5322 §2.2.3) of the field before.
                current?.Append(Encoding.UTF8.GetString(line));
                continue;
            }

            Flush(values, current);
            current = null;
            if (line.Length >= DeliveredToName.Length && Ascii.EqualsIgnoreCase(line[..DeliveredToName.Length], DeliveredToName))
            {
                current = new StringBuilder(Encoding.UTF8.GetString(line[DeliveredToName.Length..]));
            }
        }

        Flush(values, current);
        return values;

        static void Flush(List<string> values, StringBuilder? current)
        {
            if (current is null)
            {
                return;
            }

            var value = current.ToString().Trim();
            if (value.Length >= 2 && value[0] == '<' && value[^1] == '>')
            {
                value = value[1..^1].Trim();
            }

            values.Add(value);
        }
    }

    /// <summary>
    /// True when one of <paramref name="deliveredTo"/> names <paramref name="recipient"/>. The
    /// comparison ignores case: domains are case-insensitive and OpenSMTPD compares the same way.
    /// </summary>
    public static bool IsLoop(IReadOnlyList<string> deliveredTo, AddressRecord recipient)
    {
        ArgumentNullException.ThrowIfNull(deliveredTo);
        var address = LocalRecipient.FormatAddress(recipient);
        foreach (var value in deliveredTo)
        {
            if (string.Equals(value, address, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    public static DeliveryFailure LoopFailure(AddressRecord recipient) =>
        new(false, "5.4.6", $"mail loop: already delivered to {LocalRecipient.FormatAddress(recipient)}");
}

/// <summary>A failure found before delivery: temporary or not, its RFC 3463 code and text.</summary>
internal sealed record DeliveryFailure(bool Temporary, string Status, string Diagnostic)
{
    public Core.Delivery.DeliveryResult ToResult(EnvelopeId envelope) => Temporary
        ? Core.Delivery.DeliveryResult.Temporary(envelope, Status, Diagnostic)
        : Core.Delivery.DeliveryResult.Permanent(envelope, Status, Diagnostic);
}
