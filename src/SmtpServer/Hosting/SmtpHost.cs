using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Serilog;
using Serilog.Core;
using SmtpServer.Admin;
using SmtpServer.Metrics;
using SmtpServer.Configuration;
using SmtpServer.Core.Bounces;
using SmtpServer.Core.Dns;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;
using SmtpServer.Core.Scheduling;
using SmtpServer.Smtp;

namespace SmtpServer.Hosting;

/// <summary>
/// Builds the process: Kestrel with one listener per <c>listeners:</c> entry, each with its own
/// connection-middleware chain ending in the SMTP handler (BedrockFramework's Program.cs shape).
/// </summary>
internal static class SmtpHost
{
    /// <param name="configPath">The file to reload on SIGHUP; null: no live reload.</param>
    public static WebApplication Build(
        ServerSettings settings, Serilog.ILogger logger, TimeProvider? time = null, LoggingLevelSwitch? levelSwitch = null, string? configPath = null)
    {
        time ??= TimeProvider.System;
        var metrics = new SmtpMetrics();
        var control = new ServerControl(levelSwitch ?? new LoggingLevelSwitch(Logging.LevelOf(settings.Logging)));
        var limiter = new SessionLimiter(settings.MaxSessions, settings.MaxSessionsPerClient);

        // One DNS client (dns.servers) for the sessions' reverse lookups and the relay's MX lookups.
        var dns = new DnsResolver(settings.DnsServers);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [],
            ContentRootPath = Directory.GetCurrentDirectory(),
        });

        builder.Logging.ClearProviders();
        builder.Services.AddSerilog(logger, dispose: false);
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(time);
        builder.Services.AddSingleton(metrics);
        builder.Services.AddSingleton(control);
        builder.Services.AddSingleton(limiter);
        builder.Services.AddSingleton(new PrometheusExporter(metrics.Meter));
        builder.Services.AddSingleton<AdminApi>();
        builder.Services.AddRouting();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = settings.ShutdownTimeout);

        // Kestrel's own HTTP limits do not apply to raw connections; ours are in SessionLimiter.
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            var services = kestrel.ApplicationServices;
            var loggerFactory = services.GetRequiredService<ILoggerFactory>();
            var smtp = services.GetRequiredService<SmtpServices>();
            var limitLogger = loggerFactory.CreateLogger("SmtpServer.Hosting.SessionLimit");
            foreach (var listener in settings.Listeners)
            {
                var handler = new SmtpConnectionHandler(listener, smtp);
                var hostname = listener.Hostname ?? settings.Hostname;
                kestrel.Listen(listener.EndPoint, options =>
                {
                    options.Use(next => new SessionLimitMiddleware(next, limiter, hostname, limitLogger, control, metrics).OnConnectionAsync);
                    if (listener.Tls is { Mode: TlsMode.Implicit })
                    {
                        // After the session limit, so a flood of handshakes is bounded too.
                        var tlsLogger = loggerFactory.CreateLogger("SmtpServer.Tls");
                        options.Use(next => new TlsConnectionMiddleware(next, handler.Security.Tls!, settings.Limits.IdleTimeout, time, tlsLogger, metrics).OnConnectionAsync);
                    }

                    options.Run(handler.OnConnectedAsync);
                });
            }

            AdminEndpoints.Listen(kestrel, settings.Admin);
        });

        builder.Services.AddSingleton(sp => QueueStoreFactory.Create(settings.Queue, time, sp.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddSingleton<IQueueStore>(sp => sp.GetRequiredService<FileQueueStore>());
        builder.Services.AddSingleton<IEnvelopeStore>(sp => sp.GetRequiredService<FileQueueStore>());

        // The side pauses the operator left in the spool, read once at start (smtpctl pause smtp|mda|mta).
        builder.Services.AddSingleton(sp => sp.GetRequiredService<FileQueueStore>().LoadSidePauses());

        // What sessions share, with the current settings (a reload swaps them); the admin API reads them too.
        builder.Services.AddSingleton(sp => new SmtpServices(
            settings, sp.GetRequiredService<IQueueStore>(), time, sp.GetRequiredService<ILoggerFactory>(), sp.GetRequiredService<IScheduler>(), metrics, dns));
        if (configPath is not null)
        {
            // SIGHUP and POST /v1/reload; without a config file there is nothing to reload (the admin API answers 409).
            builder.Services.AddSingleton(sp => new ConfigReloader(
                configPath, sp.GetRequiredService<SmtpServices>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger("SmtpServer.Hosting"),
                delivery: sp.GetRequiredService<DeliveryConfiguration>()));
        }

        AddScheduler(builder.Services, settings, time, dns);
        var app = builder.Build();
        var hostLogger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("SmtpServer.Hosting");
        HonourSidePauses(app.Services.GetRequiredService<SidePauses>(), control, hostLogger);
        metrics.ObserveQueue(() => app.Services.GetRequiredService<Scheduler>().Stats, time);
        app.Services.GetRequiredService<AdminApi>().Map(app);
        if (app.Services.GetService<ConfigReloader>() is { } reloader)
        {
            reloader.ListenForSignal();
            app.Lifetime.ApplicationStopping.Register(reloader.Dispose);
        }

        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var bound = BoundEndPoints(app);
            for (var i = 0; i < settings.Listeners.Count; i++)
            {
                var listener = settings.Listeners[i];
                var endPoint = i < bound.Count ? bound[i] : listener.EndPoint;
                HostLog.Listening(hostLogger, endPoint.ToString(), listener.Name, listener.Hostname ?? settings.Hostname);
            }

            AdminEndpoints.Started(settings.Admin, hostLogger);
            foreach (var warning in settings.Warnings)
            {
                HostLog.ConfigWarning(hostLogger, warning.Key, warning.Message);
            }
        });
        app.Lifetime.ApplicationStopping.Register(() =>
        {
            // SIGTERM is a drain: intake closes now (421 until the listeners are gone), and the
            // stop finishes sessions, then tries the queue once more (SchedulerHostedService).
            control.StartDrain();
            HostLog.Stopping(hostLogger, settings.ShutdownTimeout);
        });
        app.Lifetime.ApplicationStopped.Register(() =>
        {
            HostLog.Stopped(hostLogger);
            AdminEndpoints.Stopped(settings.Admin);
            app.Services.GetRequiredService<PrometheusExporter>().Dispose();
            metrics.Dispose();
        });
        return app;
    }

    /// <summary>
    /// Before the listeners bind: smtp paused refuses every connection from the first; the
    /// scheduler starts with mda/mta as they were (its options, <see cref="AddScheduler"/>).
    /// </summary>
    private static void HonourSidePauses(SidePauses pauses, ServerControl control, Microsoft.Extensions.Logging.ILogger logger)
    {
        control.SmtpPaused = pauses.Smtp;
        foreach (var (side, paused) in new[] { ("smtp", pauses.Smtp), ("mda", pauses.Mda), ("mta", pauses.Mta) })
        {
            if (paused)
            {
                HostLog.StartsPaused(logger, side);
            }
        }
    }

    /// <summary>
    /// The scheduler, its agents and bounces. It is a hosted service: started with the host
    /// (after the spool is open: resolving it opens the store), and stopped after the listeners
    /// (WebApplication registers Kestrel's hosted service last, and a host stops its services in
    /// reverse order): a last pass over the queue, then deliveries in progress, up to the
    /// shutdown timeout.
    /// </summary>
    private static void AddScheduler(IServiceCollection services, ServerSettings settings, TimeProvider time, DnsResolver dns)
    {
        // The alias targets an action allows are read from the running settings at each delivery.
        services.AddSingleton(sp => new DeliveryConfiguration.Context(
            sp.GetRequiredService<ILoggerFactory>(), time, dns, () => sp.GetRequiredService<SmtpServices>().Settings.ActionDefinitions));
        services.AddSingleton<IDeliveryAgentFactory>(sp => DeliveryConfiguration.Agents(settings, sp.GetRequiredService<DeliveryConfiguration.Context>()));
        services.AddSingleton(sp => new BounceSender(
            DeliveryConfiguration.Bounces(settings), sp.GetRequiredService<IQueueStore>(), settings.Router, time, sp.GetRequiredService<ILogger<BounceSender>>()));
        services.AddSingleton<IBounceSender>(sp => sp.GetRequiredService<BounceSender>());
        services.AddSingleton(sp => new Scheduler(
            new SchedulerOptions
            {
                LocalPaused = sp.GetRequiredService<SidePauses>().Mda,
                RelayPaused = sp.GetRequiredService<SidePauses>().Mta,
                Expire = settings.Queue.Expire,
                DelayWarnings = settings.Queue.DelayWarnings,
                MaxConcurrentDeliveries = settings.Queue.MaxDeliveries,
                MaxConcurrentDeliveriesPerAction = ActionSettings.DefaultMaxDeliveries,
                ActionConcurrency = DeliveryConfiguration.ActionLimits(settings),
            },
            sp.GetRequiredService<IEnvelopeStore>(),
            sp.GetRequiredService<IDeliveryAgentFactory>(),
            sp.GetRequiredService<IBounceSender>(),
            time,
            sp.GetRequiredService<ILogger<Scheduler>>(),
            sp.GetRequiredService<SmtpMetrics>().Scheduler));
        services.AddSingleton(sp => new DeliveryConfiguration(
            sp.GetRequiredService<Scheduler>(), sp.GetRequiredService<BounceSender>(), sp.GetRequiredService<DeliveryConfiguration.Context>()));
        services.AddSingleton<IScheduler>(sp => sp.GetRequiredService<Scheduler>());
        services.AddSingleton<ISchedulerControl>(sp => sp.GetRequiredService<Scheduler>());
        services.AddHostedService<SchedulerHostedService>();
    }

    /// <summary>The admin HTTP endpoint as bound (admin.http with port 0 gets a real port), or null.</summary>
    public static IPEndPoint? AdminHttpEndPoint(WebApplication app, ServerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var bound = BoundEndPoints(app);
        return settings.Admin.HttpEndPoint is null || bound.Count <= settings.Listeners.Count ? null : bound[settings.Listeners.Count];
    }

    /// <summary>The endpoints Kestrel actually bound (port 0 becomes a real port).</summary>
    public static IReadOnlyList<IPEndPoint> BoundEndPoints(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var result = new List<IPEndPoint>();
        foreach (var address in addresses)
        {
            var uri = new Uri(address);
            var host = uri.Host.Trim('[', ']');
            if (IPAddress.TryParse(host, out var ip))
            {
                result.Add(new IPEndPoint(ip, uri.Port));
            }
        }

        return result;
    }
}
