using Microsoft.Extensions.Logging;
using SmtpServer.Configuration;
using SmtpServer.Core.Queue;

namespace SmtpServer.Hosting;

/// <summary>Opens the configured spool (creating it, clearing uncommitted leftovers).</summary>
internal static class QueueStoreFactory
{
    public static FileQueueStore Create(QueueSettings queue, TimeProvider time, ILoggerFactory loggerFactory) =>
        new(new FileQueueStoreOptions(queue.Path) { MinFreeSpacePercent = queue.MinFreeSpacePercent },
            time, loggerFactory.CreateLogger<FileQueueStore>());
}
