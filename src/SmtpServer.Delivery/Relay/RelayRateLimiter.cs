using System.Globalization;

namespace SmtpServer.Delivery.Relay;

/// <summary>relay.rateLimit: at most <paramref name="Messages"/> messages per <paramref name="Interval"/> per destination.</summary>
internal sealed record RelayRateLimit(int Messages, TimeSpan Interval)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Messages}/{Interval}");
}

/// <summary>
/// The relay's rate limit per destination (the recipient domain, or the smarthosts): never more
/// than N messages started in any window of the interval (a sliding window, so a burst of N
/// is allowed and the (N+1)-th waits until the first leaves the window).
/// A message over the limit is not refused: it gets a reservation, the earliest time at which
/// it may start without breaking the limit, and is deferred to it (not an attempt, no
/// penalty). When it comes back (the same ticket, its queue id) the reservation is its turn.
/// Reserving, instead of telling every waiting message "try again at the next free slot",
/// keeps them in arrival order and wakes one per slot instead of all of them every time.
/// A reserved start counts at its turn: the scheduler's lag in handing it back (milliseconds)
/// is not added.
/// </summary>
internal sealed class RelayRateLimiter
{
    private readonly RelayRateLimit _limit;
    private readonly Dictionary<string, Window> _windows = new(StringComparer.OrdinalIgnoreCase);

    public RelayRateLimiter(RelayRateLimit limit)
    {
        ArgumentNullException.ThrowIfNull(limit);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit.Messages, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(limit.Interval, TimeSpan.Zero);
        _limit = limit;
    }

    /// <summary>Destinations with starts or reservations in the window (tests: pruning frees them).</summary>
    internal int Tracked
    {
        get
        {
            lock (_windows)
            {
                return _windows.Count;
            }
        }
    }

    /// <summary>
    /// Null when the message identified by <paramref name="ticket"/> may start now (counted);
    /// otherwise the time it is reserved, to come back with the same ticket.
    /// </summary>
    public DateTimeOffset? TryAcquire(string destination, string ticket, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(ticket);
        lock (_windows)
        {
            if (!_windows.TryGetValue(destination, out var window))
            {
                _windows.Add(destination, window = new Window());
            }

            window.Prune(now - _limit.Interval);
            if (window.Reserved.TryGetValue(ticket, out var reserved))
            {
                if (reserved > now)
                {
                    return reserved;
                }

                // Its turn: the start was counted when it was reserved.
                window.Reserved.Remove(ticket);
                return null;
            }

            // The earliest start that keeps every window of the interval at N or fewer: after
            // the last start or reservation (arrival order), and one interval after the N-th
            // most recent one. Starts stay sorted, so the window is a queue.
            var at = now;
            var starts = window.Starts;
            if (starts.Count > 0)
            {
                at = Max(at, starts[^1]);
            }

            if (starts.Count >= _limit.Messages)
            {
                at = Max(at, starts[starts.Count - _limit.Messages] + _limit.Interval);
            }

            starts.Add(at);
            if (at <= now)
            {
                return null;
            }

            window.Reserved[ticket] = at;
            return at;
        }
    }

    /// <summary>Forgets destinations with nothing in the window (called from the agent's idle sweep).</summary>
    public void Prune(DateTimeOffset now)
    {
        lock (_windows)
        {
            foreach (var (destination, window) in _windows.ToList())
            {
                window.Prune(now - _limit.Interval);
                if (window.Starts.Count == 0)
                {
                    _windows.Remove(destination);
                }
            }
        }
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    /// <summary>One destination: the start times in the window (sorted; future ones are reservations) and who holds them.</summary>
    private sealed class Window
    {
        public List<DateTimeOffset> Starts { get; } = [];

        public Dictionary<string, DateTimeOffset> Reserved { get; } = new(StringComparer.Ordinal);

        /// <summary>Drops starts at or before <paramref name="horizon"/>, and reservations nobody claimed by then.</summary>
        public void Prune(DateTimeOffset horizon)
        {
            var old = 0;
            while (old < Starts.Count && Starts[old] <= horizon)
            {
                old++;
            }

            Starts.RemoveRange(0, old);
            if (old > 0 && Reserved.Count > 0)
            {
                foreach (var (ticket, at) in Reserved.ToList())
                {
                    if (at <= horizon)
                    {
                        Reserved.Remove(ticket);
                    }
                }
            }
        }
    }
}
