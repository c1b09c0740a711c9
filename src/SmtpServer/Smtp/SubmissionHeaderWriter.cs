using System.Buffers;
using System.Text;

namespace SmtpServer.Smtp;

/// <summary>
/// On a <c>submission: true</c> listener, adds <c>Message-ID:</c> and <c>Date:</c> when the
/// message lacks them (RFC 6409 §8.2, §8.3). It sits between the DATA/BDAT reader and the spool
/// file and holds back only the header section (already bounded by maxHeaderSize): at the first
/// line that ends the header section it writes the held lines, the missing fields, and from
/// then on passes everything straight through. The body is never buffered and the spool file
/// never rewritten.
/// </summary>
internal sealed class SubmissionHeaderWriter(IBufferWriter<byte> inner, Func<string> messageId, Func<string> date) : IBufferWriter<byte>
{
    private ArrayBufferWriter<byte>? _header = new(1024);
    private int _scanned;
    private bool _hasMessageId;
    private bool _hasDate;
    private bool _seenField;

    public void Advance(int count)
    {
        if (_header is null)
        {
            inner.Advance(count);
            return;
        }

        _header.Advance(count);
        Scan();
    }

    public Memory<byte> GetMemory(int sizeHint = 0) => _header is null ? inner.GetMemory(sizeHint) : _header.GetMemory(sizeHint);

    public Span<byte> GetSpan(int sizeHint = 0) => _header is null ? inner.GetSpan(sizeHint) : _header.GetSpan(sizeHint);

    /// <summary>The end of the content: a message that is all header gets the fields at its end.</summary>
    public void Complete()
    {
        if (_header is not null)
        {
            Release(_header.WrittenCount);
        }
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

            var line = rest[..lf];
            if (!line.IsEmpty && line[^1] == '\r')
            {
                line = line[..^1];
            }

            if (line.IsEmpty || !IsHeaderLine(line))
            {
                // RFC 5322 §2.1: the empty line (or the first line that is no field) ends the header section.
                Release(_scanned);
                return;
            }

            _scanned += lf + 1;
        }
    }

    private bool IsHeaderLine(ReadOnlySpan<byte> line)
    {
        if (line[0] is (byte)' ' or (byte)'\t')
        {
            return _seenField;
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

        var name = line[..colon];
        _hasMessageId |= Ascii.EqualsIgnoreCase(name, "message-id"u8);
        _hasDate |= Ascii.EqualsIgnoreCase(name, "date"u8);
        _seenField = true;
        return true;
    }

    private void Release(int at)
    {
        var held = _header!.WrittenSpan;
        inner.Write(held[..at]);
        if (!_hasMessageId)
        {
            inner.Write(Encoding.ASCII.GetBytes($"Message-ID: {messageId()}\r\n"));
        }

        if (!_hasDate)
        {
            inner.Write(Encoding.ASCII.GetBytes($"Date: {date()}\r\n"));
        }

        inner.Write(held[at..]);
        _header = null;
    }
}
