using System.Net;
using Microsoft.AspNetCore.Builder;
using Serilog;
using SmtpServer.Configuration;
using SmtpServer.Core.Queue;
using SmtpServer.Hosting;
using SmtpServer.Testing;

namespace SmtpServer.Tests.Infrastructure;

/// <summary>The real host (Kestrel, middleware, handler) on a loopback port chosen by the OS.</summary>
internal sealed class SocketSmtpServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private SocketSmtpServer(WebApplication app, TempDirectory spool, ServerSettings settings)
    {
        _app = app;
        Spool = spool;
        Settings = settings;
    }

    public TempDirectory Spool { get; }

    public ServerSettings Settings { get; }

    public IPEndPoint EndPoint { get; private set; } = null!;

    /// <summary>The host itself (services, lifetime, the admin HTTP address).</summary>
    public WebApplication App => _app;

    public static async Task<SocketSmtpServer> StartAsync(Func<ServerSettings, ServerSettings>? configure = null)
    {
        var spool = new TempDirectory("smtpd-socket");
        var settings = TestSettings.Create(spool.Combine("queue")) with
        {
            Listeners = [new ListenerSettings { Name = "mx", EndPoint = new IPEndPoint(IPAddress.Loopback, 0) }],
        };
        if (configure is not null)
        {
            settings = configure(settings);
        }

        var logger = new LoggerConfiguration().CreateLogger();
        var app = SmtpHost.Build(settings, logger);
        await app.StartAsync();
        var server = new SocketSmtpServer(app, spool, settings) { EndPoint = SmtpHost.BoundEndPoints(app)[0] };
        return server;
    }

    /// <summary>
    /// The host as smtpd runs it from a file: settings loaded from <paramref name="configPath"/>,
    /// which is also the file reloaded (SIGHUP, admin reload). The server owns <paramref name="directory"/>.
    /// <paramref name="time"/> replaces the clock (retries, agents' idle timers); default: the system's.
    /// </summary>
    public static async Task<SocketSmtpServer> StartFromConfigAsync(TempDirectory directory, string configPath, TimeProvider? time = null)
    {
        var loaded = ConfigLoader.Load(configPath, new Dictionary<string, string>());
        Assert.True(loaded.Settings is not null && loaded.Errors.Count == 0, string.Join("\n", loaded.Errors));
        var app = SmtpHost.Build(loaded.Settings, new LoggerConfiguration().CreateLogger(), time, configPath: configPath);
        await app.StartAsync();
        return new SocketSmtpServer(app, directory, loaded.Settings) { EndPoint = SmtpHost.BoundEndPoints(app)[0] };
    }

    public Task<SmtpTestClient> ConnectAsync() => SmtpTestClient.ConnectAsync(EndPoint);

    /// <summary>
    /// The committed messages, read without touching the spool: the server may be running and
    /// delivering (FileQueueStore.Load is for start-up only; it cleans up as it reads).
    /// </summary>
    public IReadOnlyList<StoredMessage> Committed() => QueueReader.Read(Settings.Queue.Path).Messages;

    public async Task StopAsync() => await _app.StopAsync();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Spool.Dispose();
    }
}
