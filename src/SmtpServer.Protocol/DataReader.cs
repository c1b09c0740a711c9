using System.Buffers;
using System.Runtime.CompilerServices;

namespace SmtpServer.Protocol;

/// <summary>
/// Streams DATA content (RFC 5321 §4.1.1.4): removes transparency dots (§4.5.2), finds the end of
/// data, and hands everything else to <see cref="MessageContentWriter"/>. Only CRLF "." CRLF ends
/// the data; "\n.\n", "\r.\r" and a "." line after a bare line ending never do (SMTP smuggling,
/// DESIGN.md decision 5). The start of the data counts as following a CRLF (the one ending the
/// DATA command), so ".\r\n" at once is an empty message.
/// </summary>
internal sealed class DataReader
{
    private const byte CR = (byte)'\r';
    private const byte LF = (byte)'\n';
    private const byte Dot = (byte)'.';

    private readonly MessageContentWriter _content;
    private State _state;

    public DataReader(MessageContentLimits limits)
    {
        _content = new MessageContentWriter(limits);
    }

    private enum State
    {
        /// <summary>Inside the content, or at a line start not yet looked at.</summary>
        Content,

        /// <summary>A "." at the start of a line that followed a CRLF.</summary>
        LineStartDot,

        /// <summary>"." CR at the start of a line: LF next ends the data.</summary>
        LineStartDotCr,

        /// <summary>The terminator has been consumed.</summary>
        Done,
    }

    public MessageContentError Error => _content.Error;

    /// <summary>Content octets as stored (dot-unstuffed, CRLF line endings).</summary>
    public long Size => _content.Size;

    /// <summary>Prepares for a new transaction.</summary>
    public void Reset()
    {
        _content.Reset();
        _state = State.Content;
    }

    /// <summary>
    /// Consumes as much of <paramref name="buffer"/> as it can. NeedMoreData: everything was consumed
    /// (<paramref name="consumed"/> = <c>buffer.End</c>). Completed: <paramref name="consumed"/> is
    /// just after the terminator; bytes after it (a pipelined command, RFC 2920) are left alone.
    /// </summary>
    public DataReadResult Read(in ReadOnlySequence<byte> buffer, IBufferWriter<byte> output, out SequencePosition consumed)
    {
        if (_state == State.Done)
        {
            consumed = buffer.Start;
            return DataReadResult.Completed;
        }

        if (buffer.IsSingleSegment)
        {
            int read = ReadSpan(buffer.FirstSpan, output);
            if (_state == State.Done)
            {
                consumed = buffer.GetPosition(read);
                return DataReadResult.Completed;
            }

            consumed = buffer.End;
            return DataReadResult.NeedMoreData;
        }

        return ReadMultiSegment(buffer, output, out consumed);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private DataReadResult ReadMultiSegment(in ReadOnlySequence<byte> buffer, IBufferWriter<byte> output, out SequencePosition consumed)
    {
        SequencePosition next = buffer.Start;
        SequencePosition segmentStart = next;
        while (buffer.TryGet(ref next, out ReadOnlyMemory<byte> memory))
        {
            int read = ReadSpan(memory.Span, output);
            if (_state == State.Done)
            {
                consumed = buffer.GetPosition(read, segmentStart);
                return DataReadResult.Completed;
            }

            segmentStart = next;
        }

        consumed = buffer.End;
        return DataReadResult.NeedMoreData;
    }

    private int ReadSpan(ReadOnlySpan<byte> span, IBufferWriter<byte> output)
    {
        int i = 0;
        while (i < span.Length)
        {
            switch (_state)
            {
                case State.Content:
                    if (span[i] == Dot && _content.AtLineStart)
                    {
                        i++;
                        if (_content.LineStartIsCanonical)
                        {
                            _state = State.LineStartDot;
                        }
                        else
                        {
                            // After a bare line ending a "." line is never the terminator; the dot
                            // is still a transparency dot.
                            _content.MarkLineStarted();
                        }

                        continue;
                    }

                    // One line per call, so the first byte of the next line is looked at here.
                    i += _content.Write(span[i..], output, stopAtLineStart: true);
                    continue;

                case State.LineStartDot:
                    _state = State.Content;
                    if (span[i] == CR)
                    {
                        i++;
                        _state = State.LineStartDotCr;
                    }
                    else
                    {
                        // RFC 5321 §4.5.2: the first character of the line is a period and there
                        // are other characters: delete it. "..x" is stored as ".x".
                        _content.MarkLineStarted();
                    }

                    continue;

                case State.LineStartDotCr:
                    if (span[i] == LF)
                    {
                        _state = State.Done;
                        return i + 1;
                    }

                    // ".\r" then something else: the dot was a transparency dot and the CR is bare.
                    _state = State.Content;
                    _content.MarkLineStarted();
                    _content.Write("\r"u8, output, stopAtLineStart: true);
                    continue;

                default:
                    return i;
            }
        }

        return i;
    }
}
