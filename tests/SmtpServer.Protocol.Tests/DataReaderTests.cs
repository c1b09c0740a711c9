using System.Buffers;
using System.Text;
using SmtpServer.Protocol;
using SmtpServer.Testing;

namespace SmtpServer.Protocol.Tests;

public class DataReaderTests
{
    private static readonly MessageContentLimits Limits = new(1_000_000, 1000, 100_000, 100, BareLineEndingPolicy.Reject);
    private static readonly MessageContentLimits Normalize = Limits with { BareLineEndings = BareLineEndingPolicy.Normalize };

    private static byte[] B(string s) => Encoding.Latin1.GetBytes(s);

    private sealed record Outcome(bool Completed, string Output, long Consumed, MessageContentError Error, long Size);

    private static Outcome Run(DataReader reader, in ReadOnlySequence<byte> buffer)
    {
        var output = new ArrayBufferWriter<byte>();
        DataReadResult result = reader.Read(buffer, output, out SequencePosition consumed);
        if (result == DataReadResult.NeedMoreData)
        {
            Assert.Equal(buffer.End, consumed);
        }

        return new Outcome(result == DataReadResult.Completed, Encoding.Latin1.GetString(output.WrittenSpan), buffer.Slice(buffer.Start, consumed).Length, reader.Error, reader.Size);
    }

    // After an error the output is to be discarded; how much of it was written depends on the splits.
    private static bool Same(Outcome a, Outcome b) =>
        a.Error == b.Error && a.Completed == b.Completed && a.Consumed == b.Consumed && a.Size == b.Size
        && (a.Error != MessageContentError.None || a.Output == b.Output);

    /// <summary>Feeds the input whole, split at every position, one segment per byte, and byte by byte through a simulated pipe; all must agree.</summary>
    private static Outcome RunAllWays(string input, MessageContentLimits? limits = null)
    {
        limits ??= Limits;
        byte[] data = B(input);
        var reader = new DataReader(limits);
        Outcome whole = Run(reader, new ReadOnlySequence<byte>(data));

        foreach ((int position, ReadOnlySequence<byte> sequence) in ReadOnlySequenceFactory.AllSplits(data))
        {
            reader.Reset();
            Outcome split = Run(reader, sequence);
            Assert.True(Same(whole, split), $"split at {position}: {split} vs {whole}");
        }

        reader.Reset();
        Assert.True(Same(whole, Run(reader, ReadOnlySequenceFactory.SegmentPerByte(data))));

        foreach (int chunk in new[] { 1, 2, 3, 7 })
        {
            reader.Reset();
            var output = new ArrayBufferWriter<byte>();
            long consumed = PipeFeeder.Feed(PipeFeeder.Chunks(data, chunk), (in ReadOnlySequence<byte> buffer, out SequencePosition c) =>
            {
                DataReadResult r = reader.Read(buffer, output, out c);
                if (r == DataReadResult.NeedMoreData)
                {
                    Assert.Equal(buffer.End, c);
                }

                return r == DataReadResult.Completed;
            });
            var fed = new Outcome(consumed >= 0, Encoding.Latin1.GetString(output.WrittenSpan), consumed >= 0 ? consumed : data.Length, reader.Error, reader.Size);
            Assert.True(Same(whole, fed), $"fed in pieces of {chunk}: {fed} vs {whole}");
        }

        return whole;
    }

    private static void AssertMessage(string input, string expectedContent, int expectedConsumed = -1, MessageContentLimits? limits = null)
    {
        Outcome outcome = RunAllWays(input, limits);
        Assert.True(outcome.Completed);
        Assert.Equal(MessageContentError.None, outcome.Error);
        Assert.Equal(expectedContent, outcome.Output);
        Assert.Equal(expectedContent.Length, outcome.Size);
        Assert.Equal(expectedConsumed < 0 ? input.Length : expectedConsumed, outcome.Consumed);
    }

