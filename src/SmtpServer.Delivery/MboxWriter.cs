using System.Buffers;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;

namespace SmtpServer.Delivery;

/// <summary>
/// Appends one message to one mbox file: <c>From sender date</c>, our trace headers and the
/// message (LF line endings, mboxrd quoting, an empty line after it) under both locks readers
/// may use: a <c>path.lock</c> dotlock (NFS-safe, what mail.local and procmail take) and
/// flock(2). Waits a bounded time for them, then fails temporarily. A failed append is
/// truncated back, so the mbox never holds half a message that would swallow the next one.
/// Used by the mbox agent and for aliases(5) <c>/file</c> targets.
/// </summary>
internal sealed class MboxWriter
{
    public static readonly TimeSpan DefaultLockTimeout = TimeSpan.FromSeconds(30);

    /// <summary>A <c>.lock</c> file older than this was left behind by a crash.</summary>
    public static readonly TimeSpan DefaultStaleLockAge = TimeSpan.FromMinutes(5);

    private const int ChunkSize = 64 * 1024;
    private static readonly TimeSpan s_pollInterval = TimeSpan.FromMilliseconds(100);

    private readonly string _action;
    private readonly TimeSpan _lockTimeout;
    private readonly TimeSpan _staleLockAge;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public MboxWriter(string action, TimeSpan lockTimeout, TimeSpan staleLockAge, TimeProvider timeProvider, ILogger logger)
    {
        _action = action;
        _lockTimeout = lockTimeout;
        _staleLockAge = staleLockAge;
        _time = timeProvider;
        _logger = logger;
    }

    /// <summary>For tests: wraps the mbox stream (e.g. to fail after N bytes, like a full disk).</summary>
    internal Func<Stream, Stream>? OutputFilter { get; set; }

    /// <summary>Appends the message of <paramref name="envelope"/> to <paramref name="mbox"/> (an absolute path).</summary>
    public async ValueTask<DeliveryResult> AppendAsync(string mbox, string messagePath, EnvelopeRecord envelope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var lockPath = mbox + ".lock";
        var haveDotLock = false;
        try
        {
            PrivateFiles.CreateDirectory(Path.GetDirectoryName(mbox)!);
            var deadline = _time.GetUtcNow() + _lockTimeout;
            haveDotLock = await AcquireDotLockAsync(lockPath, deadline, cancellationToken).ConfigureAwait(false);
            if (!haveDotLock)
            {
                return Fail(envelope.Id, Busy(mbox, "dotlock " + lockPath));
            }

            var stream = await OpenLockedAsync(mbox, deadline, cancellationToken).ConfigureAwait(false);
            if (stream is null)
            {
                return Fail(envelope.Id, Busy(mbox, "flock"));
            }

            await using (stream.ConfigureAwait(false))
            {
                await WriteMessageAsync(stream, mbox, messagePath, envelope, cancellationToken).ConfigureAwait(false);
            }

            DeliveryLog.Delivered(_logger, _action, envelope.Id, mbox);
            return DeliveryResult.Ok(envelope.Id);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            DeliveryLog.MboxFailed(_logger, envelope.Id, mbox, e);
            return Fail(envelope.Id, new DeliveryFailure(true, "4.3.0", $"mbox: {e.Message}"));
        }
        finally
        {
            if (haveDotLock)
            {
                TryDelete(lockPath);
            }
        }
    }

