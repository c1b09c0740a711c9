using Microsoft.AspNetCore.Http.Features;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Serilog.Events;
using SmtpServer.Configuration;
using SmtpServer.Core.Admin;
using SmtpServer.Core.Queue;
using SmtpServer.Core.Routing;
using SmtpServer.Core.Scheduling;
using SmtpServer.Hosting;
using SmtpServer.Metrics;
using SmtpServer.Smtp;

namespace SmtpServer.Admin;

/// <summary>
/// The admin API (smtpctl's side of admin.socket), HTTP/JSON on the same Kestrel as SMTP.
/// Every input is validated: ids parse or the call gets 400; unknown query keys, unknown JSON
/// properties and bodies over <see cref="MaxBodySize"/> are 400/413; a missing envelope is 404;
/// a call the scheduler cannot serve (stopped) is 503. A handler's exception is a 500 JSON error
/// for that request only. On the HTTP address (admin.http) these calls answer loopback clients
/// only; /metrics, /healthz and /readyz answer everyone there.
/// <para>
/// <paramref name="startup"/> is the configuration the process started with: what was bound or
/// built once from it (the scheduler's expiry, the shutdown timeout, listeners) follows it. The
/// configuration that a reload swaps (tables, rules) is read from <paramref name="smtp"/>.
/// <paramref name="reloader"/> is null when the server runs without a config file.
/// </para>
/// </summary>
internal sealed partial class AdminApi(
    ServerSettings startup,
    SmtpServices smtp,
    FileQueueStore store,
    ISchedulerControl scheduler,
    PrometheusExporter exporter,
    ServerControl control,
    SessionLimiter sessions,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILogger<AdminApi> logger,
    SidePauses sidePauses,
    ConfigReloader? reloader = null)
{
    public const int MaxBodySize = 64 * 1024;

    /// <summary>Oversized bodies up to this size are read and dropped before the 413.</summary>
    private const int DrainLimit = 1024 * 1024;
    private const int DefaultLimit = 1000;
    private const int MaxLimit = 100_000;
    private static readonly string[] QueueQueryKeys = ["sender", "recipient", "domain", "state", "minAge", "maxAge", "limit"];

    public void Map(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Use(ErrorsAsJsonAsync);
        app.MapGet("/healthz", HealthAsync);
        app.MapGet("/readyz", ReadyAsync);
        app.MapGet("/metrics", MetricsAsync);

        var v1 = app.MapGroup("/v1");
        v1.AddEndpointFilter(async (context, next) =>
            IsAdminClient(context.HttpContext) ? await next(context).ConfigureAwait(false) : Error(StatusCodes.Status403Forbidden, "forbidden", "the admin API answers on admin.socket and to loopback clients only"));
        v1.MapGet("/status", ctx => WriteAsync(ctx, 200, Status(), AdminJsonContext.Default.StatusResponse));
        v1.MapGet("/stats", StatsAsync);
        v1.MapGet("/queue", ListQueueAsync);
        v1.MapGet("/envelopes/{id}", ShowEnvelopeAsync);
        v1.MapGet("/messages/{id}", ShowMessageAsync);
        v1.MapPost("/schedule", ctx => ControlAsync(ctx, "schedule"));
        v1.MapPost("/remove", ctx => ControlAsync(ctx, "remove"));
        v1.MapPost("/pause", ctx => ControlAsync(ctx, "pause"));
        v1.MapPost("/resume", ctx => ControlAsync(ctx, "resume"));
        v1.MapGet("/log", ctx => WriteAsync(ctx, 200, new LogLevelResponse(LevelName(control.LevelSwitch.MinimumLevel)), AdminJsonContext.Default.LogLevelResponse));
        v1.MapPut("/log", SetLogAsync);
        v1.MapPost("/tables/{name}/update", UpdateTableAsync);
        v1.MapPost("/reload", ReloadAsync);
        v1.MapPost("/drain", DrainAsync);
    }

    private static bool IsAdminClient(HttpContext context) =>
        context.Connection.RemoteIpAddress is not { } address || NetworkAddress.IsLoopback(address);

    private async Task ErrorsAsJsonAsync(HttpContext context, RequestDelegate next)
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e)
        {
            if (!context.Response.HasStarted)
            {
                await WriteErrorAsync(context, e.StatusCode, "bad-request", e.Message).ConfigureAwait(false);
            }

            return;
        }