    private static void AssertError(string input, MessageContentError error, int expectedConsumed = -1, MessageContentLimits? limits = null)
    {
        Outcome outcome = RunAllWays(input, limits);
        Assert.True(outcome.Completed);
        Assert.Equal(error, outcome.Error);
        Assert.Equal(expectedConsumed < 0 ? input.Length : expectedConsumed, outcome.Consumed);
    }

    [Fact]
    public void Simple_message() => AssertMessage("Subject: x\r\n\r\nHello\r\n.\r\n", "Subject: x\r\n\r\nHello\r\n");

    [Fact]
    public void Terminator_at_start_is_an_empty_message() => AssertMessage(".\r\n", "");

    [Fact]
    public void Dot_unstuffing()
    {
        AssertMessage("..x\r\n.\r\n", ".x\r\n");
        AssertMessage("a\r\n..\r\n...\r\n.x\r\n.\r\n", "a\r\n.\r\n..\r\nx\r\n");
        AssertMessage("a.\r\nb..c\r\n.\r\n", "a.\r\nb..c\r\n");
        AssertMessage(". \r\n.\r\n", " \r\n");
    }

    [Fact]
    public void Bytes_after_the_terminator_are_not_consumed()
    {
        AssertMessage("a\r\n.\r\nQUIT\r\n", "a\r\n", expectedConsumed: 6);
        AssertMessage(".\r\nMAIL FROM:<a@b>\r\n", "", expectedConsumed: 3);
    }

    [Fact]
    public void Incomplete_terminator_needs_more_data()
    {
        foreach (string partial in new[] { "a\r\n", "a\r\n.", "a\r\n.\r", "a\r", "", "." })
        {
            Outcome outcome = RunAllWays(partial);
            Assert.False(outcome.Completed, partial);
            Assert.Equal(MessageContentError.None, outcome.Error);
        }
    }

    [Fact]
    public void Terminator_split_across_reads_keeps_state()
    {
        var reader = new DataReader(Limits);
        var output = new ArrayBufferWriter<byte>();
        Assert.Equal(DataReadResult.NeedMoreData, reader.Read(new ReadOnlySequence<byte>(B("a\r")), output, out _));
        Assert.Equal(DataReadResult.NeedMoreData, reader.Read(new ReadOnlySequence<byte>(B("\n.")), output, out _));
        Assert.Equal(DataReadResult.NeedMoreData, reader.Read(new ReadOnlySequence<byte>(B("\r")), output, out _));
        var last = new ReadOnlySequence<byte>(B("\nNOOP\r\n"));
        Assert.Equal(DataReadResult.Completed, reader.Read(last, output, out SequencePosition consumed));
        Assert.Equal(1, last.Slice(last.Start, consumed).Length);
        Assert.Equal("a\r\n", Encoding.Latin1.GetString(output.WrittenSpan));
    }

    [Theory]
    [InlineData("a\n.\n")]
    [InlineData("a\r.\r")]
    [InlineData("a\n.\r\n")]
    [InlineData("a\r.\r\n")]
    [InlineData("a\r\n.\n")]
    [InlineData("a\r\n.\r")]
    [InlineData("\n.\r\n")]
    public void Smuggling_sequences_are_not_terminators(string input)
    {
        foreach (var limits in new[] { Limits, Normalize })
        {
            Outcome outcome = RunAllWays(input, limits);
            Assert.False(outcome.Completed, $"{input} with {limits.BareLineEndings}");
        }
    }

    [Fact]
    public void Smuggled_command_is_swallowed_until_the_real_terminator()
    {
        // The classic: "\n.\n" then a smuggled transaction. Everything up to CRLF.CRLF is data.
        const string input = "a\n.\nMAIL FROM:<evil@x>\r\n.\r\nQUIT\r\n";
        Outcome rejected = RunAllWays(input);
        Assert.True(rejected.Completed);
        Assert.Equal(MessageContentError.BareLineEnding, rejected.Error);
        Assert.Equal(input.IndexOf(".\r\nQUIT", StringComparison.Ordinal) + 3, rejected.Consumed);

        AssertMessage(input, "a\r\n\r\nMAIL FROM:<evil@x>\r\n", expectedConsumed: input.Length - 6, limits: Normalize);
    }

