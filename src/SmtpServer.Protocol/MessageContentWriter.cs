using System.Buffers;

namespace SmtpServer.Protocol;

/// <summary>
/// The one state machine for "canonical CRLF content with limits", fed by both
/// <see cref="DataReader"/> (after it has removed transparency dots and the terminator) and
/// <see cref="BdatReader"/> (raw chunks). It resolves CR/LF across calls, applies the
/// <see cref="BareLineEndingPolicy"/> (RFC 5321 §2.3.8; SMTP smuggling), counts stored octets,
/// line lengths, the header section and Received: fields, and writes content to the output.
/// After the first error it keeps counting but stops writing: the caller discards the output,
/// and the input is still consumed so the dialog stays in sync (chasquid's dotreader.go).
/// </summary>
internal sealed class MessageContentWriter
{
    private const byte CR = (byte)'\r';
    private const byte LF = (byte)'\n';

    private readonly MessageContentLimits _limits;

    private bool _pendingCr;
    private bool _atLineStart;
    private bool _lineStartIsCanonical;
    private long _lineLength;

    private bool _inHeader;
    private long _headerSize;
    private int _receivedCount;
    private HeaderLine _headerLine;
    private int _fieldNameLength;
    private bool _fieldNameIsReceived;

    public MessageContentWriter(MessageContentLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        _limits = limits;
        Reset();
    }

    private enum HeaderLine
    {
        /// <summary>Still reading the field name: not yet known whether this is a header field.</summary>
        Pending,

        /// <summary>A header field or a folded continuation line.</summary>
        Field,
    }

    public MessageContentError Error { get; private set; }

    /// <summary>Octets stored so far (CRLF line endings).</summary>
    public long Size { get; private set; }

    /// <summary>No byte of the current line has been seen yet (and no CR is pending).</summary>
    public bool AtLineStart => _atLineStart && !_pendingCr;

    /// <summary>The previous line ended with a real CRLF (or this is the first line): only then can DATA end here.</summary>
    public bool LineStartIsCanonical => _lineStartIsCanonical;

    public void Reset()
    {
        Error = MessageContentError.None;
        Size = 0;
        _pendingCr = false;
        _atLineStart = true;
        _lineStartIsCanonical = true;
        _lineLength = 0;
        _inHeader = true;
        _headerSize = 0;
        _receivedCount = 0;
        ResetLine();
    }

    /// <summary>The current line has begun although no content byte was written (DATA dropped a transparency dot).</summary>
    public void MarkLineStarted() => _atLineStart = false;

    /// <summary>
    /// Consumes content bytes. With <paramref name="stopAtLineStart"/> it returns right after the
    /// first line ending, so DATA can inspect the first byte of the next line. Always consumes at
    /// least one byte of a non-empty span unless a CR pending from the previous call turns out to be
    /// bare (then it returns 0 with the line ended). Returns the number of bytes consumed.
    /// </summary>
    public int Write(ReadOnlySpan<byte> span, IBufferWriter<byte> output, bool stopAtLineStart)
    {
        int i = 0;
        int runStart = 0;
        if (_pendingCr)
        {
            if (span.IsEmpty)
            {
                return 0;
            }

            _pendingCr = false;
            if (span[0] == LF)
            {
                Emit(output, "\r\n"u8);
                i = runStart = 1;
                EndLine(canonical: true);
            }
            else
            {
                BareLineEnding(output);
            }

            if (stopAtLineStart)
            {
                return i;
            }
        }

        // Bytes between runStart and i are copied verbatim; the run is only broken where the output
        // differs from the input (a bare CR/LF, or a CR held back at the end of the span).
        while (i < span.Length)
        {
            int found = span[i..].IndexOfAny(CR, LF);
            int content = found < 0 ? span.Length - i : found;
            if (content > 0)
            {
                OnContent(span.Slice(i, content));
                i += content;
            }

            if (found < 0)
            {
                break;
            }

            if (span[i] == CR && i + 1 < span.Length && span[i + 1] == LF)
            {
                i += 2;
                EndLine(canonical: true);
            }
            else
            {
                Emit(output, span[runStart..i]);
                bool crAtEnd = span[i] == CR && i + 1 == span.Length;
                i++;
                runStart = i;
                if (crAtEnd)
                {
                    // Whether this CR is bare depends on the next byte, in the next call.
                    _pendingCr = true;
                    break;
                }

                BareLineEnding(output);
            }

            if (stopAtLineStart)
            {
                break;
            }
        }

        Emit(output, span[runStart..i]);
        return i;
    }

