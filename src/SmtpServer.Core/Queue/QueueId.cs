using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;

namespace SmtpServer.Core.Queue;

/// <summary>
/// A queue id: 44 bits of milliseconds since the Unix epoch followed by 20 random bits, shown
/// as 16 lower-case hex digits. Ids sort by arrival time (as strings and as numbers) and are
/// unique across restarts; the random part tells apart messages of the same millisecond.
/// Within a process ids are strictly increasing: an id that would not be greater than the
/// last one handed out (same millisecond, or the clock stepped back) becomes the last one + 1,
/// so a burst never repeats an id (20 random bits alone would, by the birthday bound).
/// </summary>
internal readonly record struct QueueId(ulong Value) : IComparable<QueueId>
{
    private const int RandomBits = 20;

    private static ulong s_last;

    public static QueueId New(TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        var ms = (ulong)time.GetUtcNow().ToUnixTimeMilliseconds() & ((1UL << 44) - 1);
        var random = (ulong)RandomNumberGenerator.GetInt32(1 << RandomBits);
        var candidate = (ms << RandomBits) | random;
        while (true)
        {
            var last = Volatile.Read(ref s_last);
            var next = candidate > last ? candidate : last + 1;
            if (Interlocked.CompareExchange(ref s_last, next, last) == last)
            {
                return new QueueId(next);
            }
        }
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
