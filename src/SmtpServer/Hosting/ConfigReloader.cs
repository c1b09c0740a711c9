using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using SmtpServer.Configuration;
using SmtpServer.Smtp;

namespace SmtpServer.Hosting;

/// <summary>
/// Live reload (SIGHUP): loads and validates the file again; a config with any problem is
/// refused with a log line per bad key and nothing changes. A good one becomes the settings of
/// new sessions (rules, actions' tables, tables, limits); sessions in progress keep the snapshot
/// they started with. Delivery follows it too (<see cref="DeliveryConfiguration"/>): new agents
/// for the actions and their limits, bounces routed by the new rules; deliveries in progress
/// finish with the old agents. Listeners (addresses, TLS, AUTH) are bound once: changing them
/// needs a restart, which is logged, as does dns.servers; queue.path, expire and delayWarnings keep the values the
/// process started with. Triggered by SIGHUP or by the admin API (<c>smtpctl reload</c>), which
/// gets the errors back.
/// </summary>
internal sealed class ConfigReloader(
    string path, SmtpServices services, ILogger logger, IReadOnlyDictionary<string, string>? environment = null, DeliveryConfiguration? delivery = null) : IDisposable
{
    private readonly Lock _lock = new();
    private PosixSignalRegistration? _registration;

    /// <summary>Reloads on SIGHUP (where the platform has it).</summary>
    public void ListenForSignal()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        _registration = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            // Not the default (terminate): reload instead, off the signal thread.
            context.Cancel = true;
            _ = Task.Run(Reload);
        });
    }

    /// <summary>True when the new configuration is in use.</summary>
    public bool Reload() => TryReload().Reloaded;

    /// <summary>
    /// Loads the file again: in use when <see cref="ConfigReloadResult.Reloaded"/>, otherwise
    /// refused with every problem found (also logged) and the running configuration stays.
    /// </summary>
    public ConfigReloadResult TryReload()
    {
        lock (_lock)
        {
            HostLog.Reloading(logger, path);
            var loaded = ConfigLoader.Load(path, environment);
            if (loaded.Settings is null)
            {
                IReadOnlyList<ConfigError> errors = loaded.Errors.Count > 0 ? loaded.Errors : [new ConfigError(string.Empty, $"'{path}' could not be loaded")];
                foreach (var error in errors)
                {
                    HostLog.ReloadRefused(logger, error.Key.Length == 0 ? path : error.Key, error.Message);
                }

                return new ConfigReloadResult(false, errors, []);
            }

            foreach (var warning in loaded.Settings.Warnings)
            {
                HostLog.ConfigWarning(logger, warning.Key, warning.Message);
            }

            var running = services.Settings;
            var changed = ChangedListeners(running.Listeners, loaded.Settings.Listeners).ToList();
            foreach (var name in changed)
            {
                HostLog.ReloadListenersChanged(logger, name);
            }

            // One DNS client serves the sessions and the relay from the start (dns.reverseLookup
            // and its timeout are read per session, so they do change).
            if (!running.DnsServers.SequenceEqual(loaded.Settings.DnsServers))
            {
                HostLog.ReloadDnsChanged(logger);
            }


            // Delivery first: a message committed by a session that starts with the new
            // settings then reaches the scheduler after its new agents (events are in order).
            _ = delivery?.ApplyAsync(loaded.Settings);
            services.UpdateSettings(loaded.Settings);
            HostLog.Reloaded(logger, path);
            return new ConfigReloadResult(true, [], changed);
        }
    }

    public void Dispose() => _registration?.Dispose();

    private static IEnumerable<string> ChangedListeners(IReadOnlyList<ListenerSettings> running, IReadOnlyList<ListenerSettings> loaded)
    {
        static string Shape(ListenerSettings l)
            => $"{l.EndPoint}|{l.Hostname}|{l.Submission}|{l.ReceivedAuth}|{l.Tls?.Mode}|{l.Tls?.Required}|{l.Tls?.CertificatePath}|{l.Auth?.Mode}|{l.Auth?.CredentialsTable}";

        var before = running.ToDictionary(l => l.Name, Shape, StringComparer.OrdinalIgnoreCase);
        var after = loaded.ToDictionary(l => l.Name, Shape, StringComparer.OrdinalIgnoreCase);
        foreach (var (name, shape) in after)
        {
            if (!before.TryGetValue(name, out var old) || old != shape)
            {
                yield return name;
            }
        }

        foreach (var name in before.Keys.Where(n => !after.ContainsKey(n)))
        {
            yield return name;
        }
    }
}

/// <summary>What a reload did: in use, or refused with its errors; listeners that changed need a restart.</summary>
internal sealed record ConfigReloadResult(bool Reloaded, IReadOnlyList<ConfigError> Errors, IReadOnlyList<string> ListenersNeedingRestart);
