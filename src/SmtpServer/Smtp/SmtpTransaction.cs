using SmtpServer.Core.Queue;
using SmtpServer.Protocol;

namespace SmtpServer.Smtp;

/// <summary>One mail transaction (RFC 5321 §3.3): from MAIL to the end of data or RSET.</summary>
internal sealed class SmtpTransaction(Mailbox? sender, MailParameters parameters)
{
    public Mailbox? Sender { get; } = sender;

    public MailParameters Parameters { get; } = parameters;

    public List<RecipientEnvelope> Recipients { get; } = [];

    /// <summary>RCPT commands that were refused; tells 554 "no valid recipients" from 503.</summary>
    public int RejectedRecipients { get; set; }

    /// <summary>Set once a BDAT chunk started the message; DATA is then out of sequence.</summary>
    public bool Chunking { get; set; }

    /// <summary>A BDAT chunk failed: the rest of the chunks are read and refused (RFC 3030 §2).</summary>
    public bool ChunkingFailed { get; set; }

    /// <summary>The spool file of the message being received, once DATA or the first BDAT began.</summary>
    public IMessageSpool? Spool { get; set; }

    /// <summary>Where message content goes: the spool writer, or the header fixes in front of it.</summary>
    public System.Buffers.IBufferWriter<byte> Content => (System.Buffers.IBufferWriter<byte>?)Submission ?? Spool!.Writer;

    /// <summary>Set on submission listeners (adds Message-ID/Date when missing) and for masquerade (rewrites From:).</summary>
    public SubmissionHeaderWriter? Submission { get; set; }
}
