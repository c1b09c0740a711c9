using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;

namespace SmtpServer.Testing;

/// <summary>
/// A raw SMTP client for tests: writes exact bytes and reads whole replies (multi-line
/// included) from any pair of pipes, in memory or over a socket. It does no SMTP logic of its
/// own, so it can send what no well-behaved client would.
/// </summary>
public sealed class SmtpTestClient : IAsyncDisposable
{
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly IAsyncDisposable? _owner;

    public SmtpTestClient(PipeReader input, PipeWriter output, IAsyncDisposable? owner = null)
    {
        _input = input;
        _output = output;
        _owner = owner;
    }

    public static async Task<SmtpTestClient> ConnectAsync(System.Net.IPEndPoint endPoint, CancellationToken cancellationToken = default)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint, cancellationToken);
        var stream = new NetworkStream(socket, ownsSocket: true);
        return new SmtpTestClient(PipeReader.Create(stream), PipeWriter.Create(stream), stream);
    }

    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    public async Task SendAsync(string text)
    {
        await _output.WriteAsync(Encoding.UTF8.GetBytes(text));
    }

    public async Task SendAsync(byte[] bytes)
    {
        await _output.WriteAsync(bytes);
    }

    /// <summary>Reads one whole reply; returns its lines as received, without CRLF.</summary>
    public async Task<SmtpTestReply> ReadReplyAsync()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var lines = new List<string>();
        while (true)
        {
            var result = await _input.ReadAsync(cts.Token);
            var buffer = result.Buffer;
            while (TryReadLine(ref buffer, out var line))
            {
                lines.Add(line);
                if (line.Length < 4 || line[3] != '-')
                {
                    _input.AdvanceTo(buffer.Start);
                    return new SmtpTestReply(lines);
                }
            }

            _input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                throw new EndOfStreamException(lines.Count == 0 ? "connection closed, no reply" : $"connection closed inside a reply: {string.Join(" | ", lines)}");
            }
        }
    }

    /// <summary>Sends a line (CRLF added) and reads the reply.</summary>
    public async Task<SmtpTestReply> CommandAsync(string line)
    {
        await SendAsync(line + "\r\n");
        return await ReadReplyAsync();
    }

    /// <summary>True when the server closed the connection (reads to the end, bounded by Timeout).</summary>
    public async Task<bool> IsClosedAsync()
    {
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            while (true)
            {
                var result = await _input.ReadAsync(cts.Token);
                _input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return true;
                }
            }
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>Returns whatever bytes arrive within the delay (to prove that no reply came).</summary>
    public async Task<string> ReadAvailableAsync(TimeSpan wait)
    {
        using var cts = new CancellationTokenSource(wait);
        var text = new StringBuilder();
        try
        {
            while (true)
            {
                var result = await _input.ReadAsync(cts.Token);
                text.Append(Encoding.UTF8.GetString(result.Buffer));
                _input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        return text.ToString();
    }

    public async Task CompleteOutputAsync() => await _output.CompleteAsync();

    private static bool TryReadLine(ref ReadOnlySequence<byte> buffer, out string line)
    {
        var position = buffer.PositionOf((byte)'\n');
        if (position is null)
        {
            line = string.Empty;
            return false;
        }

        var bytes = buffer.Slice(0, position.Value);
        line = Encoding.UTF8.GetString(bytes).TrimEnd('\r');
        buffer = buffer.Slice(buffer.GetPosition(1, position.Value));
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        await _output.CompleteAsync();
        await _input.CompleteAsync();
        if (_owner is not null)
        {
            await _owner.DisposeAsync();
        }
    }
}

/// <summary>A reply as the test client read it.</summary>
public sealed record SmtpTestReply(IReadOnlyList<string> Lines)
{
    public int Code => int.Parse(Lines[0].AsSpan(0, 3), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The enhanced status of the last line, or "".</summary>
    public string Status
    {
        get
        {
            var last = Lines[^1];
            if (last.Length < 5)
            {
                return string.Empty;
            }

            var rest = last[4..];
            var space = rest.IndexOf(' ', StringComparison.Ordinal);
            var first = space < 0 ? rest : rest[..space];
            return first.Length >= 5 && char.IsDigit(first[0]) && first[1] == '.' ? first : string.Empty;
        }
    }

    public string Text => string.Join("\n", Lines);

    public override string ToString() => Text;
}
