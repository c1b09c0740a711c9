using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using SmtpServer.Protocol;

namespace SmtpServer.Delivery;

/// <summary>
/// One LMTP session (RFC 2033) over System.IO.Pipelines on a socket: greeting and LHLO on
/// connect, then any number of transactions. Every wait has a deadline; <see cref="Step"/> is
/// the breadcrumb (STYLE.md §9 item 7) that says what was happening when one expired.
/// </summary>
internal sealed class LmtpConnection : IAsyncDisposable
{
    private const int ChunkSize = 64 * 1024;

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly PipeReader _reader;
    private readonly PipeWriter _writer;
    private volatile string _step = "connecting";
    private int _disposed;

    private LmtpConnection(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = PipeReader.Create(_stream, new StreamPipeReaderOptions(leaveOpen: true));
        _writer = PipeWriter.Create(_stream, new StreamPipeWriterOptions(leaveOpen: true));
    }

    public string Step => _step;

    public bool OffersSize { get; private set; }

    public bool Offers8BitMime { get; private set; }

    public bool OffersSmtpUtf8 { get; private set; }

    /// <summary>When the connection last finished a transaction (for the pool's idle timeout).</summary>
    public DateTimeOffset LastUsed { get; set; }

    /// <summary>False once a reply or failure means the session must not carry another transaction.</summary>
    public bool Reusable { get; set; } = true;

    public static async Task<LmtpConnection> ConnectAsync(EndPoint endPoint, string lhloName, LmtpAgentOptions options, CancellationToken cancellationToken)
    {
        var socket = LmtpEndpoint.CreateSocket(endPoint);
        LmtpConnection? connection = null;
        try
        {
            using (var connect = Deadline(options.ConnectTimeout, cancellationToken))
            {
                try
                {
                    await socket.ConnectAsync(endPoint, connect.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new TimeoutException($"connect timed out after {options.ConnectTimeout.TotalSeconds:0} s");
                }
            }

            connection = new LmtpConnection(socket);
            connection._step = "waiting for the greeting";
            var greeting = await connection.ReadReplyAsync(options.CommandTimeout, cancellationToken).ConfigureAwait(false);
            if (greeting.Code != 220)
            {
                throw new LmtpRejectedException(greeting);
            }

            var lhlo = await connection.CommandAsync($"LHLO {lhloName}", options.CommandTimeout, cancellationToken).ConfigureAwait(false);
            if (lhlo.Code != 250)
            {
                throw new LmtpRejectedException(lhlo);
            }

            foreach (var line in lhlo.Lines.Skip(1))
            {
                var keyword = line.Split(' ', 2)[0].ToUpperInvariant();
                connection.OffersSize |= keyword == "SIZE";
                connection.Offers8BitMime |= keyword == "8BITMIME";
                connection.OffersSmtpUtf8 |= keyword == "SMTPUTF8";
            }

            return connection;
        }
        catch
        {
            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                socket.Dispose();
            }

            throw;
        }
    }

