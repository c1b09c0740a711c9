using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using SmtpServer.Protocol;

namespace SmtpServer.Delivery;

/// <summary>Deadlines of one client session.</summary>
/// <param name="Connect">TCP connect (and the TLS handshake).</param>
/// <param name="Command">Greeting and each command's reply (OpenSMTPD: 300 s of I/O inactivity).</param>
internal sealed record SmtpClientTimeouts(TimeSpan Connect, TimeSpan Command);

/// <summary>
/// One SMTP or LMTP client session (RFC 5321, RFC 2033) over System.IO.Pipelines on a socket,
/// shared by the lmtp and relay agents: greeting, EHLO/HELO/LHLO with the extension list,
/// STARTTLS (or implicit TLS), pipelined command groups (RFC 2920), bounded reply reading and
/// dot-stuffed streaming of the spool file. Every wait has a deadline; <see cref="Step"/> is the
/// breadcrumb (STYLE.md §9 item 7) that says what was happening when one expired.
/// </summary>
internal sealed class SmtpClientConnection : IAsyncDisposable
{
    private const int ChunkSize = 64 * 1024;

    private readonly NetworkStream _network;
    private readonly Dictionary<string, string> _extensions = new(StringComparer.OrdinalIgnoreCase);
    private Stream _stream;
    private PipeReader _reader;
    private PipeWriter _writer;
    private volatile string _step = "connecting";
    private int _disposed;

    private SmtpClientConnection(Socket socket)
    {
        _network = new NetworkStream(socket, ownsSocket: true);
        _stream = _network;
        (_reader, _writer) = CreatePipes(_stream);
    }

    public string Step => _step;

    /// <summary>The EHLO/LHLO keywords (upper case) with their parameters; empty after HELO.</summary>
    public IReadOnlyDictionary<string, string> Extensions => _extensions;

    public bool OffersSize => Offers("SIZE");

    public bool Offers8BitMime => Offers("8BITMIME");

    public bool OffersSmtpUtf8 => Offers("SMTPUTF8");

