using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;

namespace SmtpServer.Core.Queue;

/// <summary>
/// A queue id: 44 bits of milliseconds since the Unix epoch followed by 20 random bits, shown
/// as 16 lower-case hex digits. Ids sort by arrival time (as strings and as numbers) and are
/// unique across restarts; the random part tells apart messages of the same millisecond.
/// </summary>
internal readonly record struct QueueId(ulong Value) : IComparable<QueueId>
{
    private const int RandomBits = 20;

    public static QueueId New(TimeProvider time)
    {
        var ms = (ulong)time.GetUtcNow().ToUnixTimeMilliseconds() & ((1UL << 44) - 1);
        var random = (ulong)RandomNumberGenerator.GetInt32(1 << RandomBits);
        return new QueueId((ms << RandomBits) | random);
    }

    public DateTimeOffset Timestamp => DateTimeOffset.FromUnixTimeMilliseconds((long)(Value >> RandomBits));

    public int CompareTo(QueueId other) => Value.CompareTo(other.Value);

    public override string ToString() => Value.ToString("x16", CultureInfo.InvariantCulture);

    public static bool TryParse([NotNullWhen(true)] string? text, out QueueId id)
    {
        id = default;
        if (text is null || text.Length != 16)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        id = new QueueId(ulong.Parse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture));
        return true;
    }
}
