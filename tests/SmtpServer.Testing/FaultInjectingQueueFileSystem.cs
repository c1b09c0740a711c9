using SmtpServer.Core.Queue;

namespace SmtpServer.Testing;

/// <summary>
/// The real queue file system, with failures on demand (as dotnet/runtime's
/// ThrowAfterNWritesStream): "disk full" after a number of bytes, or a failing fsync or rename
/// after a number of successful calls. A budget of null never fails; 0 fails the next call.
/// </summary>
internal sealed class FaultInjectingQueueFileSystem : IQueueFileSystem
{
    private readonly QueueFileSystem _inner = QueueFileSystem.Instance;
    private readonly Lock _lock = new();

    /// <summary>Bytes that may still be written, over all files, before writes fail with ENOSPC.</summary>
    public long? WriteBudget { get; set; }

    public int? FlushToDiskBudget { get; set; }

    public int? FlushDirectoryBudget { get; set; }

    public int? MoveDirectoryBudget { get; set; }

    public int FailureCount { get; private set; }

    public Stream CreateFile(string path) => new FaultStream(this, (FileStream)_inner.CreateFile(path));

    public void FlushToDisk(Stream file)
    {
        Spend(FlushToDiskBudget, b => FlushToDiskBudget = b, "fsync failed (EIO)");
        _inner.FlushToDisk(((FaultStream)file).Inner);
    }

    public void FlushDirectory(string path)
    {
        Spend(FlushDirectoryBudget, b => FlushDirectoryBudget = b, $"fsync of directory {path} failed (EIO)");
        _inner.FlushDirectory(path);
    }

    public void CreateDirectory(string path) => _inner.CreateDirectory(path);

    public void MoveDirectory(string source, string destination)
    {
        Spend(MoveDirectoryBudget, b => MoveDirectoryBudget = b, "rename failed (EIO)");
        _inner.MoveDirectory(source, destination);
    }

    public void MoveFile(string source, string destination, bool overwrite) => _inner.MoveFile(source, destination, overwrite);

    public void DeleteDirectory(string path) => _inner.DeleteDirectory(path);

    public void DeleteFile(string path) => _inner.DeleteFile(path);

    private void Spend(int? budget, Action<int?> set, string message)
    {
        lock (_lock)
        {
            if (budget is null)
            {
                return;
            }

            if (budget == 0)
            {
                FailureCount++;
                throw new IOException(message);
            }

            set(budget - 1);
        }
    }

    private void SpendBytes(int count)
    {
        lock (_lock)
        {
            if (WriteBudget is null)
            {
                return;
            }

            if (count > WriteBudget)
            {
                FailureCount++;
                WriteBudget = 0;
                throw new IOException("No space left on device (ENOSPC)");
            }

            WriteBudget -= count;
        }
    }

    private sealed class FaultStream(FaultInjectingQueueFileSystem owner, FileStream inner) : Stream
    {
        public FileStream Inner => inner;

        public override bool CanRead => false;

        public override bool CanSeek => inner.CanSeek;

        public override bool CanWrite => inner.CanWrite;

        public override long Length => inner.Length;

        public override long Position
        {
            get => inner.Position;
            set => inner.Position = value;
        }

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

        public override void SetLength(long value) => inner.SetLength(value);

        public override void Write(byte[] buffer, int offset, int count)
        {
            owner.SpendBytes(count);
            inner.Write(buffer, offset, count);
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            owner.SpendBytes(buffer.Length);
            await inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        public override ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
