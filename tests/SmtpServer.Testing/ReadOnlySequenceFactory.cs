using System.Buffers;
using System.Text;

namespace SmtpServer.Testing;

/// <summary>
/// Builds <see cref="ReadOnlySequence{T}"/> inputs for parser tests, after Kestrel's
/// src/Shared/Buffers.Testing/ReadOnlySequenceFactory.cs: single segment, one segment per byte,
/// split at chosen positions. Each segment is a slice in the middle of a larger array filled with
/// junk, so a parser that reads outside its segment sees garbage instead of the right byte.
/// </summary>
public abstract class ReadOnlySequenceFactory
{
    public static ReadOnlySequenceFactory ArrayFactory { get; } = new ArrayTestSequenceFactory();

    public static ReadOnlySequenceFactory SegmentPerByteFactory { get; } = new BytePerSegmentTestSequenceFactory();

    public static ReadOnlySequenceFactory SplitInTwoFactory { get; } = new SplitInTwoTestSequenceFactory();

    /// <summary>The factories to run a theory over.</summary>
    public static IEnumerable<object[]> All =>
    [
        [ArrayFactory],
        [SegmentPerByteFactory],
        [SplitInTwoFactory],
    ];

    public abstract ReadOnlySequence<byte> CreateWithContent(byte[] data);

    public ReadOnlySequence<byte> CreateWithContent(string data) => CreateWithContent(Encoding.UTF8.GetBytes(data));

    public ReadOnlySequence<byte> CreateOfSize(int size) => CreateWithContent(new byte[size]);

    /// <summary>One segment per array, each padded with junk on both sides.</summary>
    public static ReadOnlySequence<byte> CreateSegments(params byte[][] inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        BufferSegment? first = null;
        BufferSegment? last = null;
        foreach (byte[] input in inputs)
        {
            // Junk around the data: 0xFF is neither CR, LF nor '.', and not valid UTF-8.
            byte[] padded = new byte[input.Length + 20];
            padded.AsSpan().Fill(0xFF);
            input.CopyTo(padded, 10);
            var memory = new ReadOnlyMemory<byte>(padded, 10, input.Length);
            if (first is null)
            {
                first = last = new BufferSegment(memory);
            }
            else
            {
                last = last!.Append(memory);
            }
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    /// <summary>Splits <paramref name="data"/> at the given offsets (each segment may be empty).</summary>
    public static ReadOnlySequence<byte> SplitAt(byte[] data, params int[] offsets)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(offsets);
        var parts = new List<byte[]>();
        int start = 0;
        foreach (int offset in offsets)
        {
            parts.Add(data[start..offset]);
            start = offset;
        }

        parts.Add(data[start..]);
        return CreateSegments([.. parts]);
    }

    /// <summary>Every two-segment split of <paramref name="data"/>: (position, sequence) for positions 0..Length.</summary>
    public static IEnumerable<(int Position, ReadOnlySequence<byte> Sequence)> AllSplits(byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        for (int i = 0; i <= data.Length; i++)
        {
            yield return (i, SplitAt(data, i));
        }
    }

    public static ReadOnlySequence<byte> SegmentPerByte(byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return CreateSegments([.. data.Select(b => new[] { b })]);
    }

    private sealed class ArrayTestSequenceFactory : ReadOnlySequenceFactory
    {
        public override ReadOnlySequence<byte> CreateWithContent(byte[] data)
        {
            var padded = new byte[data.Length + 20];
            data.CopyTo(padded, 10);
            return new ReadOnlySequence<byte>(padded, 10, data.Length);
        }

        public override string ToString() => "Array";
    }

    private sealed class BytePerSegmentTestSequenceFactory : ReadOnlySequenceFactory
    {
        public override ReadOnlySequence<byte> CreateWithContent(byte[] data) => SegmentPerByte(data);

        public override string ToString() => "SegmentPerByte";
    }

    private sealed class SplitInTwoTestSequenceFactory : ReadOnlySequenceFactory
    {
        public override ReadOnlySequence<byte> CreateWithContent(byte[] data) => SplitAt(data, data.Length / 2);

        public override string ToString() => "SplitInTwo";
    }

    private sealed class BufferSegment : ReadOnlySequenceSegment<byte>
    {
        public BufferSegment(ReadOnlyMemory<byte> memory)
        {
            Memory = memory;
        }

        public BufferSegment Append(ReadOnlyMemory<byte> memory)
        {
            var segment = new BufferSegment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = segment;
            return segment;
        }
    }
}
