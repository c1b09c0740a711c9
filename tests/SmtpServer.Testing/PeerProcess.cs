using System.Diagnostics;
using System.Text;

namespace SmtpServer.Testing;

/// <summary>A child process whose output is collected; disposing closes its stdin, then kills it (whole tree) after 5 s.</summary>
public sealed class PeerProcess : IAsyncDisposable, IDisposable
{
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly bool _stopsOnStdinClose;

    private PeerProcess(Process process, bool stopsOnStdinClose)
    {
        Process = process;
        _stopsOnStdinClose = stopsOnStdinClose;
    }

    public Process Process { get; }

    /// <summary>Everything the process wrote so far (stdout and stderr), for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static PeerProcess Start(string file, params string[] args) => Start(file, stopsOnStdinClose: false, args);

    /// <summary>Starts <paramref name="file"/>; with <paramref name="stopsOnStdinClose"/> disposing first closes stdin and waits up to 5 s, otherwise it kills at once.</summary>
    public static PeerProcess Start(string file, bool stopsOnStdinClose, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var process = new Process { StartInfo = info };
        var peer = new PeerProcess(process, stopsOnStdinClose);
        process.OutputDataReceived += (_, e) => peer.Collect(e.Data);
        process.ErrorDataReceived += (_, e) => peer.Collect(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return peer;
    }

    /// <summary>Waits for the line "ready" (bounded), failing with the process's output otherwise.</summary>
    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        var exited = Process.WaitForExitAsync();
        var first = await Task.WhenAny(_ready.Task, exited, Task.Delay(timeout));
        if (first != _ready.Task)
        {
            throw new TimeoutException($"{Process.StartInfo.FileName} did not become ready: {Output}");
        }
    }

    private void Collect(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }

        if (line == "ready")
        {
            _ready.TrySetResult(line);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!Process.HasExited)
            {
                Process.StandardInput.Close();
                using var wait = new CancellationTokenSource(_stopsOnStdinClose ? TimeSpan.FromSeconds(5) : TimeSpan.Zero);
                try
                {
                    await Process.WaitForExitAsync(wait.Token);
                }
                catch (OperationCanceledException)
                {
                    Process.Kill(entireProcessTree: true);
                    await Process.WaitForExitAsync();
                }
            }
        }
        catch (InvalidOperationException)
        {
            // Never started or already gone.
        }
        catch (IOException)
        {
            // stdin already closed by the process exiting.
        }

        Process.Dispose();
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
