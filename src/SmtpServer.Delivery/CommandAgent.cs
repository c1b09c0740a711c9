using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;

namespace SmtpServer.Delivery;

/// <summary>
/// command: { run, args }. Runs the configured program once per recipient, directly (no
/// <c>/bin/sh -c</c>: OpenSMTPD's mail.mda used one, and CVE-2020-7247 put a MAIL FROM into
/// it; DESIGN.md decision 7). The envelope goes only into environment variables, which no
/// program parses as code unless it chooses to; argv comes from the configuration alone. The
/// inherited environment is dropped except PATH, HOME and LANG. The message, with our trace
/// headers, goes to stdin. Exit 0 is delivered, 75 (EX_TEMPFAIL) and 71 (EX_OSERR) temporary,
/// anything else permanent (OpenSMTPD's mapping); the last non-empty stderr line is the text.
/// </summary>
internal sealed class CommandAgent : IDeliveryAgent
{
    private const int ExTempFail = 75;
    private const int ExOsErr = 71;
    private const int StderrTail = 4096;
    private const int MaxDiagnosticLength = 500;
    private const int ChunkSize = 64 * 1024;

    private static readonly string[] s_inherited = ["PATH", "HOME", "LANG"];
    private static readonly TimeSpan s_pipeDrainLimit = TimeSpan.FromSeconds(5);

    private readonly CommandAgentOptions _options;
    private readonly ILogger _logger;

    public CommandAgent(string action, CommandAgentOptions options, ILogger<CommandAgent> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.Run);
        ArgumentNullException.ThrowIfNull(options.Args);
        if (options.EffectiveTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("command timeout must be positive.", nameof(options));
        }

