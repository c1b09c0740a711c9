using System.Buffers;

namespace SmtpServer.Delivery;

/// <summary>Dot-stuffing (RFC 5321 §4.5.2) of a CRLF message, in any split, ending with CRLF.CRLF.</summary>
internal sealed class DotStuffer
{
    private bool _atLineStart = true;
    private byte _last1; // the last byte written

    public void Write(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        while (!input.IsEmpty)
        {
            if (_atLineStart && input[0] == '.')
            {
                output.Write("."u8);
            }

            var lf = input.IndexOf((byte)'\n');
            var run = lf < 0 ? input : input[..(lf + 1)];
            output.Write(run);
            _last1 = run[^1];
            _atLineStart = lf >= 0;
            input = input[run.Length..];
        }
    }

    public void Complete(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);

        // The terminator needs the message to end with CRLF; an empty message is just the dot.
        if (!_atLineStart)
        {
            output.Write(_last1 == '\r' ? "\n"u8 : "\r\n"u8);
        }

        output.Write(".\r\n"u8);
    }
}
