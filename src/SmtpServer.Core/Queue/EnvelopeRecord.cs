using System.Text.Json.Serialization;
using SmtpServer.Protocol;

namespace SmtpServer.Core.Queue;

/// <summary>
/// One recipient's envelope as stored in <c>queue/XX/&lt;msgid&gt;/&lt;evpid&gt;.json</c>. The file
/// is written by <see cref="QueueJsonContext"/> (source-generated System.Text.Json): every value
/// a remote party chose (addresses, HELO, ENVID, ORCPT, a remote reply in
/// <see cref="LastError"/>) is a JSON string, escaped by the serializer, so none can change the
/// structure of the file (DESIGN.md decision 3; the CVE-2020-8794 class). Reading rejects
/// unknown properties, missing required ones and nulls where none are allowed.
/// </summary>
internal sealed record EnvelopeRecord
{
    /// <summary>
    /// Bumped on any incompatible change; records of another version go to corrupt/. Optional
    /// properties that read as absent in older records (<see cref="DelayWarned"/>,
    /// <see cref="History"/>, <see cref="Paused"/>) are not such a change: version-1 records of
    /// every vintage load as they are.
    /// </summary>
    public const int CurrentVersion = 1;

    public required int Version { get; init; }

    [JsonConverter(typeof(EnvelopeIdJsonConverter))]
    public required EnvelopeId Id { get; init; }

    [JsonConverter(typeof(QueueIdJsonConverter))]
    public required QueueId MessageId { get; init; }

    /// <summary>The reverse-path; null for the null sender &lt;&gt; (present, never omitted).</summary>
    public required AddressRecord? Sender { get; init; }

    public required AddressRecord Recipient { get; init; }

    /// <summary>ORCPT= address type (RFC 3461 §4.2), or null.</summary>
    public string? OriginalRecipientType { get; init; }

    /// <summary>ORCPT= address, decoded, or null.</summary>
    public string? OriginalRecipient { get; init; }

    public required DsnNotify Notify { get; init; }

    public required DsnReturn Ret { get; init; }

    /// <summary>ENVID= of MAIL FROM (RFC 3461 §4.4), or null.</summary>
    public string? EnvelopeIdParameter { get; init; }

    public required BodyType Body { get; init; }

    public required bool SmtpUtf8 { get; init; }

    /// <summary>SIZE= of MAIL FROM, or null.</summary>
    public long? Size { get; init; }

    /// <summary>AUTH= of MAIL FROM, or null.</summary>
    public string? MailAuth { get; init; }

    /// <summary>The action (from <c>actions:</c>) the rules chose for this recipient.</summary>
    public required string Action { get; init; }

    /// <summary>
    /// An alias's <c>/file</c> or <c>|command</c> that <see cref="Action"/> delivers to instead of
    /// the recipient's mailbox, or null for ordinary delivery. Absent in records written before
    /// alias targets existed, which reads as null. Left out when null, so that a server rolled
    /// back to a version without targets still reads ordinary envelopes; one with a target it
    /// would deliver to the mailbox instead, so there it goes to corrupt/, as it should.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DeliveryTarget? Target { get; init; }

    public required string Listener { get; init; }

    public required string ClientAddress { get; init; }

    public string? ClientHostName { get; init; }

    public required string Helo { get; init; }

    public string? AuthenticatedUser { get; init; }

    public required bool Tls { get; init; }

    public required DateTimeOffset ReceivedAt { get; init; }

    // Delivery state, updated by the scheduler after every attempt (write temp, fsync, rename).

    public required int Attempts { get; init; }

    public DateTimeOffset? LastAttempt { get; init; }

    public DateTimeOffset? NextAttempt { get; init; }

    public string? LastError { get; init; }

    /// <summary>
    /// Every attempt (time, agent, host and address, TLS, result, reply), bounded by
    /// <see cref="AttemptHistory"/>. Absent in records written before histories were kept,
    /// which reads as null (no attempt recorded). Not written while null, so a record that was
    /// never tried stays readable by the version before.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public AttemptHistory? History { get; init; }