    /// <summary>
    /// End of the content (BDAT LAST): a held-back CR is bare, and a last line without CRLF gets one,
    /// since we always store canonical CRLF (RFC 3030 §2 leaves this to the receiver).
    /// </summary>
    public void Complete(IBufferWriter<byte> output)
    {
        if (_pendingCr)
        {
            _pendingCr = false;
            BareLineEnding(output);
        }

        if (!_atLineStart)
        {
            Emit(output, "\r\n"u8);
            EndLine(canonical: true);
        }
    }

    private void OnContent(ReadOnlySpan<byte> content)
    {
        _atLineStart = false;
        _lineLength += content.Length;
        Size += content.Length;
        if (_lineLength + 2 > _limits.MaxLineLength)
        {
            SetError(MessageContentError.LineTooLong);
        }

        if (Size > _limits.MaxMessageSize)
        {
            SetError(MessageContentError.TooLarge);
        }

        if (_inHeader)
        {
            OnHeaderContent(content);
        }
    }

    // The header section ends at the first empty line (RFC 5322 §2.1), or, like Postfix's
    // is_header(), at the first line that is neither "name:" nor a folded continuation, so a
    // message without headers is not mistaken for one huge header.
    private void OnHeaderContent(ReadOnlySpan<byte> content)
    {
        if (_headerLine == HeaderLine.Pending)
        {
            int i = 0;
            if (_fieldNameLength == 0 && _lineLength == content.Length && content[0] is (byte)' ' or (byte)'\t')
            {
                _headerLine = HeaderLine.Field;
            }

            for (; _headerLine == HeaderLine.Pending && i < content.Length; i++)
            {
                byte c = content[i];
                if (c == ':' && _fieldNameLength > 0)
                {
                    _headerLine = HeaderLine.Field;
                    if (_fieldNameIsReceived && _fieldNameLength == "received".Length)
                    {
                        OnReceived();
                    }
                }
                else if (c is < 33 or > 126 or (byte)':')
                {
                    // RFC 5322 §3.6.8: field-name = 1*ftext (printable ASCII except ":").
                    _inHeader = false;
                    return;
                }
                else
                {
                    if (_fieldNameLength < "received".Length)
                    {
                        _fieldNameIsReceived &= (c | 0x20) == "received"[_fieldNameLength];
                    }

                    _fieldNameLength++;
                }
            }
        }

        if (_headerLine == HeaderLine.Field && _headerSize + _lineLength + 2 > _limits.MaxHeaderSize)
        {
            SetError(MessageContentError.HeaderTooLarge);
        }
    }

    private void OnReceived()
    {
        // RFC 5321 §6.3: a large number of Received: fields means a loop.
        _receivedCount++;
        if (_receivedCount >= _limits.MaxReceivedHeaders)
        {
            SetError(MessageContentError.TooManyHops);
        }
    }

    private void EndLine(bool canonical)
    {
        Size += 2;
        if (Size > _limits.MaxMessageSize)
        {
            SetError(MessageContentError.TooLarge);
        }

        if (_lineLength + 2 > _limits.MaxLineLength)
        {
            SetError(MessageContentError.LineTooLong);
        }

        if (_inHeader)
        {
            if (_headerLine == HeaderLine.Field && _lineLength > 0)
            {
                _headerSize += _lineLength + 2;
                if (_headerSize > _limits.MaxHeaderSize)
                {
                    SetError(MessageContentError.HeaderTooLarge);
                }
            }
            else
            {
                _inHeader = false; // the empty line, or a line that never became "name:"
            }
        }

        _lineLength = 0;
        _atLineStart = true;
        _lineStartIsCanonical = canonical;
        ResetLine();
    }

    private void BareLineEnding(IBufferWriter<byte> output)
    {
        if (_limits.BareLineEndings == BareLineEndingPolicy.Normalize)
        {
            Emit(output, "\r\n"u8);
        }
        else
        {
            SetError(MessageContentError.BareLineEnding);
        }

        EndLine(canonical: false);
    }

    private void ResetLine()
    {
        _headerLine = HeaderLine.Pending;
        _fieldNameLength = 0;
        _fieldNameIsReceived = true;
    }

    private void SetError(MessageContentError error)
    {
        if (Error == MessageContentError.None)
        {
            Error = error;
        }
    }

    private void Emit(IBufferWriter<byte> output, ReadOnlySpan<byte> bytes)
    {
        if (Error == MessageContentError.None && !bytes.IsEmpty)
        {
            output.Write(bytes);
        }
    }
}
