using System.Buffers;

namespace SmtpServer.Protocol;

/// <summary>
/// Streams BDAT chunks (RFC 3030 §2): the octets are counted, not parsed, so there is no
/// dot-stuffing and no terminator. The content checks are the same as DATA's and run across
/// chunk boundaries (a CRLF split between two chunks is one line ending).
/// </summary>
internal sealed class BdatReader
{
    private readonly MessageContentWriter _content;
    private long _remaining;

    public BdatReader(MessageContentLimits limits)
    {
        _content = new MessageContentWriter(limits);
    }

    public MessageContentError Error => _content.Error;

    /// <summary>Content octets as stored (CRLF line endings), over all chunks so far.</summary>
    public long Size => _content.Size;

    /// <summary>Whether the current chunk was announced with LAST.</summary>
    public bool IsLastChunk { get; private set; }

    /// <summary>Octets of the current chunk not yet consumed.</summary>
    public long RemainingInChunk => _remaining;

    /// <summary>Prepares for a new transaction.</summary>
    public void Reset()
    {
        _content.Reset();
        _remaining = 0;
        IsLastChunk = false;
    }

    public void BeginChunk(long size, bool last)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        _remaining = size;
        IsLastChunk = last;
    }

    /// <summary>
    /// Consumes at most the octets left in the chunk. Completed once the chunk is whole; bytes after
    /// it belong to the next command and are not consumed. After an error the chunk is still
    /// consumed (not written) so the dialog stays in sync.
    /// </summary>
    public DataReadResult Read(in ReadOnlySequence<byte> buffer, IBufferWriter<byte> output, out SequencePosition consumed)
    {
        if (_remaining == 0)
        {
            consumed = buffer.Start;
            return DataReadResult.Completed;
        }

        ReadOnlySequence<byte> chunk = buffer.Length > _remaining ? buffer.Slice(0, _remaining) : buffer;
        foreach (ReadOnlyMemory<byte> segment in chunk)
        {
            _content.Write(segment.Span, output, stopAtLineStart: false);
        }

        _remaining -= chunk.Length;
        consumed = chunk.End;
        return _remaining == 0 ? DataReadResult.Completed : DataReadResult.NeedMoreData;
    }

    /// <summary>After the LAST chunk: resolves a trailing CR and adds a final CRLF when missing.</summary>
    public void Complete(IBufferWriter<byte> output) => _content.Complete(output);
}
