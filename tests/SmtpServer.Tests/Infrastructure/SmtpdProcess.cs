using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using SmtpServer.Core.Queue;
using SmtpServer.Testing;
using Xunit.Abstractions;

namespace SmtpServer.Tests.Infrastructure;

/// <summary>
/// The real <c>smtpd</c> executable (<c>dotnet smtpd.dll -c FILE</c>) in its own process, on a
/// loopback port, with its config and spool in a temp directory. Captures stdout and stderr for
/// failure messages (and writes them to the test output on dispose), kills the whole process tree
/// on dispose and deletes the temp directory. <see cref="RestartAsync"/> starts it again on the
/// same config and spool.
/// </summary>
internal sealed class SmtpdProcess : IAsyncDisposable
{
    public const string Hostname = "mx.test.example";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly StringBuilder _log = new();
    private readonly ITestOutputHelper? _output;
    private Process? _process;
    private int _generation;

    private SmtpdProcess(TempDirectory directory, int port, ITestOutputHelper? output)
    {
        Directory = directory;
        Port = port;
        _output = output;
        ConfigPath = directory.Combine("smtpd.yaml");
        QueuePath = directory.Combine("queue");
        MailPath = directory.Combine("mail");
    }

    public TempDirectory Directory { get; }

    public int Port { get; }

    public IPEndPoint EndPoint => new(IPAddress.Loopback, Port);

    public string ConfigPath { get; }

    public string QueuePath { get; }

    /// <summary>Where <see cref="LocalMaildirRouting"/> puts mailboxes: MailPath/&lt;user&gt;/Maildir.</summary>
    public string MailPath { get; }

    /// <summary>True while the current smtpd process runs.</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Where smtpd.dll is: copied next to the tests by the project reference to the host.</summary>
    public static string SmtpdDll => Path.Combine(AppContext.BaseDirectory, "smtpd.dll");

    /// <summary>
    /// Writes the config and starts smtpd; returns once the port answers 220.
    /// <paramref name="maxMessageSize"/> is a config size ("10KiB"); null keeps the default.
    /// <paramref name="routing"/> gives the config's <c>actions:</c> and <c>rules:</c> sections
    /// (top-level YAML, e.g. <see cref="LocalMaildirRouting"/>); null keeps the default, which
    /// holds every message in the queue. <paramref name="shutdownTimeout"/> sets
    /// server.shutdownTimeout ("5s"); <paramref name="admin"/> adds admin.socket
    /// (<see cref="AdminSocket"/>), for smtpctl with <c>-c</c> <see cref="ConfigPath"/>.
    /// </summary>
    public static async Task<SmtpdProcess> StartAsync(
        ITestOutputHelper? output = null, string? maxMessageSize = null, Func<SmtpdProcess, string>? routing = null, string? shutdownTimeout = null, bool admin = false)
    {
        var directory = new TempDirectory("smtpd-process");
        var smtpd = new SmtpdProcess(directory, FreePort(), output);
        try
        {
            await File.WriteAllTextAsync(smtpd.ConfigPath, smtpd.Config(maxMessageSize, routing?.Invoke(smtpd), shutdownTimeout, admin));
            await smtpd.StartProcessAsync();
            return smtpd;
        }
        catch
        {
            await smtpd.DisposeAsync();
            throw;
        }
    }

    /// <summary>Captured stdout and stderr of every generation of the process so far.</summary>
    public string Output
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>The last few KB of <see cref="Output"/>, for assertion messages.</summary>
    public string OutputTail(int max = 8000)
    {
        var text = Output;
        return text.Length <= max ? text : "…" + text[^max..];
    }

    public Task<SmtpTestClient> ConnectAsync() => SmtpTestClient.ConnectAsync(EndPoint);

    /// <summary>SIGKILL (Process.Kill is SIGKILL on Linux): no shutdown code runs.</summary>
    public async Task KillAsync()
    {
        var process = _process;
        if (process is null)
        {
            return;
        }

        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await process.WaitForExitAsync(cts.Token);
    }

