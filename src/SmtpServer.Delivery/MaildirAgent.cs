using System.Globalization;
using Microsoft.Extensions.Logging;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;

namespace SmtpServer.Delivery;

/// <summary>
/// maildir: { path }. Writes each recipient's copy to <c>tmp/</c>, fsyncs it, renames it into
/// <c>new/</c> and fsyncs <c>new/</c> (the Maildir contract, https://cr.yp.to/proto/maildir.html):
/// a reader never sees a partial message, and a crash after our success leaves the message in
/// place. <c>user+ext@</c> goes to the Maildir++ folder <c>.ext</c> when that folder exists
/// (OpenSMTPD's mail.maildir); otherwise to INBOX.
/// </summary>
internal sealed class MaildirAgent : IDeliveryAgent
{

    // Unique within the process; with the time, pid and host it makes the name unique (maildir spec).
    private static long s_counter;

    private static readonly string s_host = EscapeHost(Environment.MachineName);

    private readonly PathTemplate _path;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public MaildirAgent(string action, MaildirAgentOptions options, TimeProvider timeProvider, ILogger<MaildirAgent> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        Action = action;
        _path = new PathTemplate(options.PathTemplate);
        _time = timeProvider;
        _logger = logger;
    }

    public string Action { get; }

    public bool IsLocal => true;

    public string DestinationOf(EnvelopeRecord envelope) => _path.DestinationOf(envelope);

    public ValueTask<IReadOnlyList<DeliveryResult>> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return LocalDelivery.ForEachRecipientAsync(
            request, "maildir", this, _logger, (envelope, ct) => DeliverOneAsync(request.MessagePath, envelope, ct), cancellationToken);
    }

    private async ValueTask<DeliveryResult> DeliverOneAsync(string messagePath, EnvelopeRecord envelope, CancellationToken cancellationToken)
    {
        var recipient = LocalRecipient.From(envelope.Recipient);
        if (!_path.TryExpand(recipient, out var maildir))
        {
            DeliveryLog.UnsafeEnvelope(_logger, Action, envelope.Id, "mailbox name");
            return Fail(envelope.Id, new DeliveryFailure(false, "5.1.3", $"maildir: {recipient.Address} is not a valid mailbox name"));
        }

        var folder = SubaddressFolder(maildir, recipient.Extension) ?? maildir;
        string? tmpPath = null;
        try
        {
            foreach (var sub in (string[])["tmp", "new", "cur"])
            {
                PrivateFiles.CreateDirectory(Path.Combine(folder, sub));
            }

            var headers = TraceHeaders.Build(envelope.Sender, envelope.Recipient);
            var source = new FileStream(messagePath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.Asynchronous | FileOptions.SequentialScan);
            string name;
            await using (source.ConfigureAwait(false))
            {
                name = UniqueName(headers.Length + source.Length);
                tmpPath = Path.Combine(folder, "tmp", name);
                var target = new FileStream(tmpPath, PrivateFiles.Create(new FileStreamOptions
                {
                    Mode = FileMode.CreateNew,
                    Access = FileAccess.Write,
                    Share = FileShare.None,
                    Options = FileOptions.Asynchronous,
                    BufferSize = 0,
                }));
                await using (target.ConfigureAwait(false))
                {
                    await target.WriteAsync(headers, cancellationToken).ConfigureAwait(false);
                    await source.CopyToAsync(target, 64 * 1024, cancellationToken).ConfigureAwait(false);
                    target.Flush(flushToDisk: true);
                }
            }

            var newDirectory = Path.Combine(folder, "new");
            File.Move(tmpPath, Path.Combine(newDirectory, name));
            tmpPath = null;

            // The rename is durable only once the directory entry is.
            PosixFile.FlushDirectory(newDirectory);
            DeliveryLog.Delivered(_logger, Action, envelope.Id, folder);
            return DeliveryResult.Ok(envelope.Id);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Disk full, quota, permissions, a vanished directory: all may heal, so retry.
            DeliveryLog.MaildirFailed(_logger, envelope.Id, folder, e);
            return Fail(envelope.Id, new DeliveryFailure(true, "4.3.0", $"maildir: {e.Message}"));
        }
        finally
        {
            if (tmpPath is not null)
            {
                TryDelete(tmpPath);
            }
        }
    }

    /// <summary>The Maildir++ folder <c>.ext</c> when it exists; an extension that is not a safe name is ignored (INBOX).</summary>
    private static string? SubaddressFolder(string maildir, string? extension)
    {
        if (extension is null || !LocalRecipient.IsSafePathSegment(extension))
        {
            return null;
        }

        foreach (var candidate in (string[])[extension, extension.ToLowerInvariant()])
        {
            var folder = Path.Combine(maildir, "." + candidate);
            if (Directory.Exists(folder))
            {
                return folder;
            }
        }

        return null;
    }

    /// <summary><c>&lt;time&gt;.M&lt;usec&gt;P&lt;pid&gt;Q&lt;counter&gt;.&lt;host&gt;,S=&lt;size&gt;</c> (maildir spec; S= is Maildir++'s size, which saves readers a stat).</summary>
    private string UniqueName(long size)
    {
        var now = _time.GetUtcNow();
        var seconds = now.ToUnixTimeSeconds();
        var microseconds = now.UtcTicks % TimeSpan.TicksPerSecond / 10;
        var counter = Interlocked.Increment(ref s_counter);
        return string.Create(CultureInfo.InvariantCulture, $"{seconds}.M{microseconds}P{Environment.ProcessId}Q{counter}.{s_host},S={size}");
    }

    // The spec: '/' and ':' in the host name are written as \057 and \072.
    private static string EscapeHost(string host) => host.Replace("/", "\\057", StringComparison.Ordinal).Replace(":", "\\072", StringComparison.Ordinal);

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A leftover in tmp/ is harmless; maildir readers clean tmp/ of files older than 36 h.
        }
    }

    private DeliveryResult Fail(EnvelopeId envelope, DeliveryFailure failure) => LocalDelivery.Fail(_logger, Action, envelope, failure);
}
