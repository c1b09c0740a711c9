namespace SmtpServer.Core.Queue;

/// <summary>
/// Every write-side file operation of <see cref="FileQueueStore"/>, so tests can make any step
/// fail ("disk full" after N bytes, a failing fsync or rename) and prove that a failed commit
/// leaves nothing in the queue (STYLE.md §9 item 9, chasquid's swappable <c>createTemp</c>).
/// </summary>
internal interface IQueueFileSystem
{
    /// <summary>Creates a new, empty file for writing; fails if it exists.</summary>
    Stream CreateFile(string path);

    /// <summary>fsync of a stream returned by <see cref="CreateFile"/>.</summary>
    void FlushToDisk(Stream file);

    /// <summary>fsync of a directory, making entries added, renamed or removed in it durable.</summary>
    void FlushDirectory(string path);

    void CreateDirectory(string path);

    /// <summary>rename(2) of a directory; fails if the destination exists.</summary>
    void MoveDirectory(string source, string destination);

    /// <summary>rename(2) of a file, replacing the destination atomically when asked.</summary>
    void MoveFile(string source, string destination, bool overwrite);

    void DeleteDirectory(string path);

    void DeleteFile(string path);
}

/// <summary>The real file system.</summary>
internal sealed class QueueFileSystem : IQueueFileSystem
{
    public static readonly QueueFileSystem Instance = new();

    public Stream CreateFile(string path) =>
        // bufferSize 0: the PipeWriter in front of it already buffers.
        new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read, bufferSize: 0);

    public void FlushToDisk(Stream file)
    {
        if (file is not FileStream stream)
        {
            throw new ArgumentException("Not a stream of this file system.", nameof(file));
        }

        stream.Flush(flushToDisk: true);
    }

    public void FlushDirectory(string path) => PosixFile.FlushDirectory(path);

    public void CreateDirectory(string path) => Directory.CreateDirectory(path);

    public void MoveDirectory(string source, string destination) => Directory.Move(source, destination);

    public void MoveFile(string source, string destination, bool overwrite) => File.Move(source, destination, overwrite);

    public void DeleteDirectory(string path) => Directory.Delete(path, recursive: true);

    public void DeleteFile(string path) => File.Delete(path);
}
