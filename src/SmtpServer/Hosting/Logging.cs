using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Compact;
using SmtpServer.Configuration;

namespace SmtpServer.Hosting;

/// <summary>Serilog is the sink (STYLE.md §9.6): readable lines by default, JSON on request.</summary>
internal static class Logging
{
    public static Serilog.Core.Logger Create(LogSettings settings) => Create(settings, new LoggingLevelSwitch(LevelOf(settings)));

    /// <summary>A logger whose level <paramref name="levelSwitch"/> changes at run time (<c>smtpctl log verbose|brief</c>).</summary>
    public static Serilog.Core.Logger Create(LogSettings settings, LoggingLevelSwitch levelSwitch)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var configuration = new LoggerConfiguration()
            .MinimumLevel.ControlledBy(levelSwitch)
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .Enrich.FromLogContext();
        return settings.Format == LogFormat.Json
            ? configuration.WriteTo.Console(new RenderedCompactJsonFormatter()).CreateLogger()
            : configuration.WriteTo.Console(
                outputTemplate: "{Timestamp:yyyy-MM-dd HH:mm:ss.fff} {Level:u3} {Message:lj}{NewLine}{Exception}",
                formatProvider: System.Globalization.CultureInfo.InvariantCulture).CreateLogger();
    }

    public static LogEventLevel LevelOf(LogSettings settings) =>
        Enum.TryParse<LogEventLevel>(settings?.Level, ignoreCase: true, out var parsed) ? parsed : LogEventLevel.Information;
}
