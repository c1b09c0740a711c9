using System.Buffers;
using BenchmarkDotNet.Attributes;
using SmtpServer.Protocol;

namespace SmtpServer.Benchmarks;

/// <summary>Line framing + verb dispatch must not allocate; RCPT allocates only the address strings and the record.</summary>
[MemoryDiagnoser]
public class CommandParserBenchmarks
{
    private readonly ReadOnlySequence<byte> _noop = new("NOOP\r\n"u8.ToArray());
    private readonly ReadOnlySequence<byte> _rcpt = new("RCPT TO:<a@b>\r\n"u8.ToArray());

    [Benchmark]
    public int FrameAndParseNoop() => (int)FrameAndParse(_noop);

    [Benchmark]
    public int FrameAndParseRcptVerb() => (int)FrameAndParse(_rcpt);

    [Benchmark]
    public string? FrameAndParseRcptFull()
    {
        SmtpLineReader.TryReadLine(_rcpt, 512, out ReadOnlySequence<byte> line, out _);
        SmtpCommandParser.ParseVerb(line.FirstSpan, out ReadOnlySpan<byte> arguments);
        SmtpCommandParser.TryParseRcpt(arguments, smtpUtf8: false, out Mailbox? recipient, out _, out _);
        return recipient?.LocalPart;
    }

    private static SmtpVerb FrameAndParse(in ReadOnlySequence<byte> buffer)
    {
        SmtpLineReader.TryReadLine(buffer, 512, out ReadOnlySequence<byte> line, out _);
        return SmtpCommandParser.ParseVerb(line.FirstSpan, out _);
    }
}