    [Theory]
    [InlineData("a\nb\r\n.\r\n")]
    [InlineData("a\rb\r\n.\r\n")]
    [InlineData("a\r\r\n.\r\n")]
    [InlineData("\n\r\n.\r\n")]
    [InlineData("a\r\n.\rx\r\n.\r\n")]
    [InlineData("a\r\n.\nx\r\n.\r\n")]
    public void Bare_line_endings_are_rejected_and_consumed_to_the_terminator(string input) =>
        AssertError(input, MessageContentError.BareLineEnding);

    [Theory]
    [InlineData("a\nb\r\n.\r\n", "a\r\nb\r\n")]
    [InlineData("a\rb\r\n.\r\n", "a\r\nb\r\n")]
    [InlineData("a\r\r\n.\r\n", "a\r\n\r\n")]
    [InlineData("a\n\nb\r\n.\r\n", "a\r\n\r\nb\r\n")]
    [InlineData("a\r\n.\rx\r\n.\r\n", "a\r\n\r\nx\r\n")]
    [InlineData("a\r\n..\nx\r\n.\r\n", "a\r\n.\r\nx\r\n")]
    [InlineData("a\n..x\r\n.\r\n", "a\r\n.x\r\n")]
    public void Bare_line_endings_are_normalized(string input, string expected) =>
        AssertMessage(input, expected, limits: Normalize);

    [Fact]
    public void Too_large_continues_to_the_terminator()
    {
        var limits = Limits with { MaxMessageSize = 10 };
        AssertMessage("12345678\r\n.\r\n", "12345678\r\n", limits: limits);
        AssertError("123456789\r\n.\r\nQUIT\r\n", MessageContentError.TooLarge, expectedConsumed: 14, limits: limits);
        Outcome outcome = RunAllWays("123456789\r\n" + string.Concat(Enumerable.Repeat("more\r\n", 50)) + ".\r\n", limits);
        Assert.True(outcome.Completed);
        Assert.Equal(MessageContentError.TooLarge, outcome.Error);
        Assert.Equal(11 + (50 * 6), outcome.Size);
        Assert.True(outcome.Output.Length <= 11, "stops writing after the limit");
    }

    [Fact]
    public void Line_length_includes_crlf()
    {
        var limits = Limits with { MaxLineLength = 10 };
        AssertMessage("12345678\r\n.\r\n", "12345678\r\n", limits: limits);
        AssertError("123456789\r\n.\r\n", MessageContentError.LineTooLong, limits: limits);

        // The stuffing dot is not stored and not counted.
        AssertMessage("..2345678\r\n.\r\n", ".2345678\r\n", limits: limits);
        AssertError(new string('x', 5000) + "\r\n.\r\nNOOP\r\n", MessageContentError.LineTooLong, expectedConsumed: 5005, limits: limits);
    }

    [Fact]
    public void Received_headers_loop_detection()
    {
        string Headers(int n) => string.Concat(Enumerable.Repeat("Received: from x by y\r\n", n));
        Outcome ok = RunAllWays(Headers(99) + "Subject: s\r\n\r\nbody\r\n.\r\n");
        Assert.Equal(MessageContentError.None, ok.Error);
        AssertError(Headers(100) + "\r\nbody\r\n.\r\n", MessageContentError.TooManyHops);

        // Case-insensitive, and only at the start of a header line within the header section.
        Assert.Equal(MessageContentError.TooManyHops, RunAllWays(string.Concat(Enumerable.Repeat("rEcEiVeD:x\r\n", 100)) + ".\r\n").Error);
        Assert.Equal(MessageContentError.None, RunAllWays("S: x\r\n" + string.Concat(Enumerable.Repeat(" Received: x\r\n", 120)) + ".\r\n").Error);
        Assert.Equal(MessageContentError.None, RunAllWays("S: x\r\n\r\n" + Headers(120) + ".\r\n").Error);
        Assert.Equal(MessageContentError.None, RunAllWays(string.Concat(Enumerable.Repeat("X-Received: x\r\nReceivedX: y\r\n", 120)) + ".\r\n").Error);
    }

