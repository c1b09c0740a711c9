using System.Buffers;

namespace SmtpServer.Testing;

/// <summary>
/// Simulates a PipeReader for a parser with the (buffer, out consumed) shape: bytes arrive in the
/// given pieces, unconsumed bytes are kept and offered again together with the next piece, as
/// AdvanceTo(consumed, buffer.End) would. The buffer offered each time is multi-segment
/// (leftover, then the new piece), so boundaries land everywhere.
/// </summary>
public static class PipeFeeder
{
    public delegate bool Step(in ReadOnlySequence<byte> buffer, out SequencePosition consumed);

    /// <summary>
    /// Feeds <paramref name="pieces"/> until <paramref name="step"/> returns true. Returns the number
    /// of bytes of the whole input that were consumed when it did (or -1 if it never did).
    /// </summary>
    public static long Feed(IEnumerable<byte[]> pieces, Step step)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        ArgumentNullException.ThrowIfNull(step);
        byte[] pending = [];
        long consumedTotal = 0;
        foreach (byte[] piece in pieces)
        {
            ReadOnlySequence<byte> buffer = pending.Length == 0
                ? ReadOnlySequenceFactory.CreateSegments(piece)
                : ReadOnlySequenceFactory.CreateSegments(pending, piece);
            bool done = step(buffer, out SequencePosition consumed);
            long used = buffer.Slice(buffer.Start, consumed).Length;
            consumedTotal += used;
            pending = buffer.Slice(consumed).ToArray();
            if (done)
            {
                return consumedTotal;
            }
        }

        return -1;
    }

    /// <summary>The input cut into pieces of <paramref name="size"/> bytes.</summary>
    public static IEnumerable<byte[]> Chunks(byte[] data, int size)
    {
        ArgumentNullException.ThrowIfNull(data);
        for (int i = 0; i < data.Length; i += size)
        {
            yield return data[i..Math.Min(data.Length, i + size)];
        }
    }
}