    /// <summary>SIGHUP, as an operator makes smtpd load its configuration file again.</summary>
    public async Task HangupAsync()
    {
        var info = new ProcessStartInfo("kill") { UseShellExecute = false };
        info.ArgumentList.Add("-HUP");
        info.ArgumentList.Add(_process!.Id.ToString(CultureInfo.InvariantCulture));
        using var kill = Process.Start(info)!;
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>
    /// Kills the process if it runs, then starts it again on the same config and spool.
    /// <paramref name="smtpPaused"/>: the spool says smtp is paused, so the server is up once
    /// it refuses connections with 421 4.3.2.
    /// </summary>
    public async Task RestartAsync(bool smtpPaused = false)
    {
        await KillAsync();
        _process?.Dispose();
        _process = null;
        await StartProcessAsync(smtpPaused ? "421 4.3.2 " : "220 ");
    }

    /// <summary>admin.socket when started with <c>admin: true</c>.</summary>
    public string AdminSocket => Directory.Combine("run", "smtpd.sock");

    /// <summary>
    /// SIGTERM (as <c>docker stop</c> or Kubernetes send), then waits for the process to exit;
    /// returns its exit code. Fails when it has not exited within <paramref name="timeout"/>.
    /// </summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        var process = _process ?? throw new InvalidOperationException("smtpd is not running");
        using (var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", process.Id.ToString(CultureInfo.InvariantCulture) }, UseShellExecute = false })!)
        {
            await kill.WaitForExitAsync();
            if (kill.ExitCode != 0)
            {
                throw new InvalidOperationException($"kill -TERM {process.Id} failed with {kill.ExitCode}");
            }
        }

        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"smtpd did not exit within {timeout.TotalSeconds} s of SIGTERM:\n{OutputTail()}");
        }

