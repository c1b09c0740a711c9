using System.Buffers;
using System.Text;
using SmtpServer.Protocol;
using SmtpServer.Testing;

namespace SmtpServer.Protocol.Tests;

public class SmtpLineReaderTests
{
    private static byte[] B(string s) => Encoding.Latin1.GetBytes(s);

    private static string S(in ReadOnlySequence<byte> s) => Encoding.Latin1.GetString(s.ToArray());

    [Theory]
    [InlineData("NOOP\r\n", "NOOP", 6)]
    [InlineData("NOOP\n", "NOOP", 5)]
    [InlineData("\r\n", "", 2)]
    [InlineData("\n", "", 1)]
    [InlineData("NOOP\r\nQUIT\r\n", "NOOP", 6)]
    [InlineData("A\rB\r\n", "A\rB", 5)]
    public void Complete_line_at_every_split(string input, string expectedLine, int expectedConsumed)
    {
        byte[] data = B(input);
        foreach ((int position, ReadOnlySequence<byte> buffer) in ReadOnlySequenceFactory.AllSplits(data))
        {
            LineStatus status = SmtpLineReader.TryReadLine(buffer, 512, out ReadOnlySequence<byte> line, out SequencePosition consumed);
            Assert.True(status == LineStatus.Complete, $"split at {position}");
            Assert.Equal(expectedLine, S(line));
            Assert.Equal(expectedConsumed, buffer.Slice(buffer.Start, consumed).Length);
        }

        var perByte = ReadOnlySequenceFactory.SegmentPerByte(data);
        Assert.Equal(LineStatus.Complete, SmtpLineReader.TryReadLine(perByte, 512, out var l2, out var c2));
        Assert.Equal(expectedLine, S(l2));
        Assert.Equal(expectedConsumed, perByte.Slice(perByte.Start, c2).Length);
    }

    [Theory]
    [MemberData(nameof(ReadOnlySequenceFactory.All), MemberType = typeof(ReadOnlySequenceFactory))]
    public void Incomplete_does_not_consume(ReadOnlySequenceFactory factory)
    {
        var buffer = factory.CreateWithContent("MAIL FROM:<a@b>\r");
        Assert.Equal(LineStatus.Incomplete, SmtpLineReader.TryReadLine(buffer, 512, out var line, out var consumed));
        Assert.True(line.IsEmpty);
        Assert.Equal(buffer.Start, consumed);
    }

    [Fact]
    public void Empty_buffer_is_incomplete()
    {
        Assert.Equal(LineStatus.Incomplete, SmtpLineReader.TryReadLine(ReadOnlySequence<byte>.Empty, 512, out _, out _));
    }

    [Fact]
    public void Byte_by_byte_yields_each_line_once()
    {
        byte[] data = B("EHLO x\r\nMAIL FROM:<a@b>\nQUIT\r\n");
        var lines = new List<string>();
        byte[] pending = [];
        foreach (byte b in data)
        {
            var buffer = ReadOnlySequenceFactory.CreateSegments(pending, [b]);
            while (true)
            {
                LineStatus status = SmtpLineReader.TryReadLine(buffer, 512, out var line, out var consumed);
                if (status != LineStatus.Complete)
                {
                    Assert.Equal(buffer.Start, consumed);
                    break;
                }

                lines.Add(S(line));
                buffer = buffer.Slice(consumed);
            }

            pending = buffer.ToArray();
        }

        Assert.Equal(["EHLO x", "MAIL FROM:<a@b>", "QUIT"], lines);
        Assert.Empty(pending);
    }

    [Fact]
    public void Max_length_counts_the_crlf_boundaries()
    {
        const int max = 16;
        string ok = new string('a', max - 2) + "\r\n";        // exactly max with CRLF
        string tooLong = new string('a', max - 1) + "\r\n";   // max + 1
        string bareLfOk = new string('a', max - 1) + "\n";    // LF is the max-th byte
        foreach (var factory in ReadOnlySequenceFactory.All.Select(o => (ReadOnlySequenceFactory)o[0]))
        {
            var b1 = factory.CreateWithContent(ok);
            Assert.Equal(LineStatus.Complete, SmtpLineReader.TryReadLine(b1, max, out var l1, out _));
            Assert.Equal(max - 2, l1.Length);

            var b2 = factory.CreateWithContent(tooLong);
            Assert.Equal(LineStatus.TooLong, SmtpLineReader.TryReadLine(b2, max, out _, out var c2));
            Assert.Equal(b2.Start, c2);

            var b3 = factory.CreateWithContent(bareLfOk);
            Assert.Equal(LineStatus.Complete, SmtpLineReader.TryReadLine(b3, max, out var l3, out _));
            Assert.Equal(max - 1, l3.Length);

            // max - 1 bytes without LF: still incomplete; max bytes: too long.
            Assert.Equal(LineStatus.Incomplete, SmtpLineReader.TryReadLine(factory.CreateWithContent(new string('a', max - 1)), max, out _, out _));
            Assert.Equal(LineStatus.TooLong, SmtpLineReader.TryReadLine(factory.CreateWithContent(new string('a', max)), max, out _, out _));
        }
    }

    [Fact]
    public void Never_searches_beyond_max_length()
    {
        // A LF after the limit must not make a too-long line acceptable.
        var buffer = ReadOnlySequenceFactory.SplitAt(B(new string('a', 600) + "\r\n"), 300);
        Assert.Equal(LineStatus.TooLong, SmtpLineReader.TryReadLine(buffer, 512, out _, out _));
    }

    [Fact]
    public void Skip_line_discards_through_lf()
    {
        byte[] data = B("garbage garbage\r\nNOOP\r\n");
        foreach ((int position, ReadOnlySequence<byte> buffer) in ReadOnlySequenceFactory.AllSplits(data))
        {
            Assert.True(SmtpLineReader.TrySkipLine(buffer, out var consumed), $"split {position}");
            Assert.Equal(17, buffer.Slice(buffer.Start, consumed).Length);
        }

        var noLf = ReadOnlySequenceFactory.SplitAt(B("xxxx"), 2);
        Assert.False(SmtpLineReader.TrySkipLine(noLf, out var end));
        Assert.Equal(noLf.End, end);
    }

    [Fact]
    public void Too_long_then_skip_resynchronizes_byte_by_byte()
    {
        byte[] data = B(new string('x', 40) + "\r\nNOOP\r\n");
        var results = new List<string>();
        byte[] pending = [];
        bool skipping = false;
        foreach (byte b in data)
        {
            var buffer = ReadOnlySequenceFactory.CreateSegments(pending, [b]);
            while (!buffer.IsEmpty)
            {
                if (skipping)
                {
                    skipping = !SmtpLineReader.TrySkipLine(buffer, out var skipped);
                    buffer = buffer.Slice(skipped);
                    continue;
                }

                var status = SmtpLineReader.TryReadLine(buffer, 16, out var line, out var consumed);
                if (status == LineStatus.TooLong)
                {
                    results.Add("<too long>");
                    skipping = true;
                    continue;
                }

                if (status == LineStatus.Incomplete)
                {
                    break;
                }

                results.Add(S(line));
                buffer = buffer.Slice(consumed);
            }

            pending = buffer.ToArray();
        }

        Assert.Equal(["<too long>", "NOOP"], results);
    }
}
