using System.Text;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;
using SmtpServer.Protocol;
using SmtpServer.Testing;

namespace SmtpServer.Delivery.Tests;

/// <summary>Queued messages and envelopes as the scheduler would hand them to an agent.</summary>
internal static class TestMessages
{
    public const string Simple =
        "Received: from client.example (client.example [192.0.2.1])\r\n" +
        "\tby mx.example.org with ESMTP id 0193a1b2c3d4e5f6; Thu, 26 Nov 2026 08:00:00 +0000\r\n" +
        "From: Sender <sender@example.net>\r\n" +
        "To: alice@example.org\r\n" +
        "Subject: hello\r\n" +
        "Message-ID: <1@example.net>\r\n" +
        "\r\n" +
        "Hello Alice.\r\n" +
        "From the body, a line that mbox must quote.\r\n" +
        ">From an already quoted line.\r\n" +
        ".a line with a leading dot\r\n" +
        "..two dots\r\n" +
        ".\r\n" +
        "Bye.\r\n";

    private static int s_index;

    public static string Write(TempDirectory directory, string content, string? name = null)
    {
        var path = directory.Combine(name ?? $"msg-{Guid.NewGuid():N}.eml");
        File.WriteAllBytes(path, Encoding.UTF8.GetBytes(content));
        return path;
    }

    /// <summary>Writes a script with LF line endings, executable by its owner only.</summary>
    public static string WriteExecutable(TempDirectory directory, string name, string script)
    {
        var path = directory.Combine(name);
        File.WriteAllText(path, script.Replace("\r\n", "\n", StringComparison.Ordinal) + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    public static AddressRecord Address(string address)
    {
        var at = address.LastIndexOf('@');
        return new AddressRecord(address[..at], address[(at + 1)..]);
    }

    public static EnvelopeRecord Envelope(QueueId message, string recipient, string? sender = "sender@example.net", string? originalRecipient = null) =>
        Envelope(message, Address(recipient), sender is null ? null : Address(sender), originalRecipient);

    public static EnvelopeRecord Envelope(QueueId message, AddressRecord recipient, AddressRecord? sender, string? originalRecipient = null) => new()
    {
        Version = EnvelopeRecord.CurrentVersion,
        Id = new EnvelopeId(message, Interlocked.Increment(ref s_index) & EnvelopeId.MaxIndex),
        MessageId = message,
        Sender = sender,
        Recipient = recipient,
        OriginalRecipient = originalRecipient,
        Notify = DsnNotify.None,
        Ret = DsnReturn.Unspecified,
        Body = BodyType.EightBitMime,
        SmtpUtf8 = false,
        Action = "local",
        Listener = "test",
        ClientAddress = "192.0.2.1",
        Helo = "client.example",
        Tls = false,
        ReceivedAt = DateTimeOffset.UtcNow,
        Attempts = 0,
    };

    public static DeliveryRequest Request(string messagePath, params EnvelopeRecord[] recipients) =>
        new(recipients[0].MessageId, messagePath, recipients);

    public static DeliveryRequest Request(string messagePath, params string[] recipients)
    {
        var id = QueueId.New(TimeProvider.System);
        return new DeliveryRequest(id, messagePath, [.. recipients.Select(r => Envelope(id, r))]);
    }

    public static string TraceHeaders(string sender, string recipient, string newLine = "\r\n") =>
        $"Return-Path: <{sender}>{newLine}Delivered-To: {recipient}{newLine}";
}
