extern alias smtpctl;

using System.Text.Json;
using smtpctl::SmtpServer.Cli;
using SmtpServer.Testing;

namespace SmtpServer.Tests.Admin;

/// <summary>Every smtpctl command against a running server (and the offline ones without one).</summary>
public sealed class SmtpctlTests
{
    [Fact]
    public async Task Queue_commands_against_a_running_server()
    {
        await using var admin = await AdminServer.StartAsync();
        var id = await admin.SendAsync("alice@client.test", "bob@remote.example", "carol@remote.example");
        var bob = id + "-0000";

        var queue = await RunAsync(admin, "show", "queue");
        Assert.Equal(0, queue.Exit);
        Assert.Contains(bob + "|outbound|", queue.Out, StringComparison.Ordinal);
        Assert.Contains("2 envelope(s)", queue.Err, StringComparison.Ordinal);

        var json = await RunAsync(admin, "--json", "show", "queue", "--recipient", "carol");
        Assert.Equal(1, JsonDocument.Parse(json.Out).RootElement.GetProperty("total").GetInt32());
        Assert.Equal(1, (await RunAsync(admin, "show", "queue", "--state", "sleeping")).Exit);
        Assert.Equal(2, (await RunAsync(admin, "show", "queue", "--colour", "red")).Exit);

        var envelope = await RunAsync(admin, "show", "envelope", bob);
        Assert.Equal(0, envelope.Exit);
        Assert.Contains("\"recipient\"", envelope.Out, StringComparison.Ordinal);
        Assert.Equal(1, (await RunAsync(admin, "show", "envelope", id + "-0009")).Exit);
        Assert.Equal(2, (await RunAsync(admin, "show", "envelope", "nonsense")).Exit);

        var message = await RunAsync(admin, "show", "message", id);
        Assert.Contains("hello admin", message.Out, StringComparison.Ordinal);

        var explain = await RunAsync(admin, "explain", bob);
        Assert.Equal(0, explain.Exit);
        Assert.Contains("action \"outbound\"", explain.Out, StringComparison.Ordinal);
        Assert.Contains("expires", explain.Out, StringComparison.Ordinal);

        // Each envelope is tried on arrival; an envelope paused during that attempt is "inflight"
        // until it ends (SchedulerPauseTests), and explain then says so instead of "paused".
        await AdminApiTests.WaitAsync(async () => await AdminApiTests.AttemptsAsync(admin, bob) >= 1);
        Assert.Contains("1 envelope(s) paused", (await RunAsync(admin, "pause", "envelope", bob)).Out, StringComparison.Ordinal);
        Assert.Contains("It is paused", (await RunAsync(admin, "explain", bob)).Out, StringComparison.Ordinal);
        Assert.Contains("1 envelope(s) resumed", (await RunAsync(admin, "resume", bob)).Out, StringComparison.Ordinal);
        Assert.Equal(0, (await RunAsync(admin, "schedule", "all")).Exit);
        Assert.Equal(2, (await RunAsync(admin, "schedule")).Exit);
        Assert.Equal(1, (await RunAsync(admin, "schedule", "everything")).Exit);
        Assert.Equal("mta paused\n", (await RunAsync(admin, "pause", "mta")).Out.Replace("\r", "", StringComparison.Ordinal));
        Assert.Equal(0, (await RunAsync(admin, "resume", "mta")).Exit);

        await AdminApiTests.WaitAsync(async () =>
        {
            await RunAsync(admin, "remove", id);
            return (await RunAsync(admin, "--json", "show", "queue")).Out.Contains("\"total\":0", StringComparison.Ordinal);
        });
        Assert.Equal(1, (await RunAsync(admin, "remove", id)).Exit);
    }