    /// <summary>SIZE's parameter (RFC 1870 §4): the largest message the peer takes; null when unknown or unlimited (0).</summary>
    public long? MaxMessageSize =>
        _extensions.TryGetValue("SIZE", out var limit) && long.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out var size) && size > 0 ? size : null;

    /// <summary>The negotiated TLS protocol, or null while the session is in plaintext.</summary>
    public string? TlsProtocol { get; private set; }

    /// <summary>When the connection last finished a transaction (for the pool's idle timeout).</summary>
    public DateTimeOffset LastUsed { get; set; }

    /// <summary>Transactions started on this session (a session carries at most 100, as OpenSMTPD's).</summary>
    public int Transactions { get; set; }

    /// <summary>False once a reply or failure means the session must not carry another transaction.</summary>
    public bool Reusable { get; set; } = true;

    public bool Offers(string keyword) => _extensions.ContainsKey(keyword);

    /// <summary>Opens the TCP connection (NoDelay; from <paramref name="source"/> if given). Reads nothing.</summary>
    public static async Task<SmtpClientConnection> OpenAsync(EndPoint endPoint, IPAddress? source, TimeSpan connectTimeout, CancellationToken cancellationToken)
    {
        var socket = LmtpEndpoint.CreateSocket(endPoint);
        try
        {
            if (source is not null)
            {
                socket.Bind(new IPEndPoint(source, 0));
            }

            using var connect = Deadline(connectTimeout, cancellationToken);
            try
            {
                await socket.ConnectAsync(endPoint, connect.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"connect timed out after {connectTimeout.TotalSeconds:0} s");
            }

            return new SmtpClientConnection(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Greeting and LHLO for an LMTP session; throws <see cref="SmtpClientRejectedException"/> on a refusal.</summary>
    public static async Task<SmtpClientConnection> ConnectLmtpAsync(EndPoint endPoint, string lhloName, SmtpClientTimeouts timeouts, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(timeouts);
        var connection = await OpenAsync(endPoint, null, timeouts.Connect, cancellationToken).ConfigureAwait(false);
        try
        {
            connection._step = "waiting for the greeting";
            var greeting = await connection.ReadReplyAsync(timeouts.Command, cancellationToken).ConfigureAwait(false);
            if (greeting.Code != 220)
            {
                throw new SmtpClientRejectedException(greeting);
            }

            var lhlo = await connection.HelloAsync("LHLO", lhloName, timeouts.Command, cancellationToken).ConfigureAwait(false);
            return lhlo.Code == 250 ? connection : throw new SmtpClientRejectedException(lhlo);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Sends EHLO, HELO or LHLO; on a 250 to EHLO or LHLO records the extensions (the lines after
    /// the first, keyword then parameters). HELO clears them: a HELO session has no extensions.
    /// </summary>
    public async ValueTask<SmtpClientReply> HelloAsync(string verb, string name, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var reply = await CommandAsync($"{verb} {name}", timeout, cancellationToken).ConfigureAwait(false);
        _extensions.Clear();
        if (reply.Code == 250 && verb != "HELO")
        {
            foreach (var line in reply.Lines.Skip(1))
            {
                var parts = line.Split(' ', 2);
                if (parts[0].Length > 0)
                {
                    _extensions[parts[0]] = parts.Length > 1 ? parts[1] : string.Empty;
                }
            }
        }

        return reply;
    }

    /// <summary>
    /// Starts TLS on the socket (after a 220 to STARTTLS, or at once for implicit TLS). Bytes the
    /// server sent after its 220 and before the handshake are a protocol error (the STARTTLS
    /// injection class): they would be read as if they came over TLS.
    /// </summary>
    public async ValueTask UpgradeToTlsAsync(SslClientAuthenticationOptions options, TimeSpan timeout, CancellationToken cancellationToken)
    {
        _step = "negotiating TLS";
        if (_reader.TryRead(out var pending))
        {
            var injected = !pending.Buffer.IsEmpty;
            _reader.AdvanceTo(pending.Buffer.Start, pending.Buffer.End);
            if (injected)
            {
                throw new SmtpClientProtocolException("the server sent data after its STARTTLS reply");
            }
        }

        await _reader.CompleteAsync().ConfigureAwait(false);
        await _writer.CompleteAsync().ConfigureAwait(false);
        var ssl = new SslStream(_network, leaveInnerStreamOpen: true);
        _stream = ssl;
        (_reader, _writer) = CreatePipes(_stream);
        using var deadline = Deadline(timeout, cancellationToken);
        try
        {
            await ssl.AuthenticateAsClientAsync(options, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Reusable = false;
            throw new TimeoutException($"TLS handshake timed out after {timeout.TotalSeconds:0} s");
        }
        catch
        {
            // A failed handshake leaves the SslStream unusable: a QUIT written into it would
            // throw the handshake's AuthenticationException again, out of QuitAsync.
            Reusable = false;
            throw;
        }

        TlsProtocol = ssl.SslProtocol.ToString();
        _extensions.Clear();
    }

    /// <summary>Sends one command line and reads its reply.</summary>
    public async ValueTask<SmtpClientReply> CommandAsync(string command, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var replies = await PipelineAsync([command], timeout, cancellationToken).ConfigureAwait(false);
        return replies[0];
    }

    /// <summary>
    /// Sends the commands in one write and reads one reply per command, in order (RFC 2920 §3.1);
    /// the caller only groups commands when the server offered PIPELINING. <paramref name="timeout"/>
    /// applies to each reply.
    /// </summary>
    public async ValueTask<IReadOnlyList<SmtpClientReply>> PipelineAsync(IReadOnlyList<string> commands, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(commands);
        var verb = commands[0].Split(' ', 2)[0];
        _step = "sending " + verb;
        var replies = new List<SmtpClientReply>(commands.Count);
        using var deadline = Deadline(timeout, cancellationToken);
        try
        {
            foreach (var command in commands)
            {
                WriteLine(command);
            }

            var flush = await _writer.FlushAsync(deadline.Token).ConfigureAwait(false);
            if (flush.IsCompleted)
            {
                throw new IOException("the server closed the connection");
            }

            foreach (var command in commands)
            {
                _step = "waiting for the reply to " + command.Split(' ', 2)[0];
                deadline.CancelAfter(timeout);
                replies.Add(await ReadReplyCoreAsync(deadline.Token).ConfigureAwait(false));
            }

            return replies;
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
                        throw new IOException("the server closed the connection during DATA");
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
    public async ValueTask<SmtpClientReply> ReadReplyAsync(TimeSpan timeout, CancellationToken cancellationToken)
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

    /// <summary>Sets the breadcrumb for waits the caller drives itself.</summary>
    public void SetStep(string step) => _step = step;

    /// <summary>
    /// Reads one (multi-line) reply. Bounded before parsing: a line is searched for a LF only in
    /// its first <see cref="SmtpClientReply.MaxLineLength"/> bytes and a reply may have at most
    /// <see cref="SmtpClientReply.MaxLines"/> lines, so a server that never stops talking costs at
    /// most that much memory and then a protocol error. Every line must carry the first line's
    /// code; control characters in the text are replaced (CVE-2020-8794).
    /// </summary>
    public async ValueTask<SmtpClientReply> ReadReplyCoreAsync(CancellationToken cancellationToken)
    {
        var lines = new List<string>();
        var code = -1;
        while (true)
        {
            var result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            while (true)
            {
                var status = SmtpLineReader.TryReadLine(buffer, SmtpClientReply.MaxLineLength, out var line, out var consumed);
                if (status == LineStatus.Incomplete)
                {
                    break;
                }

                if (status == LineStatus.TooLong)
                {
                    _reader.AdvanceTo(buffer.Start);
                    Reusable = false;
                    throw new SmtpClientProtocolException($"reply line longer than {SmtpClientReply.MaxLineLength} bytes");
                }

                if (!SmtpClientReply.TryParseLine(line, out var lineCode, out var more, out var text) || (code >= 0 && lineCode != code))
                {
                    _reader.AdvanceTo(buffer.Start);
                    Reusable = false;
                    throw new SmtpClientProtocolException("malformed reply line");
                }

                buffer = buffer.Slice(consumed);
                code = lineCode;
                lines.Add(text);
                if (!more)
                {
                    _reader.AdvanceTo(buffer.Start);
                    return new SmtpClientReply(code, SmtpClientReply.ParseEnhancedStatus(code, lines[0]), lines);
                }

                if (lines.Count >= SmtpClientReply.MaxLines)
                {
                    _reader.AdvanceTo(buffer.Start);
                    Reusable = false;
                    throw new SmtpClientProtocolException($"reply of more than {SmtpClientReply.MaxLines} lines");
                }
            }

            if (result.IsCompleted)
            {
                _reader.AdvanceTo(buffer.Start, buffer.End);
                Reusable = false;
                throw new IOException("the server closed the connection");
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
            catch (Exception e) when (e is IOException or SocketException or TimeoutException or SmtpClientProtocolException or ObjectDisposedException or System.Security.Authentication.AuthenticationException)
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
            if (!ReferenceEquals(_stream, _network))
            {
                await _stream.DisposeAsync().ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            // Unsent bytes of a broken connection.
        }

        await _network.DisposeAsync().ConfigureAwait(false);
    }

    private static (PipeReader Reader, PipeWriter Writer) CreatePipes(Stream stream) =>
        (PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true)), PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true)));

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

/// <summary>The server refused the session (greeting or EHLO/LHLO not 2xx).</summary>
internal sealed class SmtpClientRejectedException(SmtpClientReply reply) : Exception(reply.ToString())
{
    public SmtpClientReply Reply { get; } = reply;
}