    /// <summary>Sends one command line and reads its reply.</summary>
    public async ValueTask<LmtpReply> CommandAsync(string command, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var verb = command.Split(' ', 2)[0];
        _step = "sending " + verb;
        using var deadline = Deadline(timeout, cancellationToken);
        try
        {
            WriteLine(command);
            await _writer.FlushAsync(deadline.Token).ConfigureAwait(false);
            _step = "waiting for the reply to " + verb;
            return await ReadReplyCoreAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"timed out after {timeout.TotalSeconds:0} s {_step}");
        }
    }

    /// <summary>
    /// Sends the message after a 354: dot-stuffed (RFC 5321 §4.5.2), streamed from the file in
    /// chunks, then CRLF.CRLF; returns when the final dot is flushed.
    /// </summary>
    public async ValueTask SendMessageAsync(string messagePath, CancellationToken cancellationToken)
    {
        _step = "sending the message";
        var stuffer = new DotStuffer();
        var chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            var source = new FileStream(messagePath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.Asynchronous | FileOptions.SequentialScan);
            await using (source.ConfigureAwait(false))
            {
                int read;
                while ((read = await source.ReadAsync(chunk.AsMemory(0, ChunkSize), cancellationToken).ConfigureAwait(false)) > 0)
                {
                    stuffer.Write(chunk.AsSpan(0, read), _writer);
                    var flush = await _writer.FlushAsync(cancellationToken).ConfigureAwait(false);
                    if (flush.IsCompleted)
                    {
                        throw new IOException("the LMTP server closed the connection during DATA");
                    }
                }
            }

            stuffer.Complete(_writer);
            await _writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    /// <summary>Reads one reply under its own deadline.</summary>
    public async ValueTask<LmtpReply> ReadReplyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = Deadline(timeout, cancellationToken);
        try
        {
            return await ReadReplyCoreAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"timed out after {timeout.TotalSeconds:0} s {_step}");
        }
    }

    /// <summary>Reads replies for the DATA transaction: the caller sets the step.</summary>
    public void SetStep(string step) => _step = step;

    /// <summary>
    /// Reads one (multi-line) reply. Bounded before parsing: a line is searched for a LF only in
    /// its first <see cref="LmtpReply.MaxLineLength"/> bytes and a reply may have at most
    /// <see cref="LmtpReply.MaxLines"/> lines, so a server that never stops talking costs at
    /// most that much memory and then a protocol error.
    /// </summary>
    public async ValueTask<LmtpReply> ReadReplyCoreAsync(CancellationToken cancellationToken)
    {
        var lines = new List<string>();
        var code = -1;
        while (true)
        {
            var result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            while (true)
            {
                var status = SmtpLineReader.TryReadLine(buffer, LmtpReply.MaxLineLength, out var line, out var consumed);
                if (status == LineStatus.Incomplete)
                {
                    break;
                }

                if (status == LineStatus.TooLong)
                {
                    _reader.AdvanceTo(buffer.Start);
                    throw new LmtpProtocolException($"reply line longer than {LmtpReply.MaxLineLength} bytes");
                }

                if (!LmtpReply.TryParseLine(line, out var lineCode, out var more, out var text) || (code >= 0 && lineCode != code))
                {
                    _reader.AdvanceTo(buffer.Start);
                    throw new LmtpProtocolException("malformed reply line");
                }

                buffer = buffer.Slice(consumed);
                code = lineCode;
                lines.Add(text);
                if (!more)
                {
                    _reader.AdvanceTo(buffer.Start);
                    return new LmtpReply(code, LmtpReply.ParseEnhancedStatus(code, lines[0]), lines);
                }

                if (lines.Count >= LmtpReply.MaxLines)
                {
                    _reader.AdvanceTo(buffer.Start);
                    throw new LmtpProtocolException($"reply of more than {LmtpReply.MaxLines} lines");
                }
            }

            if (result.IsCompleted)
            {
                _reader.AdvanceTo(buffer.Start, buffer.End);
                throw new IOException("the LMTP server closed the connection");
            }

            _reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>Best-effort QUIT with a short deadline, then close.</summary>
    public async ValueTask QuitAsync()
    {
        if (Reusable)
        {
            try
            {
                _ = await CommandAsync("QUIT", TimeSpan.FromSeconds(2), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException or TimeoutException or LmtpProtocolException or ObjectDisposedException)
            {
                // Closing anyway.
            }
        }

        await DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Reusable = false;
        await _reader.CompleteAsync().ConfigureAwait(false);
        try
        {
            await _writer.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            // Unsent bytes of a broken connection.
        }

        await _stream.DisposeAsync().ConfigureAwait(false);
    }

    private void WriteLine(string command)
    {
        // Envelope addresses may be UTF-8 (SMTPUTF8); everything else is ASCII.
        var bytes = Encoding.UTF8.GetByteCount(command);
        var span = _writer.GetSpan(bytes + 2);
        Encoding.UTF8.GetBytes(command, span);
        span[bytes] = (byte)'\r';
        span[bytes + 1] = (byte)'\n';
        _writer.Advance(bytes + 2);
    }

    private static CancellationTokenSource Deadline(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var source = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        source.CancelAfter(timeout);
        return source;
    }
}

/// <summary>The server refused the session (greeting or LHLO not 2xx).</summary>
internal sealed class LmtpRejectedException(LmtpReply reply) : Exception(reply.ToString())
{
    public LmtpReply Reply { get; } = reply;
}

/// <summary>Dot-stuffing (RFC 5321 §4.5.2) of a CRLF message, in any split, ending with CRLF.CRLF.</summary>
internal sealed class DotStuffer
{
    private bool _atLineStart = true;
    private byte _last1; // the last byte written
    private byte _last2; // the one before

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
            Remember(run);
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

    private void Remember(ReadOnlySpan<byte> run)
    {
        if (run.Length >= 2)
        {
            _last2 = run[^2];
            _last1 = run[^1];
        }
        else
        {
            _last2 = _last1;
            _last1 = run[0];
        }
    }
}
