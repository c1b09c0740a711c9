using System.Buffers;

namespace SmtpServer.Delivery;

/// <summary>
/// Turns the queued message (CRLF) into one mbox entry body, streaming and in any split:
/// CRLF becomes LF, and every line matching <c>^&gt;*From </c> gets one more <c>&gt;</c> (mboxrd,
/// so readers can undo it exactly; plain mboxo would make "From " and "&gt;From " the same).
/// <see cref="Complete"/> ends the message with a newline and the empty line that separates entries.
/// </summary>
internal sealed class MboxConverter
{
    private static ReadOnlySpan<byte> From => "From "u8;

    private bool _atLineStart = true;
    private bool _pendingCr;
    private long _pendingQuotes; // '>' seen at the start of the current line, not yet written
    private int _fromMatched;    // bytes of "From " matched after them
    private byte _last = (byte)'\n';

    public void Convert(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        while (!input.IsEmpty)
        {
            if (_pendingCr)
            {
                _pendingCr = false;
                if (input[0] == '\n')
                {
                    EndLine(output);
                    input = input[1..];
                    continue;
                }

                // A bare CR is content; the queue never stores one, but keep it rather than lose it.
                Content((byte)'\r', output);
            }

            if (!_atLineStart)
            {
                // Fast path: copy the rest of the line in one piece.
                var end = input.IndexOfAny((byte)'\r', (byte)'\n');
                var run = end < 0 ? input : input[..end];
                Write(run, output);
                input = input[run.Length..];
                if (input.IsEmpty)
                {
                    break;
                }
            }

            var b = input[0];
            input = input[1..];
            if (b == '\r')
            {
                _pendingCr = true;
            }
            else if (b == '\n')
            {
                EndLine(output);
            }
            else
            {
                Content(b, output);
            }
        }
    }

    /// <summary>Writes what is pending, a final newline if the message lacks one, and the separating empty line.</summary>
    public void Complete(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (_pendingCr)
        {
            _pendingCr = false;
            Content((byte)'\r', output);
        }

        FlushPrefix(output);
        if (_last != '\n')
        {
            Write("\n"u8, output);
        }

        Write("\n"u8, output);
        _atLineStart = true;
    }

    private void Content(byte b, IBufferWriter<byte> output)
    {
        if (!_atLineStart)
        {
            Write([b], output);
            return;
        }

        if (b == '>' && _fromMatched == 0)
        {
            _pendingQuotes++;
            return;
        }

        if (b == From[_fromMatched])
        {
            if (++_fromMatched == From.Length)
            {
                Write(">"u8, output);
                FlushPrefix(output);
                _atLineStart = false;
            }

            return;
        }

        FlushPrefix(output);
        _atLineStart = false;
        Write([b], output);
    }

    private void EndLine(IBufferWriter<byte> output)
    {
        FlushPrefix(output);
        Write("\n"u8, output);
        _atLineStart = true;
    }

    private void FlushPrefix(IBufferWriter<byte> output)
    {
        for (; _pendingQuotes > 0; _pendingQuotes--)
        {
            Write(">"u8, output);
        }

        Write(From[.._fromMatched], output);
        _fromMatched = 0;
    }

    private void Write(ReadOnlySpan<byte> bytes, IBufferWriter<byte> output)
    {
        if (bytes.IsEmpty)
        {
            return;
        }

        output.Write(bytes);
        _last = bytes[^1];
    }
}
