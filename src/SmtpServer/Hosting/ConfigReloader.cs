using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using SmtpServer.Configuration;
using SmtpServer.Smtp;

namespace SmtpServer.Hosting;

/// <summary>
/// Live reload (SIGHUP): loads and validates the file again; a config with any problem is
/// refused with a log line per bad key and the running one stays. A good one becomes the
/// settings of new sessions (rules, actions' tables, tables, limits); sessions in progress keep
/// the snapshot they started with. Listeners (addresses, TLS, AUTH) are bound once: changing them
/// needs a restart, which is logged. Deliveries keep the agents the process started with.
/// </summary>
internal sealed class ConfigReloader(string path, SmtpServices services, ILogger logger, IReadOnlyDictionary<string, string>? environment = null) : IDisposable
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
    public bool Reload()
    {
        lock (_lock)
        {
            HostLog.Reloading(logger, path);
            var loaded = ConfigLoader.Load(path, environment);
            if (loaded.Settings is null)
            {
                foreach (var error in loaded.Errors)
                {
                    HostLog.ReloadRefused(logger, error.Key.Length == 0 ? path : error.Key, error.Message);
                }

                return false;
            }

            var running = services.Settings;
            foreach (var name in ChangedListeners(running.Listeners, loaded.Settings.Listeners))
            {
                HostLog.ReloadListenersChanged(logger, name);
            }

            services.UpdateSettings(loaded.Settings);
            HostLog.Reloaded(logger, path);
            return true;
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
