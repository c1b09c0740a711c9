using System.Buffers;
using System.Text;

namespace SmtpServer.Protocol;

/// <summary>
/// The header fixes of a submission: on a <c>submission: true</c> listener it adds
/// <c>Message-ID:</c> and <c>Date:</c> when the message lacks them (RFC 6409 §8.2, §8.3); with
/// <c>masquerade</c> it rewrites every <c>From:</c> field to the envelope sender, keeping the
/// display name (<see cref="FromField"/>), and adds one when there is none (RFC 5322 §3.6 requires
/// it). It sits between the DATA/BDAT reader and the spool file and holds back only the header
/// section (already bounded by maxHeaderSize): at the first line that ends the header section it
/// writes the held lines with the fixes, and from then on passes everything straight through.
/// The body is never buffered and the spool file never rewritten.
/// </summary>
internal sealed class SubmissionHeaderWriter : IBufferWriter<byte>
{
    private readonly IBufferWriter<byte> _inner;
    private readonly Func<string>? _messageId;
    private readonly Func<string>? _date;
    private readonly byte[]? _masquerade;

    /// <summary>The From: fields seen so far, as ranges of the held header (continuation lines included).</summary>
    private readonly List<Range> _fromFields = [];

    private ArrayBufferWriter<byte>? _header = new(1024);
    private int _scanned;
    private int _fieldStart = -1;
    private bool _fieldIsFrom;
    private bool _hasMessageId;
    private bool _hasDate;

    /// <param name="messageId">Makes a Message-ID for a message without one; null: none is added.</param>
    /// <param name="date">Makes a Date for a message without one; null: none is added.</param>
    /// <param name="masquerade">The envelope sender every From: field is rewritten to; null: From: is left alone.</param>
    public SubmissionHeaderWriter(IBufferWriter<byte> inner, Func<string>? messageId, Func<string>? date, string? masquerade = null)
    {
        _inner = inner;
        _messageId = messageId;
        _date = date;
        _masquerade = masquerade is null ? null : Encoding.UTF8.GetBytes(masquerade);
    }

    public void Advance(int count)
    {
        if (_header is null)
        {
            _inner.Advance(count);
            return;
        }

        _header.Advance(count);
        Scan();
    }

    public Memory<byte> GetMemory(int sizeHint = 0) => _header is null ? _inner.GetMemory(sizeHint) : _header.GetMemory(sizeHint);

    public Span<byte> GetSpan(int sizeHint = 0) => _header is null ? _inner.GetSpan(sizeHint) : _header.GetSpan(sizeHint);

    /// <summary>The end of the content: a message that is all header gets the fields at its end.</summary>
    public void Complete()
    {
        if (_header is null)
        {
            return;
        }

        // A last line without CRLF (BDAT allows it) is a line too.
        var end = _header.WrittenCount;
        var last = TrimCr(_header.WrittenSpan[_scanned..]);
        if (!last.IsEmpty && IsHeaderLine(last))
        {
            _scanned = end;
        }

        Release(_scanned);
    }

    private void Scan()
    {
        while (_header is not null)
        {
            var rest = _header.WrittenSpan[_scanned..];
            var lf = rest.IndexOf((byte)'\n');
            if (lf < 0)
            {
                return;
            }

            var line = TrimCr(rest[..lf]);
            if (line.IsEmpty || !IsHeaderLine(line))
            {
                // RFC 5322 §2.1: the empty line (or the first line that is no field) ends the header section.
                Release(_scanned);
                return;
            }

            _scanned += lf + 1;
        }
    }

    private static ReadOnlySpan<byte> TrimCr(ReadOnlySpan<byte> line) => !line.IsEmpty && line[^1] == '\r' ? line[..^1] : line;

    /// <summary>
    /// True for a field or a continuation line (RFC 5322 §2.2, §2.2.3) starting at <see cref="_scanned"/>.
    /// The same rule as <see cref="MessageContentWriter"/>'s: a folded line is a header line even
    /// before the first field. Ending the header there instead would leave the client's own
    /// From: below it, unrewritten, where every reader still sees a header field.
    /// </summary>
    private bool IsHeaderLine(ReadOnlySpan<byte> line)
    {
        if (line[0] is (byte)' ' or (byte)'\t')
        {
            return true;
        }

        var colon = line.IndexOf((byte)':');
        if (colon <= 0)
        {
            return false;
        }

        foreach (var c in line[..colon])
        {
            if (c is < 33 or > 126)
            {
                return false;
            }
        }

        EndField(_scanned);
        var name = line[..colon];
        _hasMessageId |= Ascii.EqualsIgnoreCase(name, "message-id"u8);
        _hasDate |= Ascii.EqualsIgnoreCase(name, "date"u8);
        _fieldIsFrom = Ascii.EqualsIgnoreCase(name, "from"u8);
        _fieldStart = _scanned;
        return true;
    }

    private void EndField(int end)
    {
        if (_fieldStart >= 0 && _fieldIsFrom && _masquerade is not null)
        {
            _fromFields.Add(_fieldStart..end);
        }

        _fieldStart = -1;
    }

    private void Release(int at)
    {
        EndField(at);
        var held = _header!.WrittenSpan;
        if (_masquerade is null)
        {
            _inner.Write(held[..at]);
        }
        else
        {
            var written = 0;
            foreach (var field in _fromFields)
            {
                _inner.Write(held[written..field.Start.Value]);
                FromField.Rewrite(held[field], _masquerade, _inner);
                written = field.End.Value;
            }

            _inner.Write(held[written..at]);
        }

        var addMessageId = _messageId is not null && !_hasMessageId;
        var addDate = _date is not null && !_hasDate;
        var addFrom = _masquerade is not null && _fromFields.Count == 0;
        if ((addMessageId || addDate || addFrom) && at > 0 && held[at - 1] != '\n' && !(_fromFields.Count > 0 && _fromFields[^1].End.Value == at))
        {
            // The header section ended without CRLF (the end of a BDAT message, unless a rewritten
            // From: ended it): the new fields start on a line of their own.
            _inner.Write("\r\n"u8);
        }

        if (addMessageId)
        {
            WriteField("Message-ID: "u8, Encoding.ASCII.GetBytes(_messageId!()));
        }

        if (addDate)
        {
            WriteField("Date: "u8, Encoding.ASCII.GetBytes(_date!()));
        }

        if (addFrom)
        {
            WriteField("From: "u8, _masquerade);
        }

        _inner.Write(held[at..]);
        _header = null;
    }

    private void WriteField(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        _inner.Write(name);
        _inner.Write(value);
        _inner.Write("\r\n"u8);
    }
}
