using SmtpServer.Testing;

namespace SmtpServer.Tests.Infrastructure;

/// <summary>
/// A small SMTP server on 127.0.0.1 for relay tests whose answer the test switches: RCPT gets
/// "451 4.7.1 greylisted" until <see cref="Accept"/> is set, then 250; with <see cref="Hang"/>
/// it never answers RCPT (a delivery that stays in flight). No PIPELINING, no TLS; sessions
/// may carry several transactions (RSET between them), as the relay agent keeps them.
/// </summary>
internal sealed class SwitchableSmtpPeer : IAsyncDisposable
{
    private readonly ScriptedLinePeer _peer;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<string> _messages = [];
    private readonly List<System.Net.Sockets.TcpClient> _connections = [];
    private volatile bool _accept;
    private volatile bool _hang;
    private int _rcpts;

    public SwitchableSmtpPeer() => _peer = new ScriptedLinePeer(RunAsync);

    public int Port => _peer.Port;

    /// <summary>The relay URL of an action that sends here.</summary>
    public string Url => $"smtp+notls://127.0.0.1:{Port}";

    public bool Accept
    {
        get => _accept;
        set => _accept = value;
    }

    public bool Hang
    {
        get => _hang;
        set => _hang = value;
    }

    /// <summary>RCPT commands received so far (answered or not).</summary>
    public int Rcpts => Volatile.Read(ref _rcpts);

    /// <summary>The DATA of every message accepted, dot-stuffed as received.</summary>
    public IReadOnlyList<string> Messages
    {
        get
        {
            lock (_messages)
            {
                return [.. _messages];
            }
        }
    }

    public IReadOnlyList<Exception> Errors => _peer.Errors;

    private async Task RunAsync(ScriptedLinePeer.PeerConnection c)
    {
        lock (_connections)
        {
            _connections.Add(c.Client);
        }

        await c.WriteLineAsync("220 peer.test ESMTP");
        while (true)
        {
            var line = await c.ReadLineAsync();
            var verb = line.Split(' ', 2)[0].ToUpperInvariant();
            switch (verb)
            {
                case "EHLO" or "HELO":
                    await c.WriteLineAsync("250 peer.test");
                    break;
                case "MAIL" or "RSET" or "NOOP":
                    await c.WriteLineAsync("250 2.0.0 ok");
                    break;
                case "RCPT":
                    Interlocked.Increment(ref _rcpts);
                    if (_hang)
                    {
                        await Task.Delay(Timeout.Infinite, _stop.Token);
                    }

                    await c.WriteLineAsync(_accept ? "250 2.1.5 ok" : "451 4.7.1 greylisted, try again later");
                    break;
                case "DATA":
                    await c.WriteLineAsync("354 go ahead");
                    var data = await c.ReadDataAsync();
                    lock (_messages)
                    {
                        _messages.Add(data);
                    }

                    await c.WriteLineAsync("250 2.0.0 queued");
                    break;
                case "QUIT":
                    await c.WriteLineAsync("221 2.0.0 bye");
                    return;
                default:
                    await c.WriteLineAsync("502 5.5.1 unknown command");
                    break;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();

        // A relay keeps idle sessions open: close them, so no session waits for its client.
        lock (_connections)
        {
            foreach (var client in _connections)
            {
                client.Close();
            }
        }

        await _peer.DisposeAsync();
        _stop.Dispose();
    }
}