        Action = action;
        _options = options;
        _logger = logger;
    }

    public string Action { get; }

    public bool IsLocal => true;

    public string DestinationOf(EnvelopeRecord envelope) => _options.Run;

    public ValueTask<IReadOnlyList<DeliveryResult>> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return LocalDelivery.ForEachRecipientAsync(
            request, "command", this, _logger, (envelope, ct) => DeliverOneAsync(request.MessagePath, envelope, ct), cancellationToken);
    }

    private async ValueTask<DeliveryResult> DeliverOneAsync(string messagePath, EnvelopeRecord envelope, CancellationToken cancellationToken)
    {
        // Environment entries cannot hold NUL, and a CR/LF would let the sender forge lines for
        // any script that writes $ORIGINAL_RECIPIENT into a header or a log (sender and
        // recipient were checked by LocalDelivery).
        if (envelope.OriginalRecipient is { } orcpt && !LocalRecipient.HasNoControlCharacters(orcpt))
        {
            DeliveryLog.UnsafeEnvelope(_logger, Action, envelope.Id, "ORCPT");
            return Fail(envelope.Id, new DeliveryFailure(false, "5.1.3", "original recipient contains control characters"));
        }

        using var process = new Process { StartInfo = StartInfo(envelope) };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            // A missing or non-executable program is a configuration error: keep the mail and retry.
            DeliveryLog.CommandStartFailed(_logger, _options.Run, envelope.Id, e);
            return Fail(envelope.Id, new DeliveryFailure(true, "4.3.0", $"command: cannot run {_options.Run}: {e.Message}"));
        }

        DeliveryLog.CommandStarted(_logger, _options.Run, envelope.Id, process.Id);
        var stdin = WriteStdinAsync(process, messagePath, envelope);
        var stderr = ReadLastLineAsync(process.StandardError.BaseStream);
        var stdout = DrainAsync(process.StandardOutput.BaseStream);

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_options.EffectiveTimeout);
        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            timedOut = !cancellationToken.IsCancellationRequested;
            Kill(process);
            if (timedOut)
            {
                DeliveryLog.CommandTimedOut(_logger, _options.Run, envelope.Id, _options.EffectiveTimeout, process.Id);
            }
        }

        // Exit (or the kill) closes the pipes, so these finish; but a background child the
        // program left behind (or one that escaped the tree with setsid) may hold them open, so
        // the wait is bounded and the diagnostic is then the exit status alone.
        string? lastLine = null;
        try
        {
            await Task.WhenAll(stdin, stderr, stdout).WaitAsync(s_pipeDrainLimit, CancellationToken.None).ConfigureAwait(false);
            lastLine = await stderr.ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }

        cancellationToken.ThrowIfCancellationRequested();

        if (timedOut)
        {
            return Fail(envelope.Id, new DeliveryFailure(true, "4.3.0", $"command: {_options.Run} timed out after {_options.EffectiveTimeout.TotalSeconds:0} s and was killed"));
        }

        var exit = process.ExitCode;
        var text = lastLine ?? $"{Path.GetFileName(_options.Run)} exited with status {exit}";
        if (exit == 0)
        {
            DeliveryLog.Delivered(_logger, Action, envelope.Id, _options.Run);
            return DeliveryResult.Ok(envelope.Id);
        }

        // .NET reports a death by signal as 128 + the signal; a crash is worth a retry.
        return exit is ExTempFail or ExOsErr or > 128
            ? Fail(envelope.Id, new DeliveryFailure(true, "4.3.0", $"command: {text}"))
            : Fail(envelope.Id, new DeliveryFailure(false, "5.3.0", $"command: {text}"));
    }

    private ProcessStartInfo StartInfo(EnvelopeRecord envelope)
    {
        var info = new ProcessStartInfo(_options.Run)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            CreateNoWindow = true,
        };
        foreach (var arg in _options.Args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment.Clear();
        foreach (var name in s_inherited)
        {
            if (Environment.GetEnvironmentVariable(name) is { } value)
            {
                info.Environment[name] = value;
            }
        }

        var recipient = LocalRecipient.From(envelope.Recipient);
        info.Environment["SENDER"] = envelope.Sender is null ? string.Empty : LocalRecipient.FormatAddress(envelope.Sender);
        info.Environment["RECIPIENT"] = recipient.Address;
        info.Environment["USER"] = recipient.User;
        info.Environment["DOMAIN"] = recipient.Domain;
        info.Environment["EXTENSION"] = recipient.Extension ?? string.Empty;
        info.Environment["ORIGINAL_RECIPIENT"] = envelope.OriginalRecipient ?? recipient.Address;
        return info;
    }

    private static async Task WriteStdinAsync(Process process, string messagePath, EnvelopeRecord envelope)
    {
        var stdin = process.StandardInput.BaseStream;
        try
        {
            await stdin.WriteAsync(TraceHeaders.Build(envelope.Sender, envelope.Recipient)).ConfigureAwait(false);
            var source = new FileStream(messagePath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.Asynchronous | FileOptions.SequentialScan);
            await using (source.ConfigureAwait(false))
            {
                await source.CopyToAsync(stdin, ChunkSize).ConfigureAwait(false);
            }

            await stdin.FlushAsync().ConfigureAwait(false);
        }
        catch (IOException)
        {
            // EPIPE: the program closed stdin without reading it all, which it may do (e.g. a
            // filter that only needs the headers). Its exit status decides.
        }
        finally
        {
            try
            {
                await stdin.DisposeAsync().ConfigureAwait(false);
            }
            catch (IOException)
            {
                // Same EPIPE, on the final flush.
            }
        }
    }

    /// <summary>Reads stderr to the end, keeping only its last <see cref="StderrTail"/> bytes, and returns the last non-empty line.</summary>
    private static async Task<string?> ReadLastLineAsync(Stream stderr)
    {
        var tail = new byte[StderrTail];
        var chunk = new byte[StderrTail];
        var length = 0;
        try
        {
            int read;
            while ((read = await stderr.ReadAsync(chunk).ConfigureAwait(false)) > 0)
            {
                var keep = Math.Min(length, StderrTail - read);
                if (keep < length)
                {
                    Buffer.BlockCopy(tail, length - keep, tail, 0, keep);
                }

                Buffer.BlockCopy(chunk, Math.Max(0, read - StderrTail), tail, keep, Math.Min(read, StderrTail));
                length = keep + Math.Min(read, StderrTail);
            }
        }
        catch (IOException)
        {
            // Pipe torn down by a kill: use what we have.
        }

        var text = Encoding.UTF8.GetString(tail, 0, length);
        foreach (var line in text.Split('\n').Reverse())
        {
            var trimmed = line.Trim();
            if (trimmed.Length > 0)
            {
                var clean = new string([.. trimmed.Select(c => char.IsControl(c) ? '?' : c)]);
                return clean.Length > MaxDiagnosticLength ? clean[..MaxDiagnosticLength] : clean;
            }
        }

        return null;
    }

    // Stdout is not used, but a program blocked on a full stdout pipe would never exit.
    private static async Task DrainAsync(Stream stdout)
    {
        var buffer = new byte[4096];
        try
        {
            while (await stdout.ReadAsync(buffer).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (IOException)
        {
            // Torn down by a kill.
        }
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It exited just now.
        }
        catch (Win32Exception)
        {
            // Same, seen from the kernel.
        }

        process.WaitForExit();
    }

    private DeliveryResult Fail(EnvelopeId envelope, DeliveryFailure failure) => LocalDelivery.Fail(_logger, Action, envelope, failure);
}
