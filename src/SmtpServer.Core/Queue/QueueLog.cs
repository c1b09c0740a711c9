using Microsoft.Extensions.Logging;

namespace SmtpServer.Core.Queue;

/// <summary>Log events of the queue subsystem (ids 2000–2099; STYLE.md §9 item 6).</summary>
internal static partial class QueueLog
{
    [LoggerMessage(2000, LogLevel.Information, "Queue opened at {Path}", EventName = "QueueOpened")]
    public static partial void QueueOpened(ILogger logger, string path);

    [LoggerMessage(2001, LogLevel.Warning, "Removed uncommitted message {Name} from incoming/", EventName = "IncomingLeftoverRemoved")]
    public static partial void IncomingLeftoverRemoved(ILogger logger, string name);

    [LoggerMessage(2002, LogLevel.Debug, "Message {QueueId} committed: {Recipients} recipients, {Size} bytes", EventName = "MessageCommitted")]
    public static partial void MessageCommitted(ILogger logger, QueueId queueId, int recipients, long size);

    [LoggerMessage(2003, LogLevel.Error, "Commit of message {QueueId} failed", EventName = "CommitFailed")]
    public static partial void CommitFailed(ILogger logger, QueueId queueId, Exception exception);

    [LoggerMessage(2004, LogLevel.Error, "Corrupt queue entry {Path} moved to {CorruptPath}: {Reason}", EventName = "CorruptMoved")]
    public static partial void CorruptMoved(ILogger logger, string path, string corruptPath, string reason);

    [LoggerMessage(2005, LogLevel.Information, "Message {QueueId} has no envelopes left; removed", EventName = "EmptyMessageRemoved")]
    public static partial void EmptyMessageRemoved(ILogger logger, QueueId queueId);

    [LoggerMessage(2006, LogLevel.Warning, "Queue file system {Path} is low on space: {BlocksPercent:F1} % blocks, {InodesPercent:F1} % inodes free (minimum {MinPercent} %)", EventName = "LowFreeSpace")]
    public static partial void LowFreeSpace(ILogger logger, string path, double blocksPercent, double inodesPercent, double minPercent);

    [LoggerMessage(2007, LogLevel.Error, "statvfs({Path}) failed with errno {Errno}; refusing new messages", EventName = "StatvfsFailed")]
    public static partial void StatvfsFailed(ILogger logger, string path, int errno);

    [LoggerMessage(2008, LogLevel.Warning, "Could not remove uncommitted message {QueueId}", EventName = "DiscardFailed")]
    public static partial void DiscardFailed(ILogger logger, QueueId queueId, Exception exception);

    [LoggerMessage(2009, LogLevel.Warning, "Removed interrupted temporary file {Path}", EventName = "TemporaryFileRemoved")]
    public static partial void TemporaryFileRemoved(ILogger logger, string path);

    [LoggerMessage(2010, LogLevel.Critical, "Could not move corrupt queue entry {Path} aside", EventName = "CorruptMoveFailed")]
    public static partial void CorruptMoveFailed(ILogger logger, string path, Exception exception);

    [LoggerMessage(2011, LogLevel.Information, "Loaded {Messages} messages with {Envelopes} envelopes from the queue", EventName = "QueueLoaded")]
    public static partial void QueueLoaded(ILogger logger, int messages, int envelopes);
}
