using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text;

namespace SmtpServer.Smtp;

/// <summary>
/// The trace field we prepend (RFC 5321 §4.4, RFC 5322 §3.6.7), with the "with" protocol
/// names of RFC 3848 and RFC 6531 §4.3 (ESMTP, ESMTPS, ESMTPSA, UTF8SMTPS…).
/// </summary>
internal static class ReceivedHeader
{
    internal sealed record Info(
        string Helo,
        IPAddress? ClientAddress,
        string Hostname,
        bool Extended,
        bool Tls,
        bool Authenticated,
        bool SmtpUtf8,
        string QueueId,
        string? Recipient,
        DateTimeOffset Date)
    {
        /// <summary>The client's forward-confirmed reverse DNS name; null: "unknown".</summary>
        public string? ClientHostName { get; init; }

        /// <summary>"(TLSv1.3 TLS_AES_256_GCM_SHA384 …)", or null without TLS.</summary>
        public string? TlsComment { get; init; }

        /// <summary>The authenticated user, when the listener sets receivedAuth.</summary>
        public string? AuthenticatedUser { get; init; }
    }

    public static string Protocol(bool extended, bool tls, bool authenticated, bool smtpUtf8)
    {
        if (!extended)
        {
            return "SMTP";
        }

        var name = smtpUtf8 ? "UTF8SMTP" : "ESMTP";
        return name + (tls ? "S" : string.Empty) + (authenticated ? "A" : string.Empty);
    }

    public static void Write(IBufferWriter<byte> output, Info info)
    {
        var address = info.ClientAddress?.ToString() ?? "local";
        var text = new StringBuilder(256)
            .Append("Received: from ").Append(info.Helo)
            .Append(" (").Append(info.ClientHostName ?? "unknown").Append(" [").Append(address).Append("])\r\n")
            .Append("\tby ").Append(info.Hostname).Append(" (smtpd) with ")
            .Append(Protocol(info.Extended, info.Tls, info.Authenticated, info.SmtpUtf8))
            .Append(" id ").Append(info.QueueId).Append("\r\n");
        if (info.TlsComment is not null)
        {
            text.Append('\t').Append(info.TlsComment).Append("\r\n");
        }

        if (info.AuthenticatedUser is not null)
        {
            text.Append("\t(authenticated user=").Append(Tls.TlsConnectionInfo.Sanitize(info.AuthenticatedUser)).Append(")\r\n");
        }

        // Only a single recipient is named: a list would disclose Bcc recipients (RFC 5321 §7.2).
        if (info.Recipient is not null)
        {
            text.Append("\tfor <").Append(info.Recipient).Append(">;\r\n\t");
        }
        else
        {
            text.Append("\t; ");
        }

        text.Append(FormatDate(info.Date)).Append("\r\n");
        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        output.Write(bytes);
    }

    /// <summary>RFC 5322 §3.3 date-time, e.g. "Thu, 26 Nov 2026 08:01:18 +0000".</summary>
    public static string FormatDate(DateTimeOffset date)
    {
        var offset = date.Offset;
        var sign = offset < TimeSpan.Zero ? '-' : '+';
        offset = offset.Duration();
        return date.ToString("ddd, dd MMM yyyy HH:mm:ss ", CultureInfo.InvariantCulture)
            + sign + offset.Hours.ToString("00", CultureInfo.InvariantCulture) + offset.Minutes.ToString("00", CultureInfo.InvariantCulture);
    }
}
