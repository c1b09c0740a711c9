using SmtpServer.Delivery.Relay;

namespace SmtpServer.Delivery.Tests.Relay;

/// <summary>relay.rateLimit's sliding window with reservations, on a hand-moved clock.</summary>
public sealed class RelayRateLimiterTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 5, 9, 0, 0, TimeSpan.Zero);

    private static TimeSpan S(double seconds) => TimeSpan.FromSeconds(seconds);

    [Fact]
    public void A_burst_of_n_goes_at_once_then_each_waiter_is_reserved_its_own_turn_in_arrival_order()
    {
        var limiter = new RelayRateLimiter(new RelayRateLimit(3, TimeSpan.FromMinutes(1)));
        Assert.Null(limiter.TryAcquire("example.org", "m1", T0));
        Assert.Null(limiter.TryAcquire("example.org", "m2", T0 + S(1)));
        Assert.Null(limiter.TryAcquire("example.org", "m3", T0 + S(2)));

        // The 4th may start when the 1st leaves the window, the 5th when the 2nd does, ...
        Assert.Equal(T0 + S(60), limiter.TryAcquire("example.org", "m4", T0 + S(3)));
        Assert.Equal(T0 + S(61), limiter.TryAcquire("example.org", "m5", T0 + S(3)));
        Assert.Equal(T0 + S(62), limiter.TryAcquire("example.org", "m6", T0 + S(4)));
        Assert.Equal(T0 + S(120), limiter.TryAcquire("example.org", "m7", T0 + S(5)));

        // Another destination has its own window.
        Assert.Null(limiter.TryAcquire("example.net", "m4", T0 + S(5)));
    }

    [Fact]
    public void A_reservation_is_the_holders_turn_early_it_is_told_again_and_newcomers_queue_behind_it()
    {
        var limiter = new RelayRateLimiter(new RelayRateLimit(1, TimeSpan.FromSeconds(10)));
        Assert.Null(limiter.TryAcquire("d", "a", T0));
        Assert.Equal(T0 + S(10), limiter.TryAcquire("d", "b", T0 + S(1)));

        // Too early: the same reservation, not a new one further away.
        Assert.Equal(T0 + S(10), limiter.TryAcquire("d", "b", T0 + S(5)));

        // At its turn, a newcomer does not take the slot: it gets the next one.
        Assert.Equal(T0 + S(20), limiter.TryAcquire("d", "c", T0 + S(10)));
        Assert.Null(limiter.TryAcquire("d", "b", T0 + S(10)));
        Assert.Null(limiter.TryAcquire("d", "c", T0 + S(20.5)));

        // Claimed once: coming again is a new start, one interval after c's counted start.
        Assert.Equal(T0 + S(30), limiter.TryAcquire("d", "c", T0 + S(21)));
    }

    [Fact]
    public void An_unclaimed_reservation_lapses_after_its_window_and_pruning_forgets_quiet_destinations()
    {
        var limiter = new RelayRateLimiter(new RelayRateLimit(1, TimeSpan.FromSeconds(10)));
        Assert.Null(limiter.TryAcquire("d", "a", T0));
        Assert.Equal(T0 + S(10), limiter.TryAcquire("d", "gone", T0 + S(1)));

        // "gone" never came back (removed from the queue): its slot passes unused.
        Assert.Null(limiter.TryAcquire("d", "late", T0 + S(20)));
        Assert.Null(limiter.TryAcquire("d", "gone", T0 + S(40)));
        Assert.Equal(1, limiter.Tracked);
        limiter.Prune(T0 + S(49));
        Assert.Equal(1, limiter.Tracked);
        limiter.Prune(T0 + S(50));
        Assert.Equal(0, limiter.Tracked);
    }

    [Theory]
    [InlineData(1, 7)]
    [InlineData(5, 11)]
    [InlineData(60, 23)]
    public void Starts_never_exceed_the_limit_in_any_window(int messages, int seed)
    {
        // Messages arrive at random, each comes back at its turn (sometimes a little late): the
        // starts as counted (a reserved one at its turn) never put more than N in any interval.
        var interval = TimeSpan.FromMinutes(1);
        var limiter = new RelayRateLimiter(new RelayRateLimit(messages, interval));
        var random = new Random(seed);
        var now = T0;
        var waiting = new PriorityQueue<string, DateTimeOffset>();
        var starts = new List<DateTimeOffset>();
        var next = 0;
        for (var step = 0; step < 5000; step++)
        {
            now += TimeSpan.FromMilliseconds(random.Next(0, 400));
            if (waiting.TryPeek(out var ticket, out var turn) && turn <= now)
            {
                waiting.Dequeue();
                var again = limiter.TryAcquire("d", ticket, now + TimeSpan.FromMilliseconds(random.Next(0, 50)));
                Assert.Null(again);
                starts.Add(turn);
                continue;
            }

            var id = "m" + next++;
            if (limiter.TryAcquire("d", id, now) is { } at)
            {
                Assert.True(at > now);
                waiting.Enqueue(id, at);
            }
            else
            {
                starts.Add(now);
            }
        }

        starts.Sort();
        for (var i = messages; i < starts.Count; i++)
        {
            Assert.True(starts[i] - starts[i - messages] >= interval, $"{messages + 1} starts within {interval} at {starts[i - messages]:O}..{starts[i]:O}");
        }

        Assert.True(starts.Count > messages * 5, "the run should have reached the limit many times");
    }
}