    [Fact]
    public async Task Stats_monitor_log_table_and_status()
    {
        await using var admin = await AdminServer.StartAsync();
        await admin.SendAsync("alice@client.test", "bob@remote.example");

        var stats = await RunAsync(admin, "show", "stats");
        Assert.Equal(0, stats.Exit);
        Assert.Contains("queue.envelopes=1", stats.Out, StringComparison.Ordinal);
        Assert.Contains("smtpd_messages_accepted_total{listener=\"mx\"}=1", stats.Out, StringComparison.Ordinal);
        Assert.Equal(0, JsonDocument.Parse((await RunAsync(admin, "--json", "show", "stats")).Out).RootElement.GetProperty("status").GetProperty("activeSessions").GetInt32());

        var monitor = await RunAsync(admin, "monitor", "-n", "2", "-i", "0.1");
        Assert.Equal(0, monitor.Exit);
        Assert.Equal(3, monitor.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal(2, (await RunAsync(admin, "monitor", "-i", "0")).Exit);

        Assert.Contains("level: debug", (await RunAsync(admin, "log", "verbose")).Out, StringComparison.Ordinal);
        Assert.Contains("level: information", (await RunAsync(admin, "log", "brief")).Out, StringComparison.Ordinal);
        Assert.Equal(1, (await RunAsync(admin, "log", "shouty")).Exit);
        Assert.Equal(1, (await RunAsync(admin, "update", "table", "nosuch")).Exit);
        Assert.Equal(1, (await RunAsync(admin, "reload")).Exit); // no config file: 409
        Assert.Contains("state: running", (await RunAsync(admin, "show", "status")).Out, StringComparison.Ordinal);
        Assert.Equal(2, (await RunAsync(admin, "frobnicate")).Exit);
    }

    [Fact]
    public async Task Show_queue_reads_the_spool_when_the_server_is_stopped()
    {
        await using var admin = await AdminServer.StartAsync();
        var id = await admin.SendAsync("alice@client.test", "bob@remote.example");

        // Tried once on arrival (no agent for "outbound": a temporary failure) and, settled, once
        // more by the stop's last pass over the queue.
        await AdminApiTests.WaitAsync(async () => await AdminApiTests.AttemptsAsync(admin, id + "-0000") >= 1);
        await admin.Server.StopAsync();
        var tmp = Path.Combine(Directory.GetDirectories(Path.Combine(admin.Server.Settings.Queue.Path, "queue"))[0], id, id + "-0000.json.tmp");
        await File.WriteAllTextAsync(tmp, "half-written");

        var queue = await RunAsync(admin, "show", "queue");
        Assert.Equal(0, queue.Exit);
        Assert.Contains(id + "-0000|outbound|pending|alice@client.test|bob@remote.example", queue.Out, StringComparison.Ordinal);
        Assert.Contains("server not running", queue.Err, StringComparison.Ordinal);
        Assert.True(File.Exists(tmp), "the offline listing must not touch the spool");
        Assert.Contains("Tried 2 time(s)", (await RunAsync(admin, "explain", id + "-0000")).Out, StringComparison.Ordinal);
        Assert.Contains("hello admin", (await RunAsync(admin, "show", "message", id)).Out, StringComparison.Ordinal);
        Assert.Equal(3, (await RunAsync(admin, "show", "stats")).Exit);
        Assert.Equal(3, (await RunAsync(admin, "schedule", "all")).Exit);
    }

    [Fact]
    public async Task Finds_the_socket_through_the_config_and_encrypts()
    {
        using var dir = new TempDirectory("smtpctl");
        var config = dir.Combine("smtpd.yaml");
        await File.WriteAllTextAsync(config, $"queue:\n  path: {dir.Combine("queue")}\nadmin:\n  socket: {dir.Combine("nosock")}\n");
        var result = await RunRawAsync(null, "-c", config, "show", "stats");
        Assert.Equal(3, result.Exit);
        Assert.Contains(dir.Combine("nosock"), result.Err, StringComparison.Ordinal);
        Assert.Equal(0, (await RunRawAsync(null, "-c", config, "show", "queue")).Exit);
        Assert.Equal(2, (await RunRawAsync(null, "-c", dir.Combine("missing.yaml"), "show", "stats")).Exit);

        var encrypted = await RunRawAsync("s3cret\n", "encrypt");
        Assert.Equal(0, encrypted.Exit);
        Assert.StartsWith("$6$", encrypted.Out, StringComparison.Ordinal);
        Assert.Equal(1, (await RunRawAsync("\n", "encrypt")).Exit);
    }

    [Fact]
    public async Task Drain_stops_the_server()
    {
        await using var admin = await AdminServer.StartAsync();
        Assert.Contains("draining: yes", (await RunAsync(admin, "drain")).Out, StringComparison.Ordinal);
        // smtpd runs the host with RunAsync, which stops it when the drain asks to.
        await admin.Server.App.Lifetime.ApplicationStopping.WaitAsync(TimeSpan.FromSeconds(20));
    }

    internal static Task<(int Exit, string Out, string Err)> RunAsync(AdminServer admin, params string[] args) =>
        RunRawAsync(null, ["-c", WriteConfig(admin), .. args]);

    private static string WriteConfig(AdminServer admin)
    {
        var path = Path.Combine(Path.GetDirectoryName(admin.Server.Settings.Queue.Path)!, "smtpctl.yaml");
        File.WriteAllText(path, $"queue:\n  path: {admin.Server.Settings.Queue.Path}\nadmin:\n  socket: {admin.SocketPath}\n");
        return path;
    }

    internal static async Task<(int Exit, string Out, string Err)> RunRawAsync(string? input, params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        using var stdin = new StringReader(input ?? string.Empty);
        var ctl = new Smtpctl(stdout, stderr, stdin, _ => null, stdinRedirected: true);
        var exit = await ctl.RunAsync(args, CancellationToken.None);
        return (exit, stdout.ToString(), stderr.ToString());
    }
}

internal static class CancellationTokenExtensions
{
    public static Task WaitAsync(this CancellationToken token, TimeSpan timeout)
    {
        var completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        token.Register(() => completion.TrySetResult());
        return completion.Task.WaitAsync(timeout);
    }
}
