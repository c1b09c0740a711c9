namespace SmtpServer.Delivery;

/// <summary>
/// Options of one local delivery agent, built by the host from its <c>actions:</c> settings
/// (the host's configuration records live in the host project, which this one cannot see).
/// </summary>
internal abstract record LocalAgentOptions;

/// <summary>maildir: { path }.</summary>
/// <param name="PathTemplate">Absolute path of the Maildir, with <c>{user}</c>, <c>{domain}</c> and <c>{rcpt}</c>
/// placeholders, e.g. <c>/var/mail/{user}/Maildir</c>.</param>
internal sealed record MaildirAgentOptions(string PathTemplate) : LocalAgentOptions;

/// <summary>mbox: { path }.</summary>
/// <param name="PathTemplate">Absolute path of the mbox file, with the same placeholders as maildir, e.g. <c>/var/mail/{user}</c>.</param>
/// <param name="LockTimeout">How long to wait for the dotlock and flock before a temporary failure (default 30 s).</param>
/// <param name="StaleLockAge">A <c>.lock</c> file older than this is considered left behind by a crash and removed (default 5 min).</param>
internal sealed record MboxAgentOptions(string PathTemplate, TimeSpan? LockTimeout = null, TimeSpan? StaleLockAge = null) : LocalAgentOptions
{
    public TimeSpan EffectiveLockTimeout => LockTimeout ?? MboxWriter.DefaultLockTimeout;

    public TimeSpan EffectiveStaleLockAge => StaleLockAge ?? MboxWriter.DefaultStaleLockAge;
}

/// <summary>lmtp: { address }.</summary>
/// <param name="Address"><c>host:port</c>, <c>[ipv6]:port</c>, <c>unix:/path</c> or an absolute socket path.</param>
/// <param name="LhloName">The name sent in LHLO (default <c>localhost</c>, as OpenSMTPD's mail.lmtp).</param>
internal sealed record LmtpAgentOptions(string Address, string? LhloName = null) : LocalAgentOptions
{
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Greeting, LHLO, RSET, MAIL, RCPT and DATA replies.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>From the start of the message content to the last per-recipient reply after the final dot.</summary>
    public TimeSpan DataTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>An idle pooled connection older than this is closed rather than reused.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Idle connections kept per address; more concurrent deliveries open more connections, which are closed afterwards.</summary>
    public int MaxIdleConnections { get; init; } = 4;
}

/// <summary>command: { run, args }.</summary>
/// <param name="Run">The program (absolute path, or a name looked up in PATH). Never run through a shell.</param>
/// <param name="Args">Arguments from the configuration, passed verbatim: no placeholder is expanded into argv.</param>
/// <param name="Timeout">After this the program and its children are killed and the delivery is retried (default 5 min, OpenSMTPD's).</param>
internal sealed record CommandAgentOptions(string Run, IReadOnlyList<string> Args, TimeSpan? Timeout = null) : LocalAgentOptions
{
    public TimeSpan EffectiveTimeout => Timeout ?? CommandRunner.DefaultTimeout;
}
