using System.Diagnostics;
using System.Text;

namespace SmtpServer.Tests.Interop;

/// <summary>The result of running an external program.</summary>
internal sealed record ToolResult(int ExitCode, string StandardOutput, string StandardError)
{
    public string Transcript => StandardOutput + (StandardError.Length > 0 ? "\n[stderr]\n" + StandardError : string.Empty);

    public override string ToString() => $"exit code {ExitCode}\n{Transcript}";
}

/// <summary>
/// The interop peers (.ci/run installs them): swaks, and Debian's python3 with smtplib. A missing
/// peer fails the test, never skips it silently.
/// </summary>
internal static class PeerTool
{
    /// <summary>Debian's interpreter; the pyenv python3 first on PATH is a different one.</summary>
    public const string Python = "/usr/bin/python3";

    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    public static string Swaks()
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, "swaks"))
            .FirstOrDefault(File.Exists);
        Assert.True(path is not null, "swaks is not installed (not on PATH): run .ci/run, which installs the interop peers (swaks, /usr/bin/python3).");
        return path;
    }

    public static string Python3()
    {
        Assert.True(File.Exists(Python), $"{Python} (Debian's python3 with smtplib) is missing: run .ci/run, which installs the interop peers (swaks, /usr/bin/python3).");
        return Python;
    }

    /// <summary>Runs a program (no shell) and collects its output; killed after the timeout.</summary>
    public static async Task<ToolResult> RunAsync(string program, IReadOnlyList<string> arguments, string workingDirectory, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        // Debian's python with its own library only; UTF-8 stdio whatever the locale.
        info.Environment.Remove("PYTHONPATH");
        info.Environment.Remove("PYTHONHOME");
        info.Environment["PYTHONUTF8"] = "1";
        info.Environment["PYTHONIOENCODING"] = "utf-8";

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {program}");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish within {(timeout ?? DefaultTimeout).TotalSeconds} s:\n{await stdout}\n{await stderr}");
        }

        return new ToolResult(process.ExitCode, await stdout, await stderr);
    }
}
