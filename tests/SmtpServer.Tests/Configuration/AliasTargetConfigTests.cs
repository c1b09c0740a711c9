using System.Diagnostics;
using SmtpServer.Configuration;
using SmtpServer.Core.Routing;
using SmtpServer.Testing;
using SmtpServer.Tests.Infrastructure;

namespace SmtpServer.Tests.Configuration;

/// <summary><c>actions.X.aliasTargets</c>: read, checked, and what <c>smtpd --check</c> says about the aliases file.</summary>
public sealed class AliasTargetConfigTests : IDisposable
{
    private static readonly Dictionary<string, string> NoEnvironment = [];
    private readonly TempDirectory _dir = new("smtpd-alias-config");

    public void Dispose() => _dir.Dispose();

    private string Write(string action, string aliases = "postmaster: root\n")
    {
        File.WriteAllText(_dir.Combine("aliases"), aliases);
        var path = _dir.Combine("smtpd.yaml");
        File.WriteAllText(path, $$"""
            server: { hostname: mx.test }
            queue: { path: {{_dir.Path}}/queue }
            listeners: [ { name: mx, address: "127.0.0.1:2525" } ]
            tables: { aliases: { type: file, path: {{_dir.Path}}/aliases, format: aliases } }
            actions: { local: { maildir: { path: ./mail }{{action}} } }
            rules: [ { from: any, for: local, action: local } ]
            """);
        return path;
    }

    private ConfigLoadResult Load(string action, string aliases = "postmaster: root\n") => ConfigLoader.Load(Write(action, aliases), NoEnvironment);

    [Theory]
    [InlineData("", "None")]
    [InlineData(", aliases: aliases", "None")]
    [InlineData(", aliases: aliases, aliasTargets: { files: true }", "Files")]
    [InlineData(", aliases: aliases, aliasTargets: { commands: true, files: false }", "Commands")]
    [InlineData(", aliases: aliases, aliasTargets: { files: true, commands: true }", "Files, Commands")]
    public void Alias_targets_are_off_unless_the_action_allows_them(string action, string expected)
    {
        var result = Load(action);
        Assert.True(result.Errors.Count == 0, string.Join("\n", result.Errors));
        Assert.Equal(Enum.Parse<AliasTargetPermissions>(expected), result.Settings!.ActionDefinitions["local"].AliasTargets);
        Assert.Empty(result.Settings.Warnings);
    }

    [Theory]
    [InlineData(", aliasTargets: { files: true }", "actions.local.aliasTargets: needs aliases or virtual on the same action: only alias values can name a file or a command")]
    [InlineData(", aliases: aliases, aliasTargets: { commands: yes }", "actions.local.aliasTargets.commands: 'yes' is not true or false")]
    [InlineData(", aliases: aliases, aliasTargets: { command: true }", "actions.local.aliasTargets.command: unknown key (did you mean 'commands'?)")]
    [InlineData(", aliases: aliases, aliasTargets: true", "actions.local.aliasTargets: expected a section, not the value 'true'")]
    public void Bad_alias_target_settings_name_the_key(string action, string error)
    {
        var result = Load(action);
        Assert.Null(result.Settings);
        Assert.Equal([error], result.Errors.Select(e => e.ToString()));
    }

    [Fact]
    public void Targets_the_action_does_not_allow_are_warnings_and_unusable_ones_errors()
    {
        const string Aliases = "archive: /srv/mail/archive.mbox\nticket: \"|/usr/local/bin/ticket 'a b'\", alice\n";
        var filesOnly = Load(", aliases: aliases, aliasTargets: { files: true }", Aliases);
        Assert.True(filesOnly.Errors.Count == 0, string.Join("\n", filesOnly.Errors));
        Assert.Equal(
            ["actions.local.aliasTargets.commands: alias 'ticket' in table 'aliases' names |/usr/local/bin/ticket 'a b', which this action does not allow: RCPT to it is refused with 550 5.7.1 (set aliasTargets.commands: true to deliver it)"],
            filesOnly.Settings!.Warnings.Select(w => w.ToString()));
        Assert.Equal(2, Load(", aliases: aliases", Aliases).Settings!.Warnings.Count);
        Assert.Empty(Load(", aliases: aliases, aliasTargets: { files: true, commands: true }", Aliases).Settings!.Warnings);

        var broken = Load(", aliases: aliases, aliasTargets: { commands: true }", "relative: |bin/ticket\n");
        Assert.Null(broken.Settings);
        Assert.Equal(
            [$"tables.aliases.path: '{_dir.Combine("aliases")}': alias 'relative': '|bin/ticket': 'bin/ticket' is not an absolute program path"],
            broken.Errors.Select(e => e.ToString()));
    }

    [Fact]
    public async Task Smtpd_check_prints_the_warnings_and_still_passes()
    {
        var path = Write(", aliases: aliases", "ticket: |/usr/local/bin/ticket\n");
        using var process = Process.Start(new ProcessStartInfo("dotnet", [SmtpdProcess.SmtpdDll, "--check", "-c", path])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(0, process.ExitCode);
        Assert.Equal($"{path}: configuration OK\n", await stdout);
        Assert.Equal(
            $"{path}: warning: actions.local.aliasTargets.commands: alias 'ticket' in table 'aliases' names |/usr/local/bin/ticket, which this action does not allow: RCPT to it is refused with 550 5.7.1 (set aliasTargets.commands: true to deliver it)\n",
            await stderr);
    }
}
