using System.Net;

namespace SmtpServer.Hosting;

/// <summary>
/// Counts sessions in total and per client address (server.limits.maxSessions and
/// maxSessionsPerClient). Shared by every listener of the process.
/// </summary>
internal sealed class SessionLimiter(int maxSessions, int maxSessionsPerClient)
{
    private readonly Dictionary<IPAddress, int> _perClient = [];
    private readonly Lock _lock = new();
    private int _total;

    public int Active
    {
        get
        {
            lock (_lock)
            {
                return _total;
            }
        }
    }

    public LimitResult TryAcquire(IPAddress? client)
    {
        lock (_lock)
        {
            if (_total >= maxSessions)
            {
                return LimitResult.TooManySessions;
            }

            if (client is not null)
            {
                _perClient.TryGetValue(client, out var count);
                if (count >= maxSessionsPerClient)
                {
                    return LimitResult.TooManyFromClient;
                }

                _perClient[client] = count + 1;
            }

            _total++;
            return LimitResult.Acquired;
        }
    }

    public void Release(IPAddress? client)
    {
        lock (_lock)
        {
            _total--;
            if (client is not null && _perClient.TryGetValue(client, out var count))
            {
                if (count <= 1)
                {
                    _perClient.Remove(client);
                }
                else
                {
                    _perClient[client] = count - 1;
                }
            }
        }
    }
}

internal enum LimitResult
{
    Acquired,
    TooManySessions,
    TooManyFromClient,
}
