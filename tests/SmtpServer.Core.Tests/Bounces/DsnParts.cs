using MimeKit;

namespace SmtpServer.Core.Tests.Bounces;

/// <summary>A DSN parsed back with MimeKit: the report, its per-message and per-recipient field groups.</summary>
internal sealed record DsnParts(MimeMessage Message, MultipartReport Report, HeaderList PerMessage, IReadOnlyList<HeaderList> Recipients)
{
    public static DsnParts Parse(MimeMessage message)
    {
        var report = Assert.IsType<MultipartReport>(message.Body);
        var status = Assert.IsType<MessageDeliveryStatus>(report[1]);

        // MimeKit reads the blank line that ends the part as one more, empty group.
        var groups = status.StatusGroups.Where(g => g.Count > 0).ToList();
        return new DsnParts(message, report, groups[0], groups[1..]);
    }

    public static DsnParts Parse(byte[] bytes) => Parse(MimeMessage.Load(new MemoryStream(bytes)));
}
