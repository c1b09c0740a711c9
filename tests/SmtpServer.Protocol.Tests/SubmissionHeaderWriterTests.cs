using System.Buffers;
using System.Text;
using SmtpServer.Protocol;
using SmtpServer.Testing;

namespace SmtpServer.Protocol.Tests;

/// <summary>
/// The submission header stage between the DATA reader and the spool: Message-ID/Date when
/// missing, and masquerade's From: rewrite, with the input cut at every position and fed byte by
/// byte, as the other content tests do.
/// </summary>
public class SubmissionHeaderWriterTests
{
    private const string Sender = "alice@example.org";
    private static readonly MessageContentLimits Limits = new(1_000_000, 1000, 100_000, 100, BareLineEndingPolicy.Reject);

    private static SubmissionHeaderWriter Writer(IBufferWriter<byte> inner, bool submission, string? masquerade) => new(
        inner,
        submission ? () => "<id.1@mx.test>" : null,
        submission ? () => "Thu, 01 Jan 2026 00:00:00 +0000" : null,
        masquerade);

    /// <summary>Runs DATA content (without the final dot) through DataReader and the writer, every way of cutting it; all must agree.</summary>
    private static string Data(string content, bool submission = false, string? masquerade = Sender)
    {
        var data = Encoding.UTF8.GetBytes(content + ".\r\n");
        var results = new List<(string How, string Output)>();

        string Once(ReadOnlySequence<byte> buffer)
        {
            var inner = new ArrayBufferWriter<byte>();
            var writer = Writer(inner, submission, masquerade);
            var reader = new DataReader(Limits);
            Assert.Equal(DataReadResult.Completed, reader.Read(buffer, writer, out _));
            Assert.Equal(MessageContentError.None, reader.Error);
            writer.Complete();
            return Encoding.UTF8.GetString(inner.WrittenSpan);
        }

        results.Add(("whole", Once(new ReadOnlySequence<byte>(data))));
        foreach (var (position, sequence) in ReadOnlySequenceFactory.AllSplits(data))
        {
            results.Add(($"split at {position}", Once(sequence)));
        }

        results.Add(("one segment per byte", Once(ReadOnlySequenceFactory.SegmentPerByte(data))));
        foreach (var piece in new[] { 1, 2, 3, 7 })
        {
            var inner = new ArrayBufferWriter<byte>();
            var writer = Writer(inner, submission, masquerade);
            var reader = new DataReader(Limits);
            var consumed = PipeFeeder.Feed(PipeFeeder.Chunks(data, piece), (in ReadOnlySequence<byte> buffer, out SequencePosition used) =>
                reader.Read(buffer, writer, out used) == DataReadResult.Completed);
            Assert.Equal(data.Length, consumed);
            writer.Complete();
            results.Add(($"fed in pieces of {piece}", Encoding.UTF8.GetString(inner.WrittenSpan)));
        }

        var first = results[0].Output;
        Assert.All(results, r => Assert.True(r.Output == first, $"{r.How}: {r.Output}"));
        return first;
    }

    [Fact]
    public void Masquerade_replaces_the_address_and_keeps_the_display_name()
    {
        Assert.Equal(
            "Subject: hi\r\nFrom: Other Person <alice@example.org>\r\nTo: b@x\r\n\r\nbody\r\nFrom: Other <other@evil.example>\r\n",
            Data("Subject: hi\r\nFrom: Other Person <other@evil.example>\r\nTo: b@x\r\n\r\nbody\r\nFrom: Other <other@evil.example>\r\n"));
    }

    [Fact]
    public void A_folded_from_with_encoded_words_keeps_its_folding()
    {
        Assert.Equal(
            "From: =?UTF-8?B?w4lsb2TDrWU=?=\r\n =?UTF-8?Q?Person?= <alice@example.org>\r\nSubject: x\r\n\r\nb\r\n",
            Data("From: =?UTF-8?B?w4lsb2TDrWU=?=\r\n =?UTF-8?Q?Person?=\r\n\t<other@evil.example>\r\nSubject: x\r\n\r\nb\r\n"));
    }

