using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using SmtpServer.Core.Admin;
using SmtpServer.Core.Queue;

namespace SmtpServer.Cli;

/// <summary>
/// <c>smtpctl</c>: OpenSMTPD's control tool for this server (REFERENCE.md §1.12), speaking the
/// admin API over admin.socket. Output for people by default, the API's JSON with --json.
/// <c>show queue|envelope|message</c> and <c>explain</c> read the spool directly when no server
/// answers (read-only: nothing in the spool is changed).
/// </summary>
internal sealed partial class Smtpctl(TextWriter stdout, TextWriter stderr, TextReader stdin, Func<string, string?> environment, bool stdinRedirected)
{
    public const string Usage = """
        usage: smtpctl [-c FILE | --socket PATH] [--json] COMMAND
          show queue [--sender S] [--recipient R] [--domain D] [--state pending|inflight|paused]
                     [--min-age DUR] [--max-age DUR] [--limit N]
          show envelope ID          show message ID          show stats          show status
          schedule ID|MSGID|all     remove ID|MSGID|all
          pause|resume [envelope|message] ID|MSGID|all     pause|resume smtp|mda|mta
          monitor [-n COUNT] [-i SECONDS]                  log verbose|brief|LEVEL
          update table NAME         reload                   drain
          explain ID                encrypt (password from stdin)
          -c FILE        smtpd's configuration (default: $SMTPD_CONFIG, else config/smtpd.yaml)
          --socket PATH  the admin socket (default: admin.socket of the configuration)
          --json         machine-readable output
        exit codes: 0 ok, 1 refused/not found/failed, 2 usage, 3 server unreachable, 4 not implemented
        """;

    private string? _socket;
    private string _queuePath = CliConfig.DefaultQueuePath;
    private bool _json;

