extern alias smtpctl;

using System.Net;
using smtpctl::SmtpServer.Cli;
using Microsoft.Extensions.DependencyInjection;
using SmtpServer.Smtp;
using SmtpServer.Testing;
using SmtpServer.Tests.Infrastructure;

namespace SmtpServer.Tests.Admin;

/// <summary>
/// POST /v1/reload and /v1/tables/NAME/update (smtpctl reload, update table) against a host run
/// from a config file, as smtpd runs.
/// </summary>
public sealed class AdminReloadTests
{
    private const string BlockRule = "  - { from: any, for: { rcptTo: [blocked@one.example] }, action: reject, reply: \"550 5.7.1 Not this one\" }";

    [Fact]
    public async Task Reload_with_a_changed_rule_takes_effect_for_the_next_session()
    {
        await using var admin = await StartAsync(out var dir);
        Assert.Equal(250, await RcptAsync(admin, "blocked@one.example"));

        WriteConfig(dir, BlockRule);
        var reloaded = await AdminServer.JsonAsync(await admin.PostAsync("v1/reload", "{}"), HttpStatusCode.OK);
        Assert.True(reloaded.GetProperty("reloaded").GetBoolean());
        Assert.Equal(0, reloaded.GetProperty("listenersNeedingRestart").GetArrayLength());

        Assert.Equal(550, await RcptAsync(admin, "blocked@one.example"));
        Assert.Equal(250, await RcptAsync(admin, "alice@one.example"));
    }

    [Fact]
    public async Task A_broken_config_is_refused_with_its_errors_and_nothing_changes()
    {
        await using var admin = await StartAsync(out var dir);
        var services = admin.Server.App.Services.GetRequiredService<SmtpServices>();
        var before = services.Settings;

        WriteConfig(dir, BlockRule.Replace("action: reject", "action: rejct", StringComparison.Ordinal), extraTable: "  bad: { type: file }");
        var refused = await AdminServer.JsonAsync(await admin.PostAsync("v1/reload", "{}"), HttpStatusCode.UnprocessableEntity);
        Assert.Equal("invalid-config", refused.GetProperty("error").GetString());
        var keys = refused.GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("key").GetString()).ToList();
        Assert.Contains("rules[0].action", keys);
        Assert.Contains("tables.bad.path", keys);
        Assert.All(refused.GetProperty("errors").EnumerateArray(), e => Assert.False(string.IsNullOrEmpty(e.GetProperty("message").GetString())));

        Assert.Same(before, services.Settings);
        Assert.Equal(250, await RcptAsync(admin, "blocked@one.example"));

