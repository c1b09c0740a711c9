using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using SmtpServer.Configuration;
using SmtpServer.Core.Admin;
using SmtpServer.Hosting;
using SmtpServer.Testing;
using SmtpServer.Tests.Infrastructure;

namespace SmtpServer.Tests.Admin;

/// <summary>A real host with admin.socket and admin.http (port 0), and clients for both.</summary>
internal sealed class AdminServer : IAsyncDisposable
{
    private AdminServer(SocketSmtpServer server, string socketPath)
    {
        Server = server;
        SocketPath = socketPath;
        Socket = AdminHttp.CreateClient(socketPath);
        var http = SmtpHost.AdminHttpEndPoint(server.App, server.Settings)!;
        Http = new HttpClient { BaseAddress = new Uri($"http://{http}/") };
    }

    public SocketSmtpServer Server { get; }

    public string SocketPath { get; }

    public HttpClient Socket { get; }

    public HttpClient Http { get; }

    /// <param name="configure">Changes to the settings (e.g. the actions), before the admin ones are set.</param>
    public static async Task<AdminServer> StartAsync(Func<ServerSettings, ServerSettings>? configure = null)
    {
        string? socketPath = null;
        var server = await SocketSmtpServer.StartAsync(settings =>
        {
            socketPath = Path.Combine(Path.GetDirectoryName(settings.Queue.Path)!, "run", "smtpd.sock");
            return (configure?.Invoke(settings) ?? settings) with
            {
                Admin = new AdminSettings { SocketPath = socketPath, HttpEndPoint = new IPEndPoint(IPAddress.Loopback, 0) },
                ShutdownTimeout = TimeSpan.FromSeconds(5),
            };
        });
        return new AdminServer(server, socketPath!);
    }

    /// <summary>
    /// The top of a config for <see cref="StartFromConfigAsync"/>: hostname, the queue and admin
    /// socket under <paramref name="directory"/>, admin.http and one listener on ports the OS picks.
    /// </summary>
    public static string ConfigHeader(string directory) => $$"""
        server: { hostname: mx.test.example }
        queue: { path: {{directory}}/queue }
        admin: { socket: {{directory}}/run/smtpd.sock, http: "127.0.0.1:0" }
        dns: { reverseLookup: false }
        listeners:
          - { name: mx, address: "127.0.0.1:0" }

        """;

    /// <summary>A host run from <paramref name="configPath"/> (which sets admin.socket and admin.http), so reload works.</summary>
    public static async Task<AdminServer> StartFromConfigAsync(TempDirectory directory, string configPath, TimeProvider? time = null)
    {
        var server = await SocketSmtpServer.StartFromConfigAsync(directory, configPath, time);
        return new AdminServer(server, server.Settings.Admin.SocketPath!);
    }

    /// <summary>Sends one message with the given recipients; returns its queue id.</summary>
    public async Task<string> SendAsync(string from, params string[] recipients)
    {
        await using var client = await Server.ConnectAsync();
        return await TestMail.SendAsync(client, from, recipients);
    }

    public static async Task<JsonElement> JsonAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"{(int)response.StatusCode} {body}");
        Assert.StartsWith("application/json", response.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    public Task<HttpResponseMessage> PostAsync(string path, string json) =>
        Socket.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

    public Task<HttpResponseMessage> PostTargetAsync(string path, string target) =>
        Socket.PostAsJsonAsync(path, new TargetRequest(target), AdminJsonContext.Default.TargetRequest);

    public async ValueTask DisposeAsync()
    {
        Socket.Dispose();
        Http.Dispose();
        await Server.DisposeAsync();
    }
}
