using System.Buffers;
using System.Runtime.CompilerServices;

namespace SmtpServer.Protocol;

/// <summary>
/// Frames SMTP command lines. The search is bounded before it starts (Kestrel's
/// <c>TrimAndTakeStartLine</c>): we never look further than <c>maxLength</c> bytes, so a client
/// that never sends a LF costs at most <c>maxLength</c> bytes of buffer (RFC 5321 §4.5.3.1.4:
/// 512 octets including CRLF is the minimum a server must accept).
/// </summary>
internal static class SmtpLineReader
{
    private const byte CR = (byte)'\r';
    private const byte LF = (byte)'\n';

    /// <summary>
    /// Finds the end of a command line (LF, optionally preceded by CR) within the first
    /// <paramref name="maxLength"/> bytes. A bare LF is accepted for command lines, as Postfix does;
    /// DATA content is stricter (see <see cref="DataReader"/>).
    /// </summary>
    public static LineStatus TryReadLine(in ReadOnlySequence<byte> buffer, int maxLength, out ReadOnlySequence<byte> line, out SequencePosition consumed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);

        ReadOnlySpan<byte> first = buffer.FirstSpan;
        int searchable = Math.Min(first.Length, maxLength);
        int lf = first[..searchable].IndexOf(LF);
        if (lf >= 0)
        {
            int end = lf > 0 && first[lf - 1] == CR ? lf - 1 : lf;
            line = buffer.Slice(0, end);
            consumed = buffer.GetPosition(lf + 1);
            return LineStatus.Complete;
        }

        if (first.Length >= maxLength || buffer.IsSingleSegment)
        {
            line = default;
            consumed = buffer.Start;
            return first.Length >= maxLength ? LineStatus.TooLong : LineStatus.Incomplete;
        }

        return TryReadLineMultiSegment(buffer, maxLength, out line, out consumed);
    }

    // Lines that cross a segment boundary are rare (a command is far smaller than a pipe segment),
    // so this stays out of the inlined fast path, as Kestrel's TryGetNewLine does.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static LineStatus TryReadLineMultiSegment(in ReadOnlySequence<byte> buffer, int maxLength, out ReadOnlySequence<byte> line, out SequencePosition consumed)
    {
        ReadOnlySequence<byte> bounded = buffer.Length > maxLength ? buffer.Slice(0, maxLength) : buffer;
        SequencePosition? lf = bounded.PositionOf(LF);
        if (lf is null)
        {
            line = default;
            consumed = buffer.Start;
            return buffer.Length >= maxLength ? LineStatus.TooLong : LineStatus.Incomplete;
        }

        line = buffer.Slice(buffer.Start, lf.Value);
        if (!line.IsEmpty && EndsWithCr(line))
        {
            line = line.Slice(0, line.Length - 1);
        }

        consumed = buffer.GetPosition(1, lf.Value);
        return LineStatus.Complete;
    }

    private static bool EndsWithCr(in ReadOnlySequence<byte> line)
    {
        // CopyTo rather than FirstSpan: a slice can start at the (empty) end of a previous segment.
        Span<byte> last = stackalloc byte[1];
        line.Slice(line.Length - 1).CopyTo(last);
        return last[0] == CR;
    }

    /// <summary>
    /// Discards up to and including the next LF, so that after a too-long line the dialog resumes
    /// at the next command (chasquid's readLine does the same).
    /// </summary>
    /// <returns>True when a LF was found (<paramref name="consumed"/> is just after it); false when
    /// everything was discarded (<paramref name="consumed"/> is <c>buffer.End</c>): call again with more data.</returns>
    public static bool TrySkipLine(in ReadOnlySequence<byte> buffer, out SequencePosition consumed)
    {
        SequencePosition? lf = buffer.PositionOf(LF);
        if (lf is null)
        {
            consumed = buffer.End;
            return false;
        }

        consumed = buffer.GetPosition(1, lf.Value);
        return true;
    }
}