        return process.ExitCode;
    }

    /// <summary>
    /// Opens the spool as the server would at startup (the constructor empties incoming/) and
    /// loads the committed messages. Only while no session is receiving a message.
    /// </summary>
    public IReadOnlyList<StoredMessage> LoadQueue()
    {
        var store = new FileQueueStore(new FileQueueStoreOptions(QueuePath) { MinFreeSpacePercent = 0 }, TimeProvider.System, NullLogger<FileQueueStore>.Instance);
        return store.Load();
    }

    /// <summary>Entries Load moved aside: must stay empty for a spool our own server wrote.</summary>
    public IReadOnlyList<string> CorruptEntries()
    {
        var corrupt = Path.Combine(QueuePath, "corrupt");
        return System.IO.Directory.Exists(corrupt) ? System.IO.Directory.GetFileSystemEntries(corrupt) : [];
    }

    /// <summary>
    /// Routing for <see cref="StartAsync"/>: mail for <paramref name="domains"/> goes to the
    /// maildir agent at <see cref="MailPath"/>/{user}/Maildir; nothing else is accepted.
    /// </summary>
    public static Func<SmtpdProcess, string> LocalMaildirRouting(params string[] domains) => smtpd =>
    {
        var mail = smtpd.MailPath.Replace("\\", "/", StringComparison.Ordinal);
        return $$"""
            actions:
              local:
                maildir:
                  path: "{{mail}}/{user}/Maildir"

            rules:
              - from: any
                for: { domain: [{{string.Join(", ", domains)}}] }
                action: local

            """;
    };

    /// <summary>The maildir of <paramref name="user"/> under <see cref="MailPath"/> (as <see cref="LocalMaildirRouting"/> names it).</summary>
    public string Maildir(string user) => Path.Combine(MailPath, user, "Maildir");

    /// <summary>Every file under <paramref name="relative"/> in the spool (queue/, incoming/, corrupt/), recursively; empty directories do not count.</summary>
    public IReadOnlyList<string> SpoolFiles(string relative)
    {
        var path = Path.Combine(QueuePath, relative);
        return System.IO.Directory.Exists(path) ? System.IO.Directory.GetFiles(path, "*", SearchOption.AllDirectories) : [];
    }

    /// <summary>
    /// The config's shape. By default every recipient goes to a smarthost that refuses
    /// connections (a closed loopback port), so whatever delivery the server does keeps the mail
    /// in the queue, where the tests look for it; <paramref name="routing"/> replaces that.
    /// </summary>
    private string Config(string? maxMessageSize, string? routing, string? shutdownTimeout, bool admin)
    {
        var limits = maxMessageSize is null ? string.Empty : $"  limits:\n    maxMessageSize: {maxMessageSize}\n";
        limits += shutdownTimeout is null ? string.Empty : $"  shutdownTimeout: {shutdownTimeout}\n";
        var queue = QueuePath.Replace("\\", "/", StringComparison.Ordinal);
        var adminSection = admin ? $"admin:\n  socket: \"{AdminSocket.Replace("\\", "/", StringComparison.Ordinal)}\"\n" : string.Empty;
        return string.Create(CultureInfo.InvariantCulture, $"""
            # Written by SmtpdProcess for a test; the shape of config/smtpd.yaml.
            server:
              hostname: {Hostname}
            {limits}
            queue:
              path: "{queue}"

            {adminSection}

            logging:
              format: text
              level: warning

            # These tests do not need DNS: no reverse lookup of the test client.
            dns:
              reverseLookup: false

            listeners:
              - name: mx
                address: 127.0.0.1:{Port}

            {routing ?? HoldRouting()}
            """);
    }

    private static string HoldRouting() => string.Create(CultureInfo.InvariantCulture, $"""
        actions:
          hold:
            relay:
              host: "smtp+notls://127.0.0.1:{FreePort()}"

        rules:
          - from: any
            for: any
            action: hold

        """);

    private async Task StartProcessAsync(string expectedGreeting = "220 ")
    {
        if (!File.Exists(SmtpdDll))
        {
            throw new InvalidOperationException($"{SmtpdDll} is missing: the test project must reference src/SmtpServer.");
        }

        var generation = ++_generation;
        AppendLog($"--- smtpd start #{generation} (port {Port}) ---");
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Directory.Path,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        info.ArgumentList.Add(SmtpdDll);
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(ConfigPath);

        // The environment overrides the file (SMTPD_*): none from the developer's shell here.
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("SMTPD_", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            info.Environment.Remove(key);
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => AppendLog(e.Data);
        process.ErrorDataReceived += (_, e) => AppendLog(e.Data is null ? null : "stderr: " + e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var deadline = Stopwatch.StartNew();
        Exception? last = null;
        while (deadline.Elapsed < StartTimeout)
        {
            if (process.HasExited)
            {
                await process.WaitForExitAsync();
                throw new InvalidOperationException($"smtpd exited with code {process.ExitCode} while starting:\n{OutputTail()}");
            }

            try
            {
                var greeting = await ReadGreetingAsync();
                if (greeting.StartsWith(expectedGreeting, StringComparison.Ordinal))
                {
                    return;
                }

                throw new InvalidOperationException($"smtpd greeted with '{greeting}' instead of {expectedGreeting.Trim()}:\n{OutputTail()}");
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
            {
                last = e;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"smtpd did not answer 220 on port {Port} within {StartTimeout.TotalSeconds} s ({last?.Message}):\n{OutputTail()}");
    }

    private async Task<string> ReadGreetingAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(EndPoint, cts.Token);
        var buffer = new byte[512];
        var length = 0;
        while (length < buffer.Length)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, cts.Token);
            if (n == 0)
            {
                break;
            }

            length += n;
            if (Array.IndexOf(buffer, (byte)'\n', 0, length) >= 0)
            {
                break;
            }
        }

        try
        {
            await socket.SendAsync("QUIT\r\n"u8.ToArray(), SocketFlags.None, cts.Token);
        }
        catch (SocketException)
        {
        }

        return Encoding.UTF8.GetString(buffer, 0, length).TrimEnd('\r', '\n');
    }

    private void AppendLog(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.AppendLine(line);
        }
    }

    /// <summary>A port that was free a moment ago (bind port 0, read it, stop).</summary>
    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await KillAsync();
        }
        catch (Exception e) when (e is OperationCanceledException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            AppendLog($"--- could not kill smtpd: {e.Message} ---");
        }

        _process?.Dispose();
        _process = null;
        try
        {
            _output?.WriteLine(OutputTail(64_000));
        }
        catch (InvalidOperationException)
        {
            // No test is running any more.
        }

        Directory.Dispose();
    }
}
