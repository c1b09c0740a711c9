using System.Text.Json;
using System.Text.Json.Serialization;

namespace SmtpServer.Core.Queue;

/// <summary>
/// The only way envelope records (and the side pauses, <see cref="SidePauses"/>) are read or written. Source-generated: no reflection, no
/// polymorphism, no type names in the data. The default encoder escapes everything outside
/// printable ASCII, so queue files stay ASCII whatever the addresses contain.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UseStringEnumConverter = true,
    WriteIndented = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    AllowDuplicateProperties = false,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(EnvelopeRecord))]
[JsonSerializable(typeof(SidePauses))]
internal sealed partial class QueueJsonContext : JsonSerializerContext;

internal sealed class QueueIdJsonConverter : JsonConverter<QueueId>
{
    public override QueueId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        QueueId.TryParse(reader.GetString(), out var id) ? id : throw new JsonException("Invalid queue id.");

    public override void Write(Utf8JsonWriter writer, QueueId value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(value.ToString());
    }
}

internal sealed class EnvelopeIdJsonConverter : JsonConverter<EnvelopeId>
{
    public override EnvelopeId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        EnvelopeId.TryParse(reader.GetString(), out var id) ? id : throw new JsonException("Invalid envelope id.");

    public override void Write(Utf8JsonWriter writer, EnvelopeId value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(value.ToString());
    }
}
