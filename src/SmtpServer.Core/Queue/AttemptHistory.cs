namespace SmtpServer.Core.Queue;

/// <summary>
/// The delivery attempts of one envelope (<see cref="EnvelopeRecord.History"/>), for
/// <c>smtpctl show envelope</c> and <c>explain</c>. Bounded whatever remote peers answer or how
/// long the envelope stays queued: the first <see cref="KeepFirst"/> and the last
/// <see cref="KeepLast"/> attempts are kept (the first say how it began, the last what happens
/// now), the ones in between are only counted in <see cref="Dropped"/>, and every text is
/// clipped and cleaned of control characters when it is recorded (<see cref="AttemptRecord.Clipped"/>).
/// The largest history is then a few tens of KB, far below the envelope file limit.
/// </summary>
internal sealed record AttemptHistory
{
    public const int KeepFirst = 5;

    public const int KeepLast = 20;

    /// <summary>Kept attempts, oldest first; <see cref="AttemptRecord.Number"/> shows where attempts were dropped.</summary>
    public required IReadOnlyList<AttemptRecord> Attempts { get; init; }

    /// <summary>Attempts recorded but not kept (between the first and the last ones).</summary>
    public required int Dropped { get; init; }

    /// <summary>
    /// <paramref name="history"/> (null: none yet, as in records written before histories were
    /// kept) with <paramref name="attempt"/> added, clipped, and trimmed to the first and last ones.
    /// </summary>
    public static AttemptHistory Append(AttemptHistory? history, AttemptRecord attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        var attempts = new List<AttemptRecord>((history?.Attempts.Count ?? 0) + 1);
        attempts.AddRange(history?.Attempts ?? []);
        attempts.Add(attempt.Clipped());
        var dropped = history?.Dropped ?? 0;

        // Also trims a history that came in longer than the bounds (written by hand or by
        // another version): the oldest of the "last" ones goes first.
        while (attempts.Count > KeepFirst + KeepLast)
        {
            attempts.RemoveAt(KeepFirst);
            dropped++;
        }

        return new AttemptHistory { Attempts = attempts, Dropped = dropped };
    }

    /// <summary>What the serializer cannot check; null when the history is sound.</summary>
    internal string? Validate()
    {
        if (Dropped < 0)
        {
            return "negative count of dropped attempts";
        }

        foreach (var attempt in Attempts)
        {
            if (attempt is null || attempt.Number < 1 || !Enum.IsDefined(attempt.Result))
            {
                return "invalid attempt in the history";
            }
        }

        return null;
    }

    // A record compares lists by reference; histories are equal when their attempts are.
    public bool Equals(AttemptHistory? other) =>
        other is not null && Dropped == other.Dropped && Attempts.SequenceEqual(other.Attempts);

    public override int GetHashCode() => HashCode.Combine(Dropped, Attempts.Count, Attempts.Count > 0 ? Attempts[^1] : null);
}

/// <summary>
/// One delivery attempt of an envelope. Remote text (a peer's reply, its host name) is data
/// here like every other field: a JSON string, clipped, never structure.
/// </summary>
internal sealed record AttemptRecord
{
    /// <summary>How long a reply or error text may be; a multi-line SMTP reply fits, a hostile one does not grow the file.</summary>
    public const int MaxTextLength = 512;

    /// <summary>How long a host name, address, path or action name may be.</summary>
    public const int MaxNameLength = 255;

    /// <summary>1 for the first attempt: <see cref="EnvelopeRecord.Attempts"/> after it.</summary>
    public required int Number { get; init; }

    /// <summary>When the attempt started.</summary>
    public required DateTimeOffset At { get; init; }

    /// <summary>The action (and so the agent) that made it.</summary>
    public required string Action { get; init; }

    public required AttemptResult Result { get; init; }

    /// <summary>The MX or smarthost name a relay talked to; null for local agents and when no host was reached.</summary>
    public string? Host { get; init; }

    /// <summary>The address used: the relay's IP, the LMTP endpoint; null when none.</summary>
    public string? Address { get; init; }

    /// <summary>The TLS version of the session (e.g. TLSv1.3), null without TLS.</summary>
    public string? Tls { get; init; }

    /// <summary>Where a local agent delivers: the maildir, the mbox file, the program.</summary>
    public string? Destination { get; init; }

    /// <summary>The remote reply or the agent's error (or success text), clipped.</summary>
    public string? Reply { get; init; }

    /// <summary>The same attempt with every text clipped and without control characters.</summary>
    public AttemptRecord Clipped() => this with
    {
        Action = Clip(Action, MaxNameLength) ?? string.Empty,
        Host = Clip(Host, MaxNameLength),
        Address = Clip(Address, MaxNameLength),
        Tls = Clip(Tls, MaxNameLength),
        Destination = Clip(Destination, MaxNameLength),
        Reply = Clip(Reply, MaxTextLength),
    };

    private static string? Clip(string? text, int max)
    {
        if (text is null)
        {
            return null;
        }

        var length = Math.Min(text.Length, max);
        var chars = new char[length];
        for (var i = 0; i < length; i++)
        {
            chars[i] = char.IsControl(text[i]) ? ' ' : text[i];
        }

        // A surrogate pair cut in half would not encode; drop its first half.
        if (length > 0 && char.IsHighSurrogate(chars[length - 1]))
        {
            length--;
        }

        var clipped = new string(chars, 0, length);
        return text.Length > max ? clipped + "..." : clipped;
    }
}

/// <summary>How an attempt ended (the agent's <c>DeliveryStatus</c>, as stored).</summary>
internal enum AttemptResult
{
    Ok,
    Temporary,
    Permanent,
}
