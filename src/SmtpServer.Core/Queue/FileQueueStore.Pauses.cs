using System.Text.Json;

namespace SmtpServer.Core.Queue;

/// <summary>The sides the operator paused (<c>smtpctl pause smtp|mda|mta</c>), as kept in the spool.</summary>
/// <param name="Smtp">New SMTP connections are refused with 421.</param>
/// <param name="Mda">Local agents do not run.</param>
/// <param name="Mta">Relays do not run.</param>
internal sealed record SidePauses(bool Smtp, bool Mda, bool Mta)
{
    public static readonly SidePauses None = new(false, false, false);
}

internal sealed partial class FileQueueStore
{
    /// <summary>In the spool root, beside incoming/, queue/ and corrupt/.</summary>
    internal const string PausesFileName = "paused.json";

    // Three booleans; anything larger was not written by us.
    private const long MaxPausesFileSize = 4096;

    private string PausesPath => Path.Combine(RootPath, PausesFileName);

    /// <summary>
    /// The side pauses kept in the spool (start-up only: a leftover temporary file is removed).
    /// None when there is no file; a file that cannot be read goes to corrupt/ (logged) and
    /// reads as none, as any bad queue file: it never stops the server.
    /// </summary>
    public SidePauses LoadSidePauses()
    {
        var path = PausesPath;
        if (File.Exists(path + TemporaryExtension))
        {
            // A save interrupted before its rename: the previous state still stands.
            _fileSystem.DeleteFile(path + TemporaryExtension);
            QueueLog.TemporaryFileRemoved(_logger, path + TemporaryExtension);
        }

        if (!File.Exists(path))
        {
            return SidePauses.None;
        }

        string reason;
        try
        {
            if (new FileInfo(path).Length > MaxPausesFileSize)
            {
                reason = "pause state file too large";
            }
            else if (JsonSerializer.Deserialize(File.ReadAllBytes(path), QueueJsonContext.Default.SidePauses) is { } pauses)
            {
                return pauses;
            }
            else
            {
                reason = "empty pause state";
            }
        }
        catch (JsonException e)
        {
            reason = e.Message;
        }
        catch (IOException e)
        {
            reason = e.Message;
        }

        MoveToCorrupt(path, PausesFileName, reason);
        return SidePauses.None;
    }

    /// <summary>
    /// Replaces the side pauses in the spool as every queue update is: write paused.json.tmp,
    /// fsync, rename over the old file, fsync the directory. Throws when any step fails (the
    /// old state then stands). Callers do not save concurrently.
    /// </summary>
    public async ValueTask SaveSidePausesAsync(SidePauses pauses, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pauses);
        var path = PausesPath;
        var temporary = path + TemporaryExtension;
        try
        {
            await WriteFileDurablyAsync(temporary, JsonSerializer.SerializeToUtf8Bytes(pauses, QueueJsonContext.Default.SidePauses), cancellationToken).ConfigureAwait(false);
            _fileSystem.MoveFile(temporary, path, overwrite: true);
        }
        catch
        {
            TryDeleteFile(temporary);
            throw;
        }

        _fileSystem.FlushDirectory(RootPath);
    }
}
