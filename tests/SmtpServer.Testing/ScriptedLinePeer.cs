using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace SmtpServer.Testing;

/// <summary>
/// A tiny line-based server on 127.0.0.1 for protocol error paths (a misbehaving LMTP or SMTP
/// peer): each accepted connection runs <c>script</c>, which reads and writes raw lines.
/// </summary>
public sealed class ScriptedLinePeer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<PeerConnection, Task> _script;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private readonly List<Task> _sessions = [];
    private int _connections;

    public ScriptedLinePeer(Func<PeerConnection, Task> script)
    {
        _script = script;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _acceptLoop = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string Address => $"127.0.0.1:{Port}";

    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Every line received on any connection, in order.</summary>
    public List<string> Received { get; } = [];

    /// <summary>Exceptions thrown by the script (other than the client going away).</summary>
    public List<Exception> Errors { get; } = [];

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            Interlocked.Increment(ref _connections);
            lock (_sessions)
            {
                _sessions.Add(RunAsync(client));
            }
        }
    }

    private async Task RunAsync(TcpClient client)
    {
        using (client)
        {
            var connection = new PeerConnection(client, this);
            try
            {
                await _script(connection);
            }
            catch (Exception e) when (e is IOException or SocketException or EndOfStreamException or OperationCanceledException)
            {
                // The client went away.
            }
            catch (Exception e)
            {
                lock (Errors)
                {
                    Errors.Add(e);
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _acceptLoop;
        Task[] sessions;
        lock (_sessions)
        {
            sessions = [.. _sessions];
        }

        await Task.WhenAny(Task.WhenAll(sessions), Task.Delay(5000));
        _stop.Dispose();
    }

    /// <summary>One accepted connection, as seen by the script.</summary>
    public sealed class PeerConnection(TcpClient client, ScriptedLinePeer peer)
    {
        private readonly List<byte> _pending = [];
        private Stream _stream = client.GetStream();

        public TcpClient Client => client;

        /// <summary>True once <see cref="StartTlsAsync"/> succeeded.</summary>
        public bool IsTls => _stream is SslStream;

        /// <summary>
        /// The server side of STARTTLS (after the script wrote its 220): the TLS handshake with
        /// <paramref name="certificate"/>, then lines go through TLS. Throws what the handshake
        /// threw (e.g. the client refused the certificate and closed).
        /// </summary>
        public async Task StartTlsAsync(X509Certificate2 certificate)
        {
            var ssl = new SslStream(_stream, leaveInnerStreamOpen: false);
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = certificate });
            _pending.Clear();
            _stream = ssl;
        }

        public async Task WriteAsync(string text) => await _stream.WriteAsync(Encoding.UTF8.GetBytes(text));

        public async Task WriteLineAsync(string line) => await WriteAsync(line + "\r\n");

        /// <summary>Reads one line (without CRLF); throws EndOfStreamException when the client closed.</summary>
        public async Task<string> ReadLineAsync()
        {
            var buffer = new byte[4096];
            while (true)
            {
                var lf = _pending.IndexOf((byte)'\n');
                if (lf >= 0)
                {
                    var line = Encoding.UTF8.GetString([.. _pending.Take(lf)]).TrimEnd('\r');
                    _pending.RemoveRange(0, lf + 1);
                    lock (peer.Received)
                    {
                        peer.Received.Add(line);
                    }

                    return line;
                }

                var read = await _stream.ReadAsync(buffer);
                if (read == 0)
                {
                    throw new EndOfStreamException();
                }

                _pending.AddRange(buffer.AsSpan(0, read).ToArray());
            }
        }

        /// <summary>Reads DATA content up to and including the line ".", returned raw (still dot-stuffed, CRLF).</summary>
        public async Task<string> ReadDataAsync()
        {
            var data = new StringBuilder();
            while (true)
            {
                var line = await ReadLineAsync();
                data.Append(line).Append("\r\n");
                if (line == ".")
                {
                    return data.ToString();
                }
            }
        }

        /// <summary>Greets and answers LHLO with the given extensions.</summary>
        public async Task GreetAsync(params string[] extensions)
        {
            await WriteLineAsync("220 peer LMTP ready");
            var lhlo = await ReadLineAsync();
            if (!lhlo.StartsWith("LHLO ", StringComparison.Ordinal))
            {
                throw new InvalidOperationException("expected LHLO, got " + lhlo);
            }

            var lines = new List<string> { "peer" };
            lines.AddRange(extensions);
            for (var i = 0; i < lines.Count; i++)
            {
                await WriteLineAsync((i == lines.Count - 1 ? "250 " : "250-") + lines[i]);
            }
        }
    }
}
