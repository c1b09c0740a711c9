using System.Net;
using SmtpServer.Core.Routing;

namespace SmtpServer.Auth;

/// <summary>
/// Per client IP: every failed AUTH within the window adds a growing delay before the 535
/// (0.5 s · n, at most 5 s), and the <c>maxFailures</c>-th failure locks the address out of AUTH
/// for <c>lockout</c> (421 4.7.0, then the session is closed). OpenSMTPD only pauses 0-1 s and
/// has no lockout (REFERENCE.md §0.5); a submission port on the Internet needs more.
/// Driven by <see cref="TimeProvider"/> so tests run a lockout in milliseconds.
/// </summary>
internal sealed class AuthThrottle(int maxFailures, TimeSpan window, TimeSpan lockout, TimeProvider time)
{
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(5);
    private const int MaxTrackedAddresses = 100_000;

    private readonly Dictionary<IPAddress, Client> _clients = [];
    private readonly Lock _lock = new();

    /// <summary>Until when <paramref name="address"/> is locked out, or null.</summary>
    public DateTimeOffset? LockedUntil(IPAddress? address)
    {
        if (address is null)
        {
            return null;
        }

        lock (_lock)
        {
            return _clients.TryGetValue(NetworkAddress.Unmap(address), out var client) && client.LockedUntil > time.GetUtcNow() ? client.LockedUntil : null;
        }
    }

    /// <summary>Records a failure; returns the delay to wait before answering, and whether the client is now locked out.</summary>
    public (TimeSpan Delay, bool LockedOut, int Failures) Fail(IPAddress? address)
    {
        if (address is null)
        {
            return (Step, false, 1);
        }

        var now = time.GetUtcNow();
        lock (_lock)
        {
            if (_clients.Count >= MaxTrackedAddresses)
            {
                Prune(now);
            }

            address = NetworkAddress.Unmap(address);
            if (!_clients.TryGetValue(address, out var client))
            {
                client = new Client();
                _clients[address] = client;
            }

            while (client.Failures.Count > 0 && client.Failures.Peek() <= now - window)
            {
                client.Failures.Dequeue();
            }

            client.Failures.Enqueue(now);
            var count = client.Failures.Count;
            if (count >= maxFailures)
            {
                client.LockedUntil = now + lockout;
                client.Failures.Clear();
                return (TimeSpan.Zero, true, count);
            }

            var delay = Step * count;
            return (delay < MaxDelay ? delay : MaxDelay, false, count);
        }
    }

    /// <summary>A success forgets the address's earlier failures.</summary>
    public void Succeed(IPAddress? address)
    {
        if (address is null)
        {
            return;
        }

        lock (_lock)
        {
            address = NetworkAddress.Unmap(address);
            if (_clients.TryGetValue(address, out var client) && client.LockedUntil <= time.GetUtcNow())
            {
                _clients.Remove(address);
            }
        }
    }

    private void Prune(DateTimeOffset now)
    {
        foreach (var (address, client) in _clients.ToList())
        {
            if (client.LockedUntil <= now && (client.Failures.Count == 0 || client.Failures.Last() <= now - window))
            {
                _clients.Remove(address);
            }
        }
    }

    private sealed class Client
    {
        public Queue<DateTimeOffset> Failures { get; } = new();

        public DateTimeOffset LockedUntil { get; set; }
    }
}