        // A file that is not even YAML: one error for the file as a whole.
        await File.WriteAllTextAsync(dir.Combine("smtpd.yaml"), "rules: [ {");
        var unparsable = await AdminServer.JsonAsync(await admin.PostAsync("v1/reload", "{}"), HttpStatusCode.UnprocessableEntity);
        Assert.NotEqual(0, unparsable.GetProperty("errors").GetArrayLength());
        Assert.Same(before, services.Settings);
    }

    [Fact]
    public async Task Reload_without_a_config_file_is_a_conflict()
    {
        await using var admin = await AdminServer.StartAsync();
        var error = await AdminServer.JsonAsync(await admin.PostAsync("v1/reload", "{}"), HttpStatusCode.Conflict);
        Assert.Equal("no-config-file", error.GetProperty("error").GetString());
        Assert.Contains("without a configuration file", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Update_table_makes_the_next_rcpt_see_the_file_even_with_the_same_mtime_and_length()
    {
        await using var admin = await StartAsync(out var dir);
        Assert.Equal(250, await RcptAsync(admin, "alice@one.example"));
        Assert.Equal(550, await RcptAsync(admin, "carol@one.example"));

        // Same length, same modification time: the per-lookup stat cannot notice.
        var path = dir.Combine("virtual");
        var stamp = File.GetLastWriteTimeUtc(path);
        var length = new FileInfo(path).Length;
        await File.WriteAllTextAsync(path, (await File.ReadAllTextAsync(path)).Replace("alice", "carol", StringComparison.Ordinal));
        File.SetLastWriteTimeUtc(path, stamp);
        Assert.Equal(length, new FileInfo(path).Length);
        Assert.Equal(550, await RcptAsync(admin, "carol@one.example"));

        var updated = await AdminServer.JsonAsync(await admin.PostAsync("v1/tables/VIRTUAL/update", "{}"), HttpStatusCode.OK);
        Assert.Equal("virtual", updated.GetProperty("table").GetString());
        Assert.Equal(path, updated.GetProperty("path").GetString());
        Assert.Equal(2, updated.GetProperty("entries").GetInt32());
        Assert.Equal(0, updated.GetProperty("skipped").GetArrayLength());
        Assert.Equal(250, await RcptAsync(admin, "carol@one.example"));
        Assert.Equal(550, await RcptAsync(admin, "alice@one.example"));
    }

    [Fact]
    public async Task Update_table_uses_the_tables_of_the_reloaded_config()
    {
        await using var admin = await StartAsync(out var dir);
        var other = dir.Combine("virtual2");
        await File.WriteAllTextAsync(other, "dave@one.example: dave\n");
        WriteConfig(dir, string.Empty, virtualPath: other);
        await AdminServer.JsonAsync(await admin.PostAsync("v1/reload", "{}"), HttpStatusCode.OK);
        Assert.Equal(250, await RcptAsync(admin, "dave@one.example"));

        var stamp = File.GetLastWriteTimeUtc(other);
        await File.WriteAllTextAsync(other, "erin@one.example: erin\n");
        File.SetLastWriteTimeUtc(other, stamp);
        var updated = await AdminServer.JsonAsync(await admin.PostAsync("v1/tables/virtual/update", "{}"), HttpStatusCode.OK);
        Assert.Equal(other, updated.GetProperty("path").GetString());
        Assert.Equal(250, await RcptAsync(admin, "erin@one.example"));
    }

    [Fact]
    public async Task Update_table_reports_an_unreadable_file_an_unknown_table_and_a_list()
    {
        await using var admin = await StartAsync(out var dir);
        var path = dir.Combine("virtual");
        var saved = await File.ReadAllTextAsync(path);
        File.Delete(path);
        var broken = await AdminServer.JsonAsync(await admin.PostAsync("v1/tables/virtual/update", "{}"), HttpStatusCode.UnprocessableEntity);
        Assert.Equal("table-unavailable", broken.GetProperty("error").GetString());
        Assert.Contains("does not exist", broken.GetProperty("message").GetString(), StringComparison.Ordinal);

        await File.WriteAllTextAsync(path, saved + "nobody:\n");
        var back = await AdminServer.JsonAsync(await admin.PostAsync("v1/tables/virtual/update", "{}"), HttpStatusCode.OK);
        Assert.Equal(1, back.GetProperty("skipped").GetArrayLength());
        Assert.Equal(250, await RcptAsync(admin, "alice@one.example"));

        Assert.Equal("not-found", (await AdminServer.JsonAsync(await admin.PostAsync("v1/tables/nosuch/update", "{}"), HttpStatusCode.NotFound)).GetProperty("error").GetString());
        var list = await AdminServer.JsonAsync(await admin.PostAsync("v1/tables/domains/update", "{}"), HttpStatusCode.BadRequest);
        Assert.Contains("nothing to reload", list.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Smtpctl_reload_and_update_table_exit_codes()
    {
        await using var admin = await StartAsync(out var dir);
        var config = dir.Combine("smtpd.yaml");

        var updated = await RunAsync(config, "update", "table", "virtual");
        Assert.Equal(0, updated.Exit);
        Assert.Contains("table virtual updated: 2 entries from", updated.Out, StringComparison.Ordinal);
        Assert.Equal(1, (await RunAsync(config, "update", "table", "nosuch")).Exit);
        var list = await RunAsync(config, "update", "table", "domains");
        Assert.Equal(1, list.Exit);
        Assert.Contains("nothing to reload", list.Err, StringComparison.Ordinal);

        WriteConfig(dir, BlockRule);
        var reloaded = await RunAsync(config, "reload");
        Assert.Equal(0, reloaded.Exit);
        Assert.Contains("configuration reloaded", reloaded.Out, StringComparison.Ordinal);
        Assert.Contains("\"reloaded\":true", (await RunAsync(config, "--json", "reload")).Out, StringComparison.Ordinal);
        Assert.Equal(550, await RcptAsync(admin, "blocked@one.example"));

        // smtpctl reads admin.socket from the broken file too: give it the socket.
        WriteConfig(dir, BlockRule.Replace("action: reject", "action: rejct", StringComparison.Ordinal));
        var refused = await RunRawAsync("--socket", admin.SocketPath, "reload");
        Assert.Equal(1, refused.Exit);
        Assert.Contains("reload refused", refused.Err, StringComparison.Ordinal);
        Assert.Contains("  rules[0].action: ", refused.Err, StringComparison.Ordinal);

        File.Delete(dir.Combine("virtual"));
        var unreadable = await RunRawAsync("--socket", admin.SocketPath, "update", "table", "virtual");
        Assert.Equal(1, unreadable.Exit);
        Assert.Contains("does not exist", unreadable.Err, StringComparison.Ordinal);
    }

    private static Task<AdminServer> StartAsync(out TempDirectory dir)
    {
        dir = new TempDirectory("smtpd-reload");
        File.WriteAllText(dir.Combine("virtual"), "alice@one.example: alice\nblocked@one.example: blocked\n");
        WriteConfig(dir, string.Empty);
        return AdminServer.StartFromConfigAsync(dir, dir.Combine("smtpd.yaml"));
    }

    private static void WriteConfig(TempDirectory dir, string extraRule, string extraTable = "", string? virtualPath = null)
    {
        var d = dir.Path;
        File.WriteAllText(dir.Combine("smtpd.yaml"), $$"""
            {{AdminServer.ConfigHeader(d)}}
            tables:
              virtual: { type: file, path: {{virtualPath ?? d + "/virtual"}}, format: aliases }
              domains: { type: list, values: [one.example] }
            {{extraTable}}
            actions:
              local: { maildir: { path: "{{d}}/mail/{user}" }, virtual: virtual }
            rules:
            {{extraRule}}
              - { from: any, for: { domain: domains }, action: local }
            """);
    }

    /// <summary>A new session's answer to one RCPT.</summary>
    private static Task<int> RcptAsync(AdminServer admin, string recipient) => SmtpDialog.RcptAsync(admin.Server.ConnectAsync, recipient);

    private static Task<(int Exit, string Out, string Err)> RunAsync(string config, params string[] args) => RunRawAsync(["-c", config, .. args]);

    private static async Task<(int Exit, string Out, string Err)> RunRawAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var ctl = new Smtpctl(stdout, stderr, new StringReader(string.Empty), _ => null, stdinRedirected: true);
        var exit = await ctl.RunAsync(args, CancellationToken.None);
        return (exit, stdout.ToString(), stderr.ToString());
    }
}
