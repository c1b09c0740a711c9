using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using SmtpServer.Protocol;

namespace SmtpServer.Benchmarks;

/// <summary>A ~100 KB message of 80-character lines through DataReader into a reused buffer: 0 B per message.</summary>
[MemoryDiagnoser]
public class DataReaderBenchmarks
{
    private readonly DataReader _reader = new(MessageContentLimits.Default);
    private readonly ArrayBufferWriter<byte> _output = new(128 * 1024);
    private ReadOnlySequence<byte> _single;
    private ReadOnlySequence<byte> _segmented;

    [GlobalSetup]
    public void Setup()
    {
        var sb = new StringBuilder();
        sb.Append("Received: from a by b\r\nSubject: benchmark\r\nFrom: <a@b>\r\n\r\n");
        for (int i = 0; sb.Length < 100 * 1024; i++)
        {
            sb.Append(i % 50 == 0 ? '.' : 'x').Append('y', 79).Append("\r\n");
        }

        sb.Append(".\r\n");
        byte[] data = Encoding.ASCII.GetBytes(sb.ToString());
        _single = new ReadOnlySequence<byte>(data);
        _segmented = Segments(data, 4096); // what a Pipe typically hands over
    }

    [Benchmark(Baseline = true)]
    public long SingleSegment() => Read(_single);

    [Benchmark]
    public long Segments4K() => Read(_segmented);

    private long Read(in ReadOnlySequence<byte> buffer)
    {
        _reader.Reset();
        _output.ResetWrittenCount();
        _reader.Read(buffer, _output, out _);
        return _reader.Size;
    }

    private static ReadOnlySequence<byte> Segments(byte[] data, int size)
    {
        Segment? first = null;
        Segment? last = null;
        for (int i = 0; i < data.Length; i += size)
        {
            var memory = new ReadOnlyMemory<byte>(data, i, Math.Min(size, data.Length - i));
            if (first is null)
            {
                first = last = new Segment(memory, 0);
            }
            else
            {
                var next = new Segment(memory, last!.RunningIndex + last.Memory.Length);
                last.SetNext(next);
                last = next;
            }
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public void SetNext(Segment next) => Next = next;
    }
}