    private async ValueTask WriteMessageAsync(FileStream file, string mbox, string messagePath, EnvelopeRecord envelope, CancellationToken cancellationToken)
    {
        var originalLength = file.Seek(0, SeekOrigin.End);
        try
        {
            var output = OutputFilter?.Invoke(file) ?? file;
            var buffer = new ArrayBufferWriter<byte>(ChunkSize + 1024);
            buffer.Write(Encoding.UTF8.GetBytes(FromLine(envelope.Sender)));
            buffer.Write(TraceHeaders.Build(envelope.Sender, envelope.Recipient, "\n"));

            var converter = new MboxConverter();
            var chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
            try
            {
                var source = new FileStream(messagePath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.Asynchronous | FileOptions.SequentialScan);
                await using (source.ConfigureAwait(false))
                {
                    int read;
                    while ((read = await source.ReadAsync(chunk.AsMemory(0, ChunkSize), cancellationToken).ConfigureAwait(false)) > 0)
                    {
                        converter.Convert(chunk.AsSpan(0, read), buffer);
                        await output.WriteAsync(buffer.WrittenMemory, cancellationToken).ConfigureAwait(false);
                        buffer.ResetWrittenCount();
                    }
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }

            converter.Complete(buffer);
            await output.WriteAsync(buffer.WrittenMemory, cancellationToken).ConfigureAwait(false);
            await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            file.Flush(flushToDisk: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            Truncate(file, mbox, originalLength);
            throw;
        }
    }

    private void Truncate(FileStream file, string mbox, long length)
    {
        try
        {
            file.SetLength(length);
            file.Flush(flushToDisk: true);
        }
        catch (IOException e)
        {
            DeliveryLog.MboxTruncateFailed(_logger, mbox, length, e);
        }
    }

    /// <summary>
    /// The dotlock: created with O_CREAT|O_EXCL (FileMode.CreateNew), which is atomic on local
    /// file systems and NFSv3+. A lock older than the stale age is left by a crashed writer.
    /// </summary>
    private async ValueTask<bool> AcquireDotLockAsync(string lockPath, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        while (true)
        {
            FileStream? stream = null;
            try
            {
                stream = new FileStream(lockPath, PrivateFiles.Create(new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write }));
            }
            catch (IOException) when (File.Exists(lockPath))
            {
                var age = _time.GetUtcNow() - File.GetLastWriteTimeUtc(lockPath);
                if (age > _staleLockAge)
                {
                    TryDelete(lockPath);
                    DeliveryLog.StaleLockRemoved(_logger, lockPath, age);
                    continue;
                }
            }

            if (stream is not null)
            {
                await WritePidAsync(stream, lockPath, cancellationToken).ConfigureAwait(false);
                return true;
            }

            if (!await WaitAsync(deadline, cancellationToken).ConfigureAwait(false))
            {
                return false;
            }
        }
    }

    /// <summary>
    /// Writes our pid into the dotlock we just created. A failure (a full disk, cancellation)
    /// removes the lock before it is rethrown: left, it would be taken for another process's lock
    /// until it went stale.
    /// </summary>
    private static async ValueTask WritePidAsync(FileStream stream, string lockPath, CancellationToken cancellationToken)
    {
        try
        {
            await using (stream.ConfigureAwait(false))
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n"), cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            TryDelete(lockPath);
            throw;
        }
    }

    /// <summary>Opens (or creates, 0600) the mbox and takes flock(LOCK_EX), polling until the deadline.</summary>
    private async ValueTask<FileStream?> OpenLockedAsync(string mbox, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        while (true)
        {
            FileStream? stream = null;
            try
            {
                // FileShare.ReadWrite: .NET then takes only a shared flock as a side effect; ours is the exclusive one.
                stream = new FileStream(mbox, PrivateFiles.Create(new FileStreamOptions
                {
                    Mode = FileMode.OpenOrCreate,
                    Access = FileAccess.ReadWrite,
                    Share = FileShare.ReadWrite,
                    BufferSize = 0,
                }));
                if (FileLock.TryLockExclusive(stream.SafeFileHandle, mbox))
                {
                    return stream;
                }
            }
            catch (IOException e) when (IsSharingViolation(e))
            {
                // .NET's own shared flock failed: someone holds LOCK_EX.
            }

            if (stream is not null)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }

            if (!await WaitAsync(deadline, cancellationToken).ConfigureAwait(false))
            {
                return null;
            }
        }
    }

    // .NET reports its failed FileShare flock with the raw errno as HResult: EWOULDBLOCK (11 on
    // Linux, 35 on the BSDs and macOS); on Windows it is ERROR_SHARING_VIOLATION (32) as an HRESULT.
    private static bool IsSharingViolation(IOException e) =>
        OperatingSystem.IsWindows() ? (e.HResult & 0xFFFF) == 32 : e.HResult == (OperatingSystem.IsLinux() ? 11 : 35);

    private async ValueTask<bool> WaitAsync(DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        var left = deadline - _time.GetUtcNow();
        if (left <= TimeSpan.Zero)
        {
            return false;
        }

        await Task.Delay(left < s_pollInterval ? left : s_pollInterval, _time, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>The separator line: <c>From sender asctime</c>, MAILER-DAEMON for the null sender (as mail.local writes it).</summary>
    private string FromLine(AddressRecord? sender)
    {
        var address = sender is null ? "MAILER-DAEMON" : LocalRecipient.FormatAddress(sender);

        // A quoted local part may hold spaces, which would end the address field of the line.
        var safe = new StringBuilder(address.Length);
        foreach (var c in address)
        {
            safe.Append(char.IsWhiteSpace(c) || char.IsControl(c) ? '_' : c);
        }

        var now = _time.GetLocalNow();
        return string.Create(CultureInfo.InvariantCulture, $"From {safe} {now:ddd MMM} {now.Day,2} {now:HH:mm:ss yyyy}\n");
    }

    private static DeliveryFailure Busy(string mbox, string which) =>
        new(true, "4.2.0", $"mbox: {mbox} is locked by another process ({which}); will retry");

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A dotlock we could not remove goes stale and is removed by the next writer.
        }
    }

    private DeliveryResult Fail(EnvelopeId envelope, DeliveryFailure failure) => LocalDelivery.Fail(_logger, _action, envelope, failure);
}
