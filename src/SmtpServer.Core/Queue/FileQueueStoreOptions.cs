namespace SmtpServer.Core.Queue;

/// <summary>Settings of <see cref="FileQueueStore"/> (the <c>queue:</c> section).</summary>
/// <param name="Path">The spool directory; created when missing.</param>
internal sealed record FileQueueStoreOptions(string Path)
{
    /// <summary>
    /// New messages are refused while free blocks or free inodes are below this percentage of
    /// the file system (OpenSMTPD queue_fs.c: 5 %).
    /// </summary>
    public double MinFreeSpacePercent { get; init; } = 5;
}