    public async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        var rest = new List<string>();
        string? configPath = null;
        string? socket = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "-c" or "--config" when i + 1 < args.Length:
                    configPath = args[++i];
                    break;
                case "--socket" or "-s" when i + 1 < args.Length:
                    socket = args[++i];
                    break;
                case "--json":
                    _json = true;
                    break;
                case "-h" or "--help" or "help":
                    await stdout.WriteLineAsync(Usage).ConfigureAwait(false);
                    return ExitCode.Ok;
                default:
                    rest.Add(args[i]);
                    break;
            }
        }

        if (rest.Count == 0)
        {
            return await UsageErrorAsync("no command").ConfigureAwait(false);
        }

        if (rest is ["encrypt", ..])
        {
            return await EncryptAsync(rest).ConfigureAwait(false);
        }

        try
        {
            configPath ??= environment("SMTPD_CONFIG") ?? Path.Combine("config", "smtpd.yaml");
            if (socket is null || rest[0] is "show" or "explain")
            {
                var config = CliConfig.Load(configPath, environment);
                _socket = config.SocketPath;
                _queuePath = config.QueuePath;
            }
        }
        catch (Exception e) when (e is IOException or YamlDotNet.Core.YamlException && socket is null)
        {
            await stderr.WriteLineAsync($"smtpctl: {e.Message}").ConfigureAwait(false);
            return ExitCode.Usage;
        }
        catch (Exception e) when (e is IOException or YamlDotNet.Core.YamlException)
        {
            // --socket given: the configuration only helps offline commands.
        }

        if (socket is not null)
        {
            _socket = Path.GetFullPath(socket);
        }

        try
        {
            return rest switch
            {
                ["show", "queue", .. var filters] => await ShowQueueAsync(filters, cancellationToken).ConfigureAwait(false),
                ["show", "envelope", var id] => await ShowEnvelopeAsync(id, cancellationToken).ConfigureAwait(false),
                ["show", "message", var id] => await ShowMessageAsync(id, cancellationToken).ConfigureAwait(false),
                ["show", "stats"] => await ShowStatsAsync(cancellationToken).ConfigureAwait(false),
                ["show", "status"] => await SimpleAsync(HttpMethod.Get, "v1/status", null, cancellationToken).ConfigureAwait(false),
                ["mailq"] => await ShowQueueAsync([], cancellationToken).ConfigureAwait(false),
                ["schedule" or "remove", var target] => await TargetAsync(rest[0], target, cancellationToken).ConfigureAwait(false),
                ["pause" or "resume", "envelope" or "message", var target] => await TargetAsync(rest[0], target, cancellationToken).ConfigureAwait(false),
                ["pause" or "resume", var target] => await TargetAsync(rest[0], target, cancellationToken).ConfigureAwait(false),
                ["monitor", .. var options] => await MonitorAsync(options, cancellationToken).ConfigureAwait(false),
                ["log", var level] => await SimpleAsync(HttpMethod.Put, "v1/log", JsonSerializer.Serialize(new LogLevelRequest(level), AdminJsonContext.Default.LogLevelRequest), cancellationToken).ConfigureAwait(false),
                ["update", "table", var name] => await UpdateTableAsync(name, cancellationToken).ConfigureAwait(false),
                ["reload"] => await ReloadAsync(cancellationToken).ConfigureAwait(false),
                ["drain"] => await SimpleAsync(HttpMethod.Post, "v1/drain", "{}", cancellationToken).ConfigureAwait(false),
                ["explain", var id] => await ExplainAsync(id, cancellationToken).ConfigureAwait(false),
                _ => await UsageErrorAsync($"unknown command '{string.Join(' ', rest)}'").ConfigureAwait(false),
            };
        }
        catch (ServerUnreachableException e)
        {
            await stderr.WriteLineAsync($"smtpctl: no server on {_socket ?? "(no admin.socket configured)"}: {e.Message}").ConfigureAwait(false);
            return ExitCode.Unreachable;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ExitCode.Ok;
        }
    }

    private async Task<int> UsageErrorAsync(string message)
    {
        await stderr.WriteLineAsync($"smtpctl: {message}\n{Usage}").ConfigureAwait(false);
        return ExitCode.Usage;
    }

    /// <summary>One request; a failure to connect becomes <see cref="ServerUnreachableException"/>.</summary>
    private async Task<(HttpStatusCode Status, string Body, byte[] Bytes)> SendAsync(HttpMethod method, string path, string? json, CancellationToken cancellationToken)
    {
        if (_socket is null)
        {
            throw new ServerUnreachableException("admin.socket is not configured");
        }

        using var client = AdminHttp.CreateClient(_socket);
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        try
        {
            using var response = await client.SendAsync(request, cancellationToken).ConfigureAwait(false);
            var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            return (response.StatusCode, Encoding.UTF8.GetString(bytes), bytes);
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException or IOException || e.HttpRequestError == HttpRequestError.ConnectionError)
        {
            throw new ServerUnreachableException(e.InnerException?.Message ?? e.Message);
        }
    }

    /// <summary>Prints a server error and maps its status to an exit code; null when the status is a success.</summary>
    private async Task<int?> FailureAsync(HttpStatusCode status, string body)
    {
        if ((int)status < 400)
        {
            return null;
        }

        if (_json)
        {
            await stdout.WriteAsync(body).ConfigureAwait(false);
        }

        // {"error","message"}, and for a refused reload "errors": [{"key","message"}].
        var message = body;
        var details = new List<string>();
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                if (document.RootElement.TryGetProperty("message", out var text) && text.ValueKind == JsonValueKind.String)
                {
                    message = text.GetString() ?? body;
                }

                if (document.RootElement.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array)
                {
                    foreach (var error in errors.EnumerateArray())
                    {
                        var key = error.TryGetProperty("key", out var k) ? k.GetString() : null;
                        var what = error.TryGetProperty("message", out var m) ? m.GetString() : error.GetRawText();
                        details.Add(string.IsNullOrEmpty(key) ? $"  {what}" : $"  {key}: {what}");
                    }
                }
            }
        }
        catch (JsonException)
        {
            message = body;
        }

        await stderr.WriteLineAsync($"smtpctl: {message.Trim()}").ConfigureAwait(false);
        foreach (var line in details)
        {
            await stderr.WriteLineAsync(line).ConfigureAwait(false);
        }

        return status == HttpStatusCode.NotImplemented ? ExitCode.NotImplemented : ExitCode.Failed;
    }

    private async Task<int> SimpleAsync(HttpMethod method, string path, string? json, CancellationToken cancellationToken)
    {
        var (status, body, _) = await SendAsync(method, path, json, cancellationToken).ConfigureAwait(false);
        if (await FailureAsync(status, body).ConfigureAwait(false) is { } failed)
        {
            return failed;
        }

        if (_json)
        {
            await stdout.WriteAsync(body).ConfigureAwait(false);
            return ExitCode.Ok;
        }

        using var document = JsonDocument.Parse(body);
        foreach (var property in document.RootElement.EnumerateObject())
        {
            await stdout.WriteLineAsync($"{property.Name}: {Text(property.Value)}").ConfigureAwait(false);
        }

        return ExitCode.Ok;
    }

    /// <summary>reload: "configuration reloaded"; listeners that changed need a restart (a warning).</summary>
    private async Task<int> ReloadAsync(CancellationToken cancellationToken)
    {
        var (status, body, _) = await SendAsync(HttpMethod.Post, "v1/reload", "{}", cancellationToken).ConfigureAwait(false);
        if (await FailureAsync(status, body).ConfigureAwait(false) is { } failed)
        {
            return failed;
        }

        if (_json)
        {
            await stdout.WriteAsync(body).ConfigureAwait(false);
            return ExitCode.Ok;
        }

        var result = JsonSerializer.Deserialize(body, AdminJsonContext.Default.ReloadResponse)!;
        await stdout.WriteLineAsync("configuration reloaded: new sessions and deliveries use it").ConfigureAwait(false);
        foreach (var listener in result.ListenersNeedingRestart)
        {
            await stderr.WriteLineAsync($"smtpctl: listener {listener} changed: the running listeners stay until a restart").ConfigureAwait(false);
        }

        return ExitCode.Ok;
    }

    /// <summary>update table NAME: the entries read now; skipped lines are warnings.</summary>
    private async Task<int> UpdateTableAsync(string name, CancellationToken cancellationToken)
    {
        var (status, body, _) = await SendAsync(HttpMethod.Post, $"v1/tables/{Uri.EscapeDataString(name)}/update", "{}", cancellationToken).ConfigureAwait(false);
        if (await FailureAsync(status, body).ConfigureAwait(false) is { } failed)
        {
            return failed;
        }

        if (_json)
        {
            await stdout.WriteAsync(body).ConfigureAwait(false);
            return ExitCode.Ok;
        }

        var result = JsonSerializer.Deserialize(body, AdminJsonContext.Default.TableUpdateResponse)!;
        await stdout.WriteLineAsync($"table {result.Table} updated: {result.Entries} entries from {result.Path}").ConfigureAwait(false);
        foreach (var line in result.Skipped)
        {
            await stderr.WriteLineAsync($"smtpctl: {result.Path}: skipped {line}").ConfigureAwait(false);
        }

        return ExitCode.Ok;
    }

    private async Task<int> TargetAsync(string verb, string target, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.Serialize(new TargetRequest(target), AdminJsonContext.Default.TargetRequest);
        var (status, body, _) = await SendAsync(HttpMethod.Post, "v1/" + verb, json, cancellationToken).ConfigureAwait(false);
        if (await FailureAsync(status, body).ConfigureAwait(false) is { } failed)
        {
            return failed;
        }

        if (_json)
        {
            await stdout.WriteAsync(body).ConfigureAwait(false);
            return ExitCode.Ok;
        }

        var result = JsonSerializer.Deserialize(body, AdminJsonContext.Default.ControlResponse)!;
        var done = verb switch
        {
            "schedule" => "scheduled",
            "remove" => "removed",
            "pause" => "paused",
            _ => "resumed",
        };
        var line = target is "smtp" or "mda" or "mta"
            ? $"{target} {done}"
            : $"{result.Matched} envelope(s) {done}" + (result.Skipped > 0 ? $", {result.Skipped} skipped (in flight or paused)" : string.Empty);
        await stdout.WriteLineAsync(line).ConfigureAwait(false);
        return ExitCode.Ok;
    }

    private static string Text(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString() ?? string.Empty,
        JsonValueKind.True => "yes",
        JsonValueKind.False => "no",
        JsonValueKind.Null => "-",
        _ => value.GetRawText(),
    };

    private async Task<int> EncryptAsync(List<string> rest)
    {
        string? password;
        if (rest.Count > 1)
        {
            // As OpenSMTPD allows; ps shows it, so stdin is the better way.
            password = rest[1];
        }
        else
        {
            if (!stdinRedirected)
            {
                await stderr.WriteAsync("Password: ").ConfigureAwait(false);
            }

            password = await stdin.ReadLineAsync().ConfigureAwait(false);
        }

        if (string.IsNullOrEmpty(password))
        {
            await stderr.WriteLineAsync("smtpctl encrypt: empty password").ConfigureAwait(false);
            return ExitCode.Failed;
        }

        await stdout.WriteLineAsync(Auth.Sha512Crypt.Hash(password)).ConfigureAwait(false);
        return ExitCode.Ok;
    }

    private static string Ago(DateTimeOffset at, DateTimeOffset now)
    {
        var span = now - at;
        var future = span < TimeSpan.Zero;
        if (future)
        {
            span = -span;
        }

        var text = span.TotalDays >= 1 ? $"{(int)span.TotalDays}d{span.Hours}h"
            : span.TotalHours >= 1 ? $"{(int)span.TotalHours}h{span.Minutes}m"
            : span.TotalMinutes >= 1 ? $"{(int)span.TotalMinutes}m{span.Seconds}s"
            : $"{(int)span.TotalSeconds}s";
        return future ? "in " + text : text + " ago";
    }

    private static string Time(DateTimeOffset? at) => at?.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) ?? "-";

    private sealed class ServerUnreachableException(string message) : Exception(message);
}
