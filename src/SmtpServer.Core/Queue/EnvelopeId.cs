using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace SmtpServer.Core.Queue;

/// <summary>
/// One recipient's envelope: the message's queue id and the recipient's index in the
/// transaction, shown as <c>&lt;16 hex&gt;-&lt;4 hex&gt;</c> (e.g. <c>0193a1b2c3d4e5f6-0002</c>).
/// Unlike OpenSMTPD's <c>msgid&lt;&lt;32 | random</c> it needs no randomness and cannot
/// collide within a message; it names its message, and sorts by message then recipient order.
/// Later envelopes of the same message (alias expansion) take the next free index.
/// </summary>
internal readonly record struct EnvelopeId(QueueId Message, int Index) : IComparable<EnvelopeId>
{
    public const int MaxIndex = 0xFFFF;

    public int CompareTo(EnvelopeId other)
    {
        var byMessage = Message.CompareTo(other.Message);
        return byMessage != 0 ? byMessage : Index.CompareTo(other.Index);
    }

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Message}-{Index:x4}");

    public static bool TryParse([NotNullWhen(true)] string? text, out EnvelopeId id)
    {
        id = default;
        if (text is null || text.Length != 21 || text[16] != '-')
        {
            return false;
        }

        var index = text.AsSpan(17);
        foreach (var c in index)
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        if (!QueueId.TryParse(text[..16], out var message))
        {
            return false;
        }

        id = new EnvelopeId(message, int.Parse(index, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture));
        return true;
    }
}
