using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;
using SmtpServer.Configuration;

namespace SmtpServer.Hosting;

/// <summary>Serilog is the sink (STYLE.md §9.6): readable lines by default, JSON on request.</summary>
internal static class Logging
{
    public static Serilog.Core.Logger Create(LogSettings settings)
    {
        var level = Enum.TryParse<LogEventLevel>(settings.Level, ignoreCase: true, out var parsed) ? parsed : LogEventLevel.Information;
        var configuration = new LoggerConfiguration()
            .MinimumLevel.Is(level)
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .Enrich.FromLogContext();
        return settings.Format == LogFormat.Json
            ? configuration.WriteTo.Console(new RenderedCompactJsonFormatter()).CreateLogger()
            : configuration.WriteTo.Console(
                outputTemplate: "{Timestamp:yyyy-MM-dd HH:mm:ss.fff} {Level:u3} {Message:lj}{NewLine}{Exception}",
                formatProvider: System.Globalization.CultureInfo.InvariantCulture).CreateLogger();
    }
}
