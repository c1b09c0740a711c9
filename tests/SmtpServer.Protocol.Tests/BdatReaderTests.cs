using System.Buffers;
using System.Text;
using SmtpServer.Protocol;
using SmtpServer.Testing;

namespace SmtpServer.Protocol.Tests;

public class BdatReaderTests
{
    private static readonly MessageContentLimits Limits = new(1_000_000, 1000, 100_000, 100, BareLineEndingPolicy.Reject);

    private static byte[] B(string s) => Encoding.Latin1.GetBytes(s);

    /// <summary>Sends each chunk with BDAT, fed to the reader in pieces of <paramref name="piece"/> bytes through a simulated pipe.</summary>
    private static (string Output, MessageContentError Error, long Size, string Leftover) Send(MessageContentLimits limits, int piece, string trailing, params string[] chunks)
    {
        var reader = new BdatReader(limits);
        var output = new ArrayBufferWriter<byte>();
        string leftover = "";
        for (int c = 0; c < chunks.Length; c++)
        {
            reader.BeginChunk(chunks[c].Length, last: c == chunks.Length - 1);
            byte[] data = B(chunks[c] + (c == chunks.Length - 1 ? trailing : ""));
            if (data.Length == 0)
            {
                Assert.Equal(DataReadResult.Completed, reader.Read(ReadOnlySequence<byte>.Empty, output, out _));
                continue;
            }

            long consumed = PipeFeeder.Feed(PipeFeeder.Chunks(data, piece), (in ReadOnlySequence<byte> buffer, out SequencePosition used) =>
                reader.Read(buffer, output, out used) == DataReadResult.Completed);
            Assert.Equal(chunks[c].Length, consumed);
            leftover = Encoding.Latin1.GetString(data[(int)consumed..]);
        }

        reader.Complete(output);
        return (Encoding.Latin1.GetString(output.WrittenSpan), reader.Error, reader.Size, leftover);
    }

    private static void AssertAllPieces(string expected, MessageContentError error, MessageContentLimits? limits, params string[] chunks)
    {
        foreach (int piece in new[] { 1, 2, 3, 1000 })
        {
            var (output, actualError, size, leftover) = Send(limits ?? Limits, piece, "QUIT\r\n", chunks);
            Assert.Equal(error, actualError);
            Assert.Equal("QUIT\r\n", leftover);
            if (error == MessageContentError.None)
            {
                Assert.Equal(expected, output);
                Assert.Equal(expected.Length, size);
            }
        }
    }

    [Fact]
    public void Single_chunk() => AssertAllPieces("Subject: x\r\n\r\nhi\r\n", MessageContentError.None, null, "Subject: x\r\n\r\nhi\r\n");

    [Fact]
    public void No_dot_unstuffing_in_bdat() => AssertAllPieces("..x\r\n.\r\n", MessageContentError.None, null, "..x\r\n.\r\n");

    [Fact]
    public void Crlf_split_across_chunks() => AssertAllPieces("a\r\nb\r\n", MessageContentError.None, null, "a\r", "\nb\r", "\n");

    [Fact]
    public void Missing_final_crlf_is_added() => AssertAllPieces("a\r\nb\r\n", MessageContentError.None, null, "a\r\n", "b");

    [Fact]
    public void Empty_last_chunk() => AssertAllPieces("a\r\n", MessageContentError.None, null, "a\r\n", "");

    [Fact]
    public void Empty_message() => AssertAllPieces("", MessageContentError.None, null, "");

    [Fact]
    public void Trailing_cr_is_bare() => AssertAllPieces("", MessageContentError.BareLineEnding, null, "a\r");

    [Fact]
    public void Bare_lf_across_chunks() => AssertAllPieces("", MessageContentError.BareLineEnding, null, "a", "\nb\r\n");

    [Fact]
    public void Bare_cr_before_chunk_boundary() => AssertAllPieces("", MessageContentError.BareLineEnding, null, "a\r", "b\r\n");

    [Fact]
    public void Normalize_across_chunks() =>
        AssertAllPieces("a\r\nb\r\nc\r\n", MessageContentError.None, Limits with { BareLineEndings = BareLineEndingPolicy.Normalize }, "a\r", "b\n", "c\r");

    [Fact]
    public void Size_over_chunks_keeps_consuming()
    {
        var limits = Limits with { MaxMessageSize = 10 };
        AssertAllPieces("", MessageContentError.TooLarge, limits, "12345\r\n", "6789\r\n", "more\r\n");
        AssertAllPieces("12345\r\n6\r\n", MessageContentError.None, limits, "12345\r\n", "6\r\n");
    }

    [Fact]
    public void Line_length_across_chunks() =>
        AssertAllPieces("", MessageContentError.LineTooLong, Limits with { MaxLineLength = 6 }, "123", "45\r\n");

    [Fact]
    public void Hops_across_chunks() =>
        AssertAllPieces("", MessageContentError.TooManyHops, Limits with { MaxReceivedHeaders = 2 }, "Rece", "ived: a\r\nReceived", ": b\r\n\r\n");

    [Fact]
    public void Chunk_does_not_consume_beyond_its_size()
    {
        var reader = new BdatReader(Limits);
        var output = new ArrayBufferWriter<byte>();
        reader.BeginChunk(3, last: false);
        var buffer = ReadOnlySequenceFactory.SplitAt(B("ab\r\nBDAT"), 1, 2);
        Assert.Equal(DataReadResult.Completed, reader.Read(buffer, output, out SequencePosition consumed));
        Assert.Equal("\nBDAT", Encoding.Latin1.GetString(buffer.Slice(consumed).ToArray()));
        Assert.Equal("ab", Encoding.Latin1.GetString(output.WrittenSpan)); // the CR waits for the next chunk

        reader.BeginChunk(1, last: true);
        Assert.Equal(DataReadResult.Completed, reader.Read(new ReadOnlySequence<byte>(B("\n")), output, out _));
        reader.Complete(output);
        Assert.Equal("ab\r\n", Encoding.Latin1.GetString(output.WrittenSpan));
    }
}
