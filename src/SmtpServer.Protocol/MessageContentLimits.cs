namespace SmtpServer.Protocol;

/// <summary>Bounds on DATA/BDAT content (DESIGN.md decision 6), enforced while streaming.</summary>
/// <param name="MaxMessageSize">Content octets as stored (dot-unstuffed, CRLF line endings).</param>
/// <param name="MaxLineLength">Octets per line including CRLF (RFC 5321 §4.5.3.1.6: at least 1000).</param>
/// <param name="MaxHeaderSize">Octets of the header section, CRLFs included, the blank line not.</param>
/// <param name="MaxReceivedHeaders">This many Received: fields or more is a loop (RFC 5321 §6.3; OpenSMTPD uses 100).</param>
/// <param name="BareLineEndings">What to do with a CR or LF outside CRLF.</param>
internal sealed record MessageContentLimits(long MaxMessageSize, int MaxLineLength, long MaxHeaderSize, int MaxReceivedHeaders, BareLineEndingPolicy BareLineEndings)
{
    /// <summary>The defaults: OpenSMTPD's 35 MiB, the RFC text line, 1 MiB of headers, 100 hops, reject bare line endings.</summary>
    public static readonly MessageContentLimits Default = new(35 * 1024 * 1024, 1000, 1024 * 1024, 100, BareLineEndingPolicy.Reject);
}
