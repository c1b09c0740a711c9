using System.Text;

namespace SmtpServer.Tests.Infrastructure;

/// <summary>A committed message file split into our Received header and what the client sent.</summary>
internal sealed record SpoolMessage(string Received, byte[] Content)
{
    public string ContentText => Encoding.UTF8.GetString(Content);

    /// <summary>
    /// Splits off the Received field we prepend (its first line and the folded lines after it);
    /// fails when the file does not start with one.
    /// </summary>
    public static SpoolMessage Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.AsSpan().StartsWith("Received: from "u8), $"{path} does not start with our Received header");
        var position = 0;
        while (true)
        {
            var end = bytes.AsSpan(position).IndexOf("\r\n"u8);
            Assert.True(end >= 0, $"{path}: Received header without CRLF");
            position += end + 2;
            if (position >= bytes.Length || (bytes[position] != (byte)'\t' && bytes[position] != (byte)' '))
            {
                break;
            }
        }

        return new SpoolMessage(Encoding.UTF8.GetString(bytes, 0, position), bytes[position..]);
    }

    /// <summary>LF or CRLF text as CRLF bytes: the canonical form the spool holds.</summary>
    public static byte[] Crlf(byte[] text)
    {
        var output = new List<byte>(text.Length + (text.Length / 40));
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == (byte)'\n' && (i == 0 || text[i - 1] != (byte)'\r'))
            {
                output.Add((byte)'\r');
            }

            output.Add(text[i]);
        }

        return [.. output];
    }
}