    /// <summary>
    /// Paused by the operator (<c>smtpctl pause envelope|message</c>): kept, never tried, until
    /// resumed; survives a restart. Absent (written only when true) reads as not paused.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Paused { get; init; }

    /// <summary>
    /// The largest <c>queue.delayWarnings</c> step a delay DSN was sent for (every step up to it
    /// counts as sent), or null when none was. Absent in records written before delay warnings
    /// existed, which reads as null.
    /// </summary>
    public TimeSpan? DelayWarned { get; init; }

    [JsonIgnore]
    public Mailbox? SenderMailbox => Sender?.ToMailbox();

    [JsonIgnore]
    public Mailbox RecipientMailbox => Recipient.ToMailbox();

    /// <summary>The envelope of recipient <paramref name="index"/> of a message being committed.</summary>
    public static EnvelopeRecord Create(MessageEnvelope message, int index)
    {
        ArgumentNullException.ThrowIfNull(message);
        var recipient = message.Recipients[index];
        return new EnvelopeRecord
        {
            Version = CurrentVersion,
            Id = new EnvelopeId(message.Id, index),
            MessageId = message.Id,
            Sender = message.Sender is null ? null : AddressRecord.From(message.Sender),
            Recipient = AddressRecord.From(recipient.Recipient),
            OriginalRecipientType = recipient.Parameters.OriginalRecipientType,
            OriginalRecipient = recipient.Parameters.OriginalRecipient,
            Notify = recipient.Parameters.Notify,
            Ret = message.MailParameters.Ret,
            EnvelopeIdParameter = message.MailParameters.EnvelopeId,
            Body = message.MailParameters.Body,
            SmtpUtf8 = message.MailParameters.SmtpUtf8,
            Size = message.MailParameters.Size,
            MailAuth = message.MailParameters.Auth,
            Action = recipient.Action,
            Target = recipient.Target,
            Listener = message.Listener,
            ClientAddress = message.ClientAddress,
            ClientHostName = message.ClientHostName,
            Helo = message.Helo,
            AuthenticatedUser = message.AuthenticatedUser,
            Tls = message.Tls,
            ReceivedAt = message.ReceivedAt,
            Attempts = 0,
        };
    }

    /// <summary>Checks what the serializer cannot: ids, enum ranges, non-empty names.</summary>
    internal string? Validate(QueueId expectedMessage, string fileName)
    {
        if (Version != CurrentVersion)
        {
            return $"unsupported version {Version}";
        }

        if (MessageId != expectedMessage || Id.Message != expectedMessage)
        {
            return $"belongs to message {MessageId} / {Id}, found in {expectedMessage}";
        }

        if (!string.Equals(fileName, Id + ".json", StringComparison.Ordinal))
        {
            return $"id {Id} does not match the file name";
        }

        if (!Enum.IsDefined(Ret) || !Enum.IsDefined(Body) || (Notify & ~(DsnNotify.Never | DsnNotify.Success | DsnNotify.Failure | DsnNotify.Delay)) != 0)
        {
            return "invalid DSN or BODY value";
        }

        if (Action.Length == 0 || Listener.Length == 0 || Recipient.LocalPart.Length == 0)
        {
            return "empty action, listener or recipient";
        }

        if (Target?.Validate() is { } target)
        {
            return target;
        }

        if (Attempts < 0)
        {
            return "negative attempt count";
        }

        return History?.Validate();
    }
}

/// <summary>A mailbox in an envelope record: the local part verbatim (quoted form included) and the domain.</summary>
internal sealed record AddressRecord(string LocalPart, string Domain)
{
    public static AddressRecord From(Mailbox mailbox)
    {
        ArgumentNullException.ThrowIfNull(mailbox);
        return new AddressRecord(mailbox.LocalPart, mailbox.Domain);
    }

    public Mailbox ToMailbox() => new(LocalPart, Domain);
}