#pragma warning disable CA1031 // One bad request must never hurt the server: it gets a 500 and is logged.
        catch (Exception e) when (!context.RequestAborted.IsCancellationRequested)
#pragma warning restore CA1031
        {
            AdminLog.Error(logger, context.Request.Method, context.Request.Path, e);
            if (!context.Response.HasStarted)
            {
                context.Response.Clear();
                await WriteErrorAsync(context, 500, "internal-error", "the request failed; see the server log").ConfigureAwait(false);
            }

            return;
        }

        // Routing's own 404 and 405 have no body: give them the same JSON shape.
        if (context.Response is { StatusCode: >= 400, HasStarted: false, ContentLength: null, ContentType: null })
        {
            var code = context.Response.StatusCode;
            await WriteErrorAsync(context, code, code == 404 ? "not-found" : code == 405 ? "method-not-allowed" : "bad-request", $"{context.Request.Method} {context.Request.Path}: HTTP {code}").ConfigureAwait(false);
        }

        if (context.Request.Path.StartsWithSegments("/v1", StringComparison.Ordinal))
        {
            AdminLog.Request(logger, context.Request.Method, context.Request.Path, context.Response.StatusCode);
        }
    }

    private static Task HealthAsync(HttpContext context)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync("ok\n");
    }

    /// <summary>Ready: listeners bound (the host started), not stopping or draining, the spool writable.</summary>
    private async Task ReadyAsync(HttpContext context)
    {
        var problems = new List<string>();
        if (!lifetime.ApplicationStarted.IsCancellationRequested)
        {
            problems.Add("listeners not bound yet");
        }

        if (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            problems.Add("stopping");
        }

        if (control.Draining)
        {
            problems.Add("draining");
        }

        if (!SpoolWritable(out var why))
        {
            problems.Add(why);
        }

        context.Response.StatusCode = problems.Count == 0 ? 200 : 503;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(problems.Count == 0 ? "ready\n" : string.Join('\n', problems) + "\n").ConfigureAwait(false);
    }

    private bool SpoolWritable(out string why)
    {
        try
        {
            var probe = Path.Combine(store.IncomingPath, ".readyz-" + Environment.ProcessId);
            using (new FileStream(probe, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose))
            {
            }

            why = string.Empty;
            if (!store.HasFreeSpace())
            {
                why = "spool: below queue.minFreeSpace";
                return false;
            }

            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            why = "spool not writable: " + e.Message;
            return false;
        }
    }

    private Task MetricsAsync(HttpContext context)
    {
        context.Response.ContentType = PrometheusExporter.ContentType;
        return context.Response.WriteAsync(exporter.Render());
    }

    private StatusResponse Status()
    {
        var stats = scheduler.Stats;
        var state = lifetime.ApplicationStopping.IsCancellationRequested ? "stopping" : control.Draining ? "draining" : "running";
        return new StatusResponse(state, control.SmtpPaused, stats.LocalPaused, stats.RelayPaused, control.Draining, sessions.Active);
    }

    private Task StatsAsync(HttpContext context)
    {
        var stats = scheduler.Stats;
        var oldest = stats.Oldest is { } o ? Math.Max(0, (time.GetUtcNow() - o).TotalSeconds) : 0;
        var response = new StatsResponse(Status(), stats.Envelopes, stats.Messages, oldest, stats.InFlight, stats.Paused, exporter.Snapshot());
        return WriteAsync(context, 200, response, AdminJsonContext.Default.StatsResponse);
    }

    private async Task ListQueueAsync(HttpContext context)
    {
        var query = context.Request.Query;
        foreach (var key in query.Keys)
        {
            if (!QueueQueryKeys.Contains(key, StringComparer.Ordinal))
            {
                await WriteErrorAsync(context, 400, "bad-request", $"unknown filter '{Clip(key)}'; known: {string.Join(", ", QueueQueryKeys)}").ConfigureAwait(false);
                return;
            }
        }

        if (!QueueFilter.TryParse(query, time.GetUtcNow(), out var filter, out var limit, out var error))
        {
            await WriteErrorAsync(context, 400, "bad-request", error).ConfigureAwait(false);
            return;
        }

        var states = await RuntimeStatesAsync(context.RequestAborted).ConfigureAwait(false);
        var snapshot = QueueReader.Read(store.RootPath, context.RequestAborted);
        var matches = new List<EnvelopeSummary>();
        var total = 0;
        foreach (var message in snapshot.Messages)
        {
            foreach (var record in message.Envelopes)
            {
                var summary = Summarize(record, message.Size, states);
                if (!filter.Matches(summary))
                {
                    continue;
                }

                total++;
                if (matches.Count < limit)
                {
                    matches.Add(summary);
                }
            }
        }

        var listing = new QueueListing(matches, total, total > matches.Count, snapshot.Unreadable, Offline: false);
        await WriteAsync(context, 200, listing, AdminJsonContext.Default.QueueListing).ConfigureAwait(false);
    }

    private async Task ShowEnvelopeAsync(HttpContext context)
    {
        var text = context.Request.RouteValues["id"] as string;
        if (!EnvelopeId.TryParse(text, out var id))
        {
            await WriteErrorAsync(context, 400, "bad-request", $"'{Clip(text)}' is not an envelope id (msgid-XXXX)").ConfigureAwait(false);
            return;
        }

        var message = QueueReader.ReadMessage(store.RootPath, id.Message);
        var record = message?.Envelopes.FirstOrDefault(e => e.Id == id);
        if (record is null)
        {
            await WriteErrorAsync(context, 404, "not-found", $"envelope {id} is not in the queue").ConfigureAwait(false);
            return;
        }

        var states = await RuntimeStatesAsync(context.RequestAborted).ConfigureAwait(false);
        var detail = new EnvelopeDetail(Summarize(record, message!.Size, states), record);
        await WriteAsync(context, 200, detail, AdminJsonContext.Default.EnvelopeDetail).ConfigureAwait(false);
    }

    private async Task ShowMessageAsync(HttpContext context)
    {
        var text = context.Request.RouteValues["id"] as string;
        QueueId id;
        if (EnvelopeId.TryParse(text, out var envelope))
        {
            id = envelope.Message;
        }
        else if (!QueueId.TryParse(text, out id))
        {
            await WriteErrorAsync(context, 400, "bad-request", $"'{Clip(text)}' is not a message or envelope id").ConfigureAwait(false);
            return;
        }

        var path = Path.Combine(QueueReader.MessageDirectory(store.RootPath, id), FileQueueStore.MessageFileName);
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 64 * 1024, useAsync: true);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            await WriteErrorAsync(context, 404, "not-found", $"message {id} is not in the queue").ConfigureAwait(false);
            return;
        }

        await using (file.ConfigureAwait(false))
        {
            context.Response.ContentType = "message/rfc822";
            context.Response.ContentLength = file.Length;
            await file.CopyToAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private async Task SetLogAsync(HttpContext context)
    {
        var request = await ReadBodyAsync(context, AdminJsonContext.Default.LogLevelRequest).ConfigureAwait(false);
        if (request is null)
        {
            return;
        }

        LogEventLevel level;
        switch (request.Level?.ToLowerInvariant())
        {
            case "verbose":
                level = LogEventLevel.Debug;
                break;
            case "brief":
                level = control.ConfiguredLevel;
                break;
            case "trace":
                level = LogEventLevel.Verbose;
                break;
            case { } name when Enum.TryParse<LogEventLevel>(name, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed) && !char.IsAsciiDigit(name[0]):
                level = parsed;
                break;
            default:
                await WriteErrorAsync(context, 400, "bad-request", "level must be verbose, brief, trace, debug, information, warning, error or fatal").ConfigureAwait(false);
                return;
        }

        control.LevelSwitch.MinimumLevel = level;
        AdminLog.LogLevelChanged(logger, LevelName(level));
        await WriteAsync(context, 200, new LogLevelResponse(LevelName(level)), AdminJsonContext.Default.LogLevelResponse).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>smtpctl update table</c>: forgets the loaded version of a file table and reads the file
    /// now, so the next lookup (RCPT, AUTH, MAIL FROM of a listener's senders) sees it even when
    /// its modification time and length did not change, and a broken file is reported here.
    /// </summary>
    private async Task UpdateTableAsync(HttpContext context)
    {
        var name = context.Request.RouteValues["name"] as string ?? string.Empty;
        var current = smtp.Settings;
        if (!current.Tables.TryGetValue(name, out var table))
        {
            await WriteErrorAsync(context, 404, "not-found", $"no table named '{Clip(name)}'").ConfigureAwait(false);
            return;
        }

        if (table is not FileTableSettings file)
        {
            await WriteErrorAsync(context, 400, "bad-request", $"table '{table.Name}' is a list in the configuration: nothing to reload (edit the configuration, then reload)").ConfigureAwait(false);
            return;
        }

        if (current.LookupTables.GetValueOrDefault(table.Name) is not FileTable live)
        {
            await WriteErrorAsync(context, 409, "not-loaded", $"table '{table.Name}' is not loaded by the running configuration").ConfigureAwait(false);
            return;
        }

        // The instance of the current configuration (rules, actions, senders) and, when a reload
        // replaced it, the one the listeners' AUTH was bound to at start.
        live.Invalidate();
        if (startup.LookupTables.GetValueOrDefault(table.Name) is FileTable bound && !ReferenceEquals(bound, live) && bound.Path == live.Path)
        {
            bound.Invalidate();
        }

        TableContents contents;
        IReadOnlyList<TableProblem> problems;
        try
        {
            contents = live.Contents;
            problems = live.Problems;
        }
        catch (TableUnavailableException e)
        {
            AdminLog.TableUpdateFailed(logger, table.Name, e.Message);
            await WriteErrorAsync(context, 422, "table-unavailable", $"{e.Message}; lookups fail temporarily (451) until it can be read").ConfigureAwait(false);
            return;
        }

        var skipped = problems.Select(p => p.Line > 0 ? $"line {p.Line.ToString(CultureInfo.InvariantCulture)}: {p.Message}" : p.Message).ToList();
        AdminLog.TableUpdated(logger, table.Name, file.Path, contents.Entries.Count(), skipped.Count);
        await WriteAsync(context, 200, new TableUpdateResponse(table.Name, file.Path, contents.Entries.Count(), skipped), AdminJsonContext.Default.TableUpdateResponse).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>smtpctl reload</c>: as SIGHUP. 200 when new sessions use the new configuration; 422 with
    /// every problem when it is refused (the running one stays); 409 without a config file.
    /// </summary>
    private async Task ReloadAsync(HttpContext context)
    {
        if (reloader is null)
        {
            await WriteErrorAsync(context, 409, "no-config-file", "the server was started without a configuration file: there is nothing to reload").ConfigureAwait(false);
            return;
        }

        var result = await Task.Run(reloader.TryReload, context.RequestAborted).ConfigureAwait(false);
        if (!result.Reloaded)
        {
            var errors = result.Errors.Select(e => new ConfigErrorItem(e.Key, e.Message)).ToList();
            var response = new ConfigErrorsResponse("invalid-config", $"reload refused: {errors.Count} problem(s) in the configuration; the running configuration stays", errors);
            await WriteAsync(context, 422, response, AdminJsonContext.Default.ConfigErrorsResponse).ConfigureAwait(false);
            return;
        }

        await WriteAsync(context, 200, new ReloadResponse(true, result.ListenersNeedingRestart), AdminJsonContext.Default.ReloadResponse).ConfigureAwait(false);
    }

    private async Task<IReadOnlyDictionary<EnvelopeId, EnvelopeRuntimeState>> RuntimeStatesAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await scheduler.InspectAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            return new Dictionary<EnvelopeId, EnvelopeRuntimeState>();
        }
    }

    private EnvelopeSummary Summarize(EnvelopeRecord record, long size, IReadOnlyDictionary<EnvelopeId, EnvelopeRuntimeState> states)
    {
        var state = states.TryGetValue(record.Id, out var s) ? s switch
        {
            EnvelopeRuntimeState.InFlight => "inflight",
            EnvelopeRuntimeState.Paused => "paused",
            _ => "pending",
        } : EnvelopeSummary.StoredState(record);
        // The scheduler expires envelopes with the queue settings it started with.
        return EnvelopeSummary.From(record, size, state, startup.Queue.Expire);
    }

    /// <summary>Reads a bounded JSON body; on any problem writes the 4xx and returns null.</summary>
    private static async Task<T?> ReadBodyAsync<T>(HttpContext context, JsonTypeInfo<T> type)
        where T : class
    {
        if (context.Request.ContentLength > MaxBodySize)
        {
            // Read (and drop) a moderately oversized body first: answering while the client is
            // still sending makes the close a reset, and the client never sees the 413.
            if (context.Request.ContentLength <= DrainLimit
                && context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = DrainLimit;
                await context.Request.Body.CopyToAsync(Stream.Null, context.RequestAborted).ConfigureAwait(false);
            }

            await WriteErrorAsync(context, 413, "too-large", $"the body is limited to {MaxBodySize} bytes").ConfigureAwait(false);
            return null;
        }

        try
        {
            using var buffer = new MemoryStream();
            var chunk = new byte[8192];
            int read;
            while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + read > MaxBodySize)
                {
                    await WriteErrorAsync(context, 413, "too-large", $"the body is limited to {MaxBodySize} bytes").ConfigureAwait(false);
                    return null;
                }

                buffer.Write(chunk, 0, read);
            }

            if (buffer.Length == 0)
            {
                await WriteErrorAsync(context, 400, "bad-request", "a JSON body is required").ConfigureAwait(false);
                return null;
            }

            var value = JsonSerializer.Deserialize(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), type);
            if (value is null)
            {
                await WriteErrorAsync(context, 400, "bad-request", "the body must be a JSON object").ConfigureAwait(false);
            }

            return value;
        }
        catch (JsonException e)
        {
            await WriteErrorAsync(context, 400, "bad-request", "malformed JSON: " + Clip(e.Message)).ConfigureAwait(false);
            return null;
        }
    }

    private static IResult Error(int status, string error, string message) =>
        Results.Json(new ErrorResponse(error, message), AdminJsonContext.Default.ErrorResponse, statusCode: status);

    internal static Task WriteErrorAsync(HttpContext context, int status, string error, string message) =>
        WriteAsync(context, status, new ErrorResponse(error, message), AdminJsonContext.Default.ErrorResponse);

    private static Task WriteAsync<T>(HttpContext context, int status, T value, JsonTypeInfo<T> type)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        return context.Response.WriteAsync(JsonSerializer.Serialize(value, type) + "\n");
    }

    private static string LevelName(LogEventLevel level) => level.ToString().ToLowerInvariant();

    /// <summary>Echoed input is cut short: an error message never carries a client's megabytes.</summary>
    private static string Clip(string? text) => text is null ? string.Empty : text.Length <= 80 ? text : text[..80] + "…";
}
