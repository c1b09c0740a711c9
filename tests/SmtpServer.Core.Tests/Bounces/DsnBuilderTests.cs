using System.Text;
using MimeKit;
using MimeKit.Utils;
using SmtpServer.Core.Bounces;
using SmtpServer.Core.Queue;
using SmtpServer.Protocol;
using SmtpServer.Testing;

namespace SmtpServer.Core.Tests.Bounces;

/// <summary>DSN rendering, parsed back with MimeKit (RFC 3464, RFC 3461, RFC 6522, RFC 3834).</summary>
public sealed class DsnBuilderTests : IDisposable
{
    private static readonly DateTimeOffset Arrival = new(2025, 11, 26, 8, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Now = Arrival + TimeSpan.FromDays(4);
    private static readonly BounceOptions Options = new("mx.example.org");
    private const string Original = "Received: from client.example.org by mx.example.org\r\nSubject: quarterly report\r\nMessage-ID: <orig@example.org>\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\r\nThe body.\r\n--b1--\r\n";

    private readonly TempDirectory _directory = new("smtpd-dsn");

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void Failure_DSN_is_a_multipart_report_with_the_three_parts_and_the_headers_of_the_original()
    {
        var report = Report(DsnKind.Failed, Envelope("user@example.net"));

        var dsn = DsnParts.Parse(RoundTrip(report));

        Assert.Equal("multipart/report", dsn.Report.ContentType.MimeType);
        Assert.Equal("delivery-status", dsn.Report.ContentType.Parameters["report-type"]);
        Assert.Equal("delivery-status", dsn.Report.ReportType);
        Assert.Equal(3, dsn.Report.Count);
        Assert.Equal("text/plain", dsn.Report[0].ContentType.MimeType);
        Assert.Equal("message/delivery-status", dsn.Report[1].ContentType.MimeType);
        Assert.Equal("text/rfc822-headers", dsn.Report[2].ContentType.MimeType);

        var headers = Assert.IsType<TextRfc822Headers>(dsn.Report[2]).Message!;
        Assert.Equal("quarterly report", headers.Subject);
        Assert.Equal("orig@example.org", headers.MessageId);
        Assert.DoesNotContain("The body.", dsn.Report[2].ToString(), StringComparison.Ordinal);

        var message = dsn.Message;
        Assert.Equal("Mail Delivery System", Assert.Single(message.From.Mailboxes).Name);
        Assert.Equal("MAILER-DAEMON@mx.example.org", Assert.Single(message.From.Mailboxes).Address);
        Assert.Equal("sender@example.org", Assert.Single(message.To.Mailboxes).Address);
        Assert.Equal("Delivery status notification: failed", message.Subject);
        Assert.Equal("auto-replied", message.Headers["Auto-Submitted"]);
        Assert.Equal(Now, message.Date);
        Assert.EndsWith("@mx.example.org", message.MessageId, StringComparison.Ordinal);
        Assert.Contains("<user@example.net>: 550 5.1.1 No such user", ((TextPart)dsn.Report[0]).Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Delivery_status_carries_the_per_message_and_per_recipient_fields()
    {
        var envelope = Envelope("user@example.net") with { EnvelopeIdParameter = "QQ314159", OriginalRecipientType = "rfc822", OriginalRecipient = "alias@example.net" };
        var report = Report(DsnKind.Failed, envelope);

        var dsn = DsnParts.Parse(RoundTrip(report));

        Assert.Equal("QQ314159", dsn.PerMessage["Original-Envelope-Id"]);
        Assert.Equal("dns; mx.example.org", dsn.PerMessage["Reporting-MTA"]);
        Assert.True(DateUtils.TryParse(dsn.PerMessage["Arrival-Date"], out var arrival));
        Assert.Equal(Arrival, arrival);

        var recipient = Assert.Single(dsn.Recipients);
        Assert.Equal("rfc822; alias@example.net", recipient["Original-Recipient"]);
        Assert.Equal("rfc822; user@example.net", recipient["Final-Recipient"]);
        Assert.Equal("failed", recipient["Action"]);
        Assert.Equal("5.1.1", recipient["Status"]);
        Assert.Equal("dns; mx.example.net", recipient["Remote-MTA"]);
        Assert.Equal("smtp; 550 5.1.1 No such user", recipient["Diagnostic-Code"]);
        Assert.True(DateUtils.TryParse(recipient["Last-Attempt-Date"], out var last));
        Assert.Equal(Now - TimeSpan.FromMinutes(5), last);

        // The fields RFC 3464 lists in that order.
        Assert.Equal(["Original-Recipient", "Final-Recipient", "Action", "Status", "Remote-MTA", "Diagnostic-Code", "Last-Attempt-Date"], recipient.Select(h => h.Field));
    }

    [Fact]
    public void Without_ENVID_ORCPT_or_a_remote_the_optional_fields_are_absent()
    {
        var report = new DsnReport(DsnKind.Failed, WriteOriginal(), [new DsnRecipient(Envelope("user@example.net"), "5.4.7", null, null, null, "Envelope expired")]);

        var dsn = DsnParts.Parse(RoundTrip(report));

        Assert.Null(dsn.PerMessage["Original-Envelope-Id"]);
        var recipient = Assert.Single(dsn.Recipients);
        Assert.Equal(["Final-Recipient", "Action", "Status"], recipient.Select(h => h.Field));
        Assert.Equal("5.4.7", recipient["Status"]);
        Assert.Contains("Envelope expired", ((TextPart)dsn.Report[0]).Text, StringComparison.Ordinal);
    }

    [Fact]
    public void RET_FULL_returns_the_whole_original_message_byte_for_byte()
    {
        var envelope = Envelope("user@example.net") with { Ret = DsnReturn.Full };
        var bytes = RoundTripBytes(Report(DsnKind.Failed, envelope));

        var dsn = DsnParts.Parse(bytes);
        Assert.Equal("message/rfc822", dsn.Report[2].ContentType.MimeType);
        var original = Assert.IsType<MessagePart>(dsn.Report[2]).Message!;
        Assert.Equal("quarterly report", original.Subject);
        Assert.Contains(Original, Encoding.ASCII.GetString(bytes), StringComparison.Ordinal);
    }

    [Fact]
    public void RET_FULL_of_a_huge_message_and_RET_FULL_on_a_delay_warning_return_headers_only()
    {
        var envelope = Envelope("user@example.net") with { Ret = DsnReturn.Full };
        var small = Options with { MaxReturnedMessageSize = 10 };

        Assert.Equal("text/rfc822-headers", DsnParts.Parse(RoundTrip(Report(DsnKind.Failed, envelope), small)).Report[2].ContentType.MimeType);
        Assert.Equal("text/rfc822-headers", DsnParts.Parse(RoundTrip(Report(DsnKind.Delayed, envelope))).Report[2].ContentType.MimeType);
    }

    [Fact]
    public void Delay_and_success_DSNs_say_so()
    {
        var until = Now + TimeSpan.FromDays(1);
        var delayed = DsnParts.Parse(RoundTrip(new DsnReport(DsnKind.Delayed, WriteOriginal(), [new DsnRecipient(Envelope("user@example.net"), "4.4.1", "421 4.4.1 timeout", null, Now)], until)));
        Assert.Equal("Delivery status notification: delayed", delayed.Message.Subject);
        Assert.Equal("delayed", delayed.Recipients[0]["Action"]);
        Assert.Equal("4.4.1", delayed.Recipients[0]["Status"]);
        Assert.True(DateUtils.TryParse(delayed.Recipients[0]["Will-Retry-Until"], out var retryUntil));
        Assert.Equal(until, retryUntil);

        var delivered = DsnParts.Parse(RoundTrip(new DsnReport(DsnKind.Delivered, WriteOriginal(), [new DsnRecipient(Envelope("user@example.net"), "2.0.0", null, null, Now)])));
        Assert.Equal("Delivery status notification: delivered", delivered.Message.Subject);
        Assert.Equal("delivered", delivered.Recipients[0]["Action"]);
        Assert.Equal("2.0.0", delivered.Recipients[0]["Status"]);
    }

    [Fact]
    public void Status_that_does_not_fit_the_kind_falls_back_to_its_default()
    {
        Assert.Equal("5.0.0", DsnBuilder.StatusFor(DsnKind.Failed, "4.2.2"));
        Assert.Equal("5.0.0", DsnBuilder.StatusFor(DsnKind.Failed, "5.x.1"));
        Assert.Equal("4.0.0", DsnBuilder.StatusFor(DsnKind.Delayed, null));
        Assert.Equal("5.7.26", DsnBuilder.StatusFor(DsnKind.Failed, "5.7.26"));
        Assert.Equal("4.2.2", DsnBuilder.StatusInReply("452-4.2.2 quota"));
        Assert.Null(DsnBuilder.StatusInReply("maildir: disk full"));
        Assert.Null(DsnBuilder.StatusInReply("452 5.2.2 mismatched"));
    }

    [Fact]
    public void UTF8_recipient_and_ORCPT_are_written_as_utf8_addr_xtext_and_the_DSN_stays_ASCII()
    {
        var envelope = Envelope("zoë@bücher.example") with { OriginalRecipientType = "utf-8", OriginalRecipient = "ñandú+x=y@例え.jp" };
        var bytes = RoundTripBytes(new DsnReport(DsnKind.Failed, WriteOriginal(), [new DsnRecipient(envelope, "5.1.1", "550 5.1.1 unknown", null, Now)]));

        var dsn = DsnParts.Parse(bytes);
        var recipient = Assert.Single(dsn.Recipients);
        Assert.Equal("utf-8; zo\\x{EB}@b\\x{FC}cher.example", recipient["Final-Recipient"]);
        Assert.Equal("utf-8; \\x{F1}and\\x{FA}\\x{2B}x\\x{3D}y@\\x{4F8B}\\x{3048}.jp", recipient["Original-Recipient"]);

        // And back: RFC 6533 decoding gives the addresses again.
        Assert.Equal("zoë@bücher.example", DecodeUtf8Xtext(recipient["Final-Recipient"]!["utf-8; ".Length..]));
        Assert.Equal("ñandú+x=y@例え.jp", DecodeUtf8Xtext(recipient["Original-Recipient"]!["utf-8; ".Length..]));
        // The human-readable part carries the address in UTF-8, quoted-printable: the DSN is 7-bit.
        Assert.Contains("<zoë@bücher.example>", HumanPart(dsn), StringComparison.Ordinal);
        Assert.True(Ascii.IsValid(bytes));
    }

    [Fact]
    public void Hostile_diagnostic_and_ENVID_cannot_add_fields_or_parts()
    {
        var envelope = Envelope("user@example.net") with { EnvelopeIdParameter = "id\r\nAction: delivered\r\n\r\n--x" };
        var diagnostic = "550 5.1.1 bad\r\nStatus: 2.0.0\r\n\r\nFinal-Recipient: rfc822; victim@example.com\r\n" + new string('x', 300) + " ünïcode";
        var report = new DsnReport(DsnKind.Failed, WriteOriginal(), [new DsnRecipient(envelope, "5.1.1", diagnostic, "mx\r\nX-Evil: 1", Now)]);

        var dsn = DsnParts.Parse(RoundTrip(report));

        Assert.Equal(3, dsn.Report.Count);
        Assert.Equal(["Original-Envelope-Id", "Reporting-MTA", "Arrival-Date"], dsn.PerMessage.Select(h => h.Field));
        var recipient = Assert.Single(dsn.Recipients);
        Assert.Equal(["Final-Recipient", "Action", "Status", "Remote-MTA", "Diagnostic-Code", "Last-Attempt-Date"], recipient.Select(h => h.Field));
        Assert.Equal("5.1.1", recipient["Status"]);
        Assert.StartsWith("smtp; 550 5.1.1 bad  Status: 2.0.0", recipient["Diagnostic-Code"], StringComparison.Ordinal);
        Assert.EndsWith("x ?n?code", recipient["Diagnostic-Code"], StringComparison.Ordinal);
        Assert.Equal("id  Action: delivered    --x", dsn.PerMessage["Original-Envelope-Id"]);
    }

    [Fact]
    public void Agent_errors_that_are_not_SMTP_replies_are_x_local_diagnostics()
    {
        var report = new DsnReport(DsnKind.Failed, WriteOriginal(), [new DsnRecipient(Envelope("user@example.net"), "5.2.0", "maildir: permission denied", null, Now)]);

        Assert.Equal("x-local; maildir: permission denied", DsnParts.Parse(RoundTrip(report)).Recipients[0]["Diagnostic-Code"]);
    }

    [Fact]
    public void An_unreadable_original_gives_a_DSN_without_the_third_part()
    {
        var report = new DsnReport(DsnKind.Failed, _directory.Combine("missing"), [new DsnRecipient(Envelope("user@example.net"), "5.1.1", null, null, Now)]);

        var message = DsnBuilder.Build(report, Options, Now, out var error);

        Assert.IsAssignableFrom<IOException>(error);
        Assert.Equal(2, Assert.IsType<MultipartReport>(message.Body).Count);
    }

    internal static EnvelopeRecord Envelope(string recipient, string? sender = "sender@example.org")
    {
        var envelope = new MessageEnvelope
        {
            Id = new QueueId(0x0193a1b2c3d4e5f6),
            Sender = sender is null ? null : Parse(sender),
            MailParameters = MailParameters.Empty,
            Recipients = [new RecipientEnvelope(Parse(recipient), RcptParameters.Empty, "local")],
            Listener = "mx",
            ClientAddress = "192.0.2.1",
            Helo = "client.example.org",
            ReceivedAt = Arrival,
        };
        return EnvelopeRecord.Create(envelope, 0);
    }

    private static Mailbox Parse(string address)
    {
        var at = address.LastIndexOf('@');
        return new Mailbox(address[..at], address[(at + 1)..]);
    }

    private DsnReport Report(DsnKind kind, EnvelopeRecord envelope) =>
        new(kind, WriteOriginal(), [new DsnRecipient(envelope, kind == DsnKind.Failed ? "5.1.1" : "4.4.1", "550 5.1.1 No such user", "mx.example.net", Now - TimeSpan.FromMinutes(5))], Now + TimeSpan.FromDays(1));

    private string WriteOriginal()
    {
        var path = _directory.Combine("message");
        File.WriteAllText(path, Original, Encoding.ASCII);
        return path;
    }

    private static MimeMessage RoundTrip(DsnReport report, BounceOptions? options = null) =>
        MimeMessage.Load(new MemoryStream(RoundTripBytes(report, options)));

    private static byte[] RoundTripBytes(DsnReport report, BounceOptions? options = null)
    {
        var message = DsnBuilder.Build(report, options ?? Options, Now, out var error);
        Assert.Null(error);
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        using var stream = new MemoryStream();
        message.WriteTo(format, stream);
        return stream.ToArray();
    }

    private static string HumanPart(DsnParts dsn) => ((TextPart)dsn.Report[0]).Text;

    private static string DecodeUtf8Xtext(string value)
    {
        var destination = new byte[value.Length * 4];
        Assert.True(XText.TryDecodeUtf8Address(Encoding.ASCII.GetBytes(value), allowRawUtf8: false, destination, out var written));
        return Encoding.UTF8.GetString(destination, 0, written);
    }
}
