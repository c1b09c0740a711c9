using System.Text.Json.Serialization;

namespace SmtpServer.Core.Admin;

/// <summary>Source-generated JSON of the admin API; unknown properties in a request are an error.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UseStringEnumConverter = true,
    WriteIndented = false,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    AllowDuplicateProperties = false,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(QueueListing))]
[JsonSerializable(typeof(EnvelopeDetail))]
[JsonSerializable(typeof(TargetRequest))]
[JsonSerializable(typeof(ControlResponse))]
[JsonSerializable(typeof(LogLevelRequest))]
[JsonSerializable(typeof(LogLevelResponse))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(ConfigErrorsResponse))]
[JsonSerializable(typeof(ReloadResponse))]
[JsonSerializable(typeof(TableUpdateResponse))]
[JsonSerializable(typeof(StatusResponse))]
[JsonSerializable(typeof(StatsResponse))]
internal sealed partial class AdminJsonContext : JsonSerializerContext;
