namespace SmtpServer.Core.Scheduling;

/// <summary>
/// OpenSMTPD's backoff (scheduler_ramqueue.c): after n attempts the next one is at
/// arrival + base·n²; when that is already past (a long outage, a restart), n grows until it
/// is in the future. Never later than the expiry, which then ends the envelope.
/// </summary>
internal static class RetrySchedule
{
    public static DateTimeOffset Next(DateTimeOffset receivedAt, int attempts, TimeSpan retryBase, DateTimeOffset now, DateTimeOffset expiresAt)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(retryBase, TimeSpan.Zero);
        long n = Math.Max(attempts, 1);
        var elapsed = now - receivedAt;
        if (elapsed > TimeSpan.Zero)
        {
            // Jump close to the first n with receivedAt + base·n² > now, then step.
            var estimate = (long)Math.Sqrt(elapsed.Ticks / (double)retryBase.Ticks);
            n = Math.Max(n, estimate);
        }

        while (true)
        {
            var offset = (double)retryBase.Ticks * n * n;
            if (offset >= (expiresAt - receivedAt).Ticks)
            {
                return expiresAt;
            }

            var next = receivedAt + TimeSpan.FromTicks((long)offset);
            if (next > now)
            {
                return next;
            }

            n++;
        }
    }
}
