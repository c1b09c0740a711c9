using Serilog.Core;
using Serilog.Events;

namespace SmtpServer.Admin;

/// <summary>
/// Process-wide switches the admin API flips: intake (<c>pause smtp</c>: new connections get
/// 421), drain, and the log level (Serilog's <see cref="LoggingLevelSwitch"/>).
/// </summary>
internal sealed class ServerControl(LoggingLevelSwitch levelSwitch)
{
    private volatile bool _smtpPaused;
    private volatile bool _draining;

    /// <summary>The level the configuration asked for; <c>log brief</c> returns to it.</summary>
    public LogEventLevel ConfiguredLevel { get; } = levelSwitch.MinimumLevel;

    public LoggingLevelSwitch LevelSwitch { get; } = levelSwitch;

    /// <summary>New SMTP connections are refused with 421 (sessions in progress go on).</summary>
    public bool SmtpPaused
    {
        get => _smtpPaused || _draining;
        set => _smtpPaused = value;
    }

    /// <summary>Set once by <c>smtpctl drain</c>; the process stops when the queue has been tried.</summary>
    public bool Draining => _draining;

    /// <summary>True the first time only.</summary>
    public bool StartDrain()
    {
        var was = _draining;
        _draining = true;
        return !was;
    }
}