    [Fact]
    public void Received_limit_is_configurable()
    {
        var limits = Limits with { MaxReceivedHeaders = 2 };
        AssertError("Received: a\r\nReceived: b\r\n\r\n.\r\n", MessageContentError.TooManyHops, limits: limits);
        Assert.Equal(MessageContentError.None, RunAllWays("Received: a\r\n\r\n.\r\n", limits).Error);
    }

    [Fact]
    public void Header_section_size()
    {
        var limits = Limits with { MaxHeaderSize = 20 };
        AssertMessage("A: 123456789012345\r\n\r\nbody body body body body\r\n.\r\n", "A: 123456789012345\r\n\r\nbody body body body body\r\n", limits: limits); // 20 with CRLF
        AssertError("A: 1234567890123456\r\n\r\nbody\r\n.\r\n", MessageContentError.HeaderTooLarge, limits: limits);
        AssertError("A: 1234\r\nB: 1234\r\n 12345\r\n\r\n.\r\n", MessageContentError.HeaderTooLarge, limits: limits);

        // A line that is not "name:" ends the header section (a message without headers).
        Assert.Equal(MessageContentError.None, RunAllWays("just some text here\r\nmore text more text more\r\n.\r\n", limits).Error);
    }

    [Fact]
    public void Reset_starts_a_new_transaction()
    {
        var reader = new DataReader(Limits with { MaxMessageSize = 5 });
        var output = new ArrayBufferWriter<byte>();
        Assert.Equal(DataReadResult.Completed, reader.Read(new ReadOnlySequence<byte>(B("123456\r\n.\r\n")), output, out _));
        Assert.Equal(MessageContentError.TooLarge, reader.Error);
        reader.Reset();
        output.Clear();
        Assert.Equal(DataReadResult.Completed, reader.Read(new ReadOnlySequence<byte>(B("1\r\n.\r\n")), output, out _));
        Assert.Equal(MessageContentError.None, reader.Error);
        Assert.Equal(3, reader.Size);
        Assert.Equal("1\r\n", Encoding.Latin1.GetString(output.WrittenSpan));
    }

    [Fact]
    public void Large_message_matches_expected_content()
    {
        var sb = new StringBuilder();
        var expected = new StringBuilder();
        for (int i = 0; i < 200; i++)
        {
            string line = (i % 7 == 3 ? "." : "") + new string((char)('a' + (i % 26)), i % 90);
            sb.Append(line).Append("\r\n");
            expected.Append(i % 7 == 3 ? line[1..] : line).Append("\r\n");
        }

        var reader = new DataReader(Limits);
        byte[] data = B(sb + ".\r\n");
        foreach (int chunk in new[] { 1, 5, 64, 4096 })
        {
            reader.Reset();
            var output = new ArrayBufferWriter<byte>();
            long consumed = PipeFeeder.Feed(PipeFeeder.Chunks(data, chunk), (in ReadOnlySequence<byte> buffer, out SequencePosition c) =>
                reader.Read(buffer, output, out c) == DataReadResult.Completed);
            Assert.Equal(data.Length, consumed);
            Assert.Equal(expected.ToString(), Encoding.Latin1.GetString(output.WrittenSpan));
        }
    }

    [Fact]
    public void Replies_for_content_errors()
    {
        Assert.Equal((552, "5.3.4"), Pair(SmtpReplies.For(MessageContentError.TooLarge)));
        Assert.Equal((554, "5.6.0"), Pair(SmtpReplies.For(MessageContentError.LineTooLong)));
        Assert.Equal((550, "5.6.11"), Pair(SmtpReplies.For(MessageContentError.BareLineEnding)));
        Assert.Equal((552, "5.3.4"), Pair(SmtpReplies.For(MessageContentError.HeaderTooLarge)));
        Assert.Equal((554, "5.4.6"), Pair(SmtpReplies.For(MessageContentError.TooManyHops)));
        Assert.Throws<ArgumentOutOfRangeException>(() => SmtpReplies.For(MessageContentError.None));

        static (int, string?) Pair(SmtpReply r) => (r.Code, r.Status);
    }
}