    [Fact]
    public void Every_from_field_is_rewritten_and_a_list_becomes_the_sender()
    {
        Assert.Equal(
            "from: A <alice@example.org>\r\nSubject: x\r\nFROM: alice@example.org\r\n\r\nb\r\n",
            Data("from: A <a@evil.example>, B <b@evil.example>\r\nSubject: x\r\nFROM: c@evil.example\r\n\r\nb\r\n"));
    }

    [Theory]
    [InlineData("From: undisclosed-senders:;\r\n")]
    [InlineData("From: \"never closed <other@evil.example>\r\n")]
    [InlineData("From: <other@evil.example\r\n")]
    [InlineData("From:\r\n")]
    public void A_from_that_does_not_parse_still_names_only_the_sender(string field)
    {
        Assert.Equal("From: alice@example.org\r\nSubject: x\r\n\r\nb\r\n", Data(field + "Subject: x\r\n\r\nb\r\n"));
    }

    [Fact]
    public void Folded_lines_before_the_first_field_do_not_end_the_header_and_hide_a_from()
    {
        // The header section as MessageContentWriter (and mail readers) see it: the From: below
        // the stray folded lines is a field and must be rewritten, not left as if it were body.
        Assert.Equal(
            " x\r\n\ty\r\nFrom: CEO <alice@example.org>\r\nSubject: s\r\n\r\nb\r\n",
            Data(" x\r\n\ty\r\nFrom: CEO <ceo@corp.example>\r\nSubject: s\r\n\r\nb\r\n"));
    }

    [Fact]
    public void Fields_that_only_look_like_from_are_left_alone()
    {
        const string content = "X-From: a@evil.example\r\nFrom-Original: a@evil.example\r\nResent-From: a@evil.example\r\nFrom: alice@example.org\r\n\r\nb\r\n";
        Assert.Equal(content, Data(content));
    }

    [Fact]
    public void A_missing_from_is_added_at_the_end_of_the_header_section()
    {
        Assert.Equal("Subject: x\r\nFrom: alice@example.org\r\n\r\nFrom: body\r\n", Data("Subject: x\r\n\r\nFrom: body\r\n"));
    }

    [Fact]
    public void With_submission_the_missing_fields_come_after_the_rewritten_ones()
    {
        Assert.Equal(
            "Subject: x\r\nFrom: Me <alice@example.org>\r\nMessage-ID: <id.1@mx.test>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\nb\r\n",
            Data("Subject: x\r\nFrom: Me <me@evil.example>\r\n\r\nb\r\n", submission: true));
        Assert.Equal(
            "Subject: x\r\nMessage-ID: <id.1@mx.test>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\nFrom: alice@example.org\r\n\r\nb\r\n",
            Data("Subject: x\r\n\r\nb\r\n", submission: true));
    }

    [Fact]
    public void Without_masquerade_from_is_not_touched()
    {
        Assert.Equal(
            "From: Other <other@evil.example>\r\nMessage-ID: <id.1@mx.test>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\nb\r\n",
            Data("From: Other <other@evil.example>\r\n\r\nb\r\n", submission: true, masquerade: null));
    }

    [Fact]
    public void A_message_that_is_all_header_and_ends_without_crlf_is_fixed_too()
    {
        // BDAT content need not end with CRLF; the last line is still a field.
        static string Bdat(string content, bool submission)
        {
            var inner = new ArrayBufferWriter<byte>();
            var writer = Writer(inner, submission, Sender);
            var reader = new BdatReader(Limits);
            var data = Encoding.UTF8.GetBytes(content);
            reader.BeginChunk(data.Length, last: true);
            Assert.Equal(DataReadResult.Completed, reader.Read(new ReadOnlySequence<byte>(data), writer, out _));
            reader.Complete(writer);
            writer.Complete();
            return Encoding.UTF8.GetString(inner.WrittenSpan);
        }

        Assert.Equal("Subject: x\r\nFrom: Other <alice@example.org>\r\n", Bdat("Subject: x\r\nFrom: Other <other@evil.example>", submission: false));
        Assert.Equal("Subject: x\r\nFrom: alice@example.org\r\n", Bdat("Subject: x", submission: false));
        Assert.Equal(
            "From: alice@example.org\r\nMessage-ID: <id.1@mx.test>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n",
            Bdat("From: x@evil.example", submission: true));
    }
}
