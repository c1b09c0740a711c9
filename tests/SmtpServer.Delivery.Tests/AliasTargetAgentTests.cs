using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;
using SmtpServer.Core.Routing;
using SmtpServer.Testing;

namespace SmtpServer.Delivery.Tests;

/// <summary>
/// aliases(5) <c>/file</c> and <c>|command</c> targets delivered by a real action's agent
/// wrapper: real programs (a /bin/sh script written here, /usr/bin/tee) and real mbox files.
/// </summary>
public sealed class AliasTargetAgentTests : IDisposable
{
    // Writes stdin, its argv and environment to files in $1, says something on stderr, exits $2.
    private const string Script = """
        #!/bin/sh
        out="$1"
        cat > "$out/stdin"
        printf '%s\n' "$@" > "$out/argv"
        printf 'RECIPIENT=%s\nSENDER=%s\nUSER=%s\nORIGINAL_RECIPIENT=%s\n' "$RECIPIENT" "$SENDER" "$USER" "$ORIGINAL_RECIPIENT" > "$out/env"
        echo "handler says: status $2" >&2
        exit "$2"
        """;

    private const AliasTargetPermissions All = AliasTargetPermissions.Files | AliasTargetPermissions.Commands;

    private readonly TempDirectory _dir = new("alias-target-agent");
    private readonly string _script;
    private readonly string _out;
    private readonly string _maildirs;

    public AliasTargetAgentTests()
    {
        _script = TestMessages.WriteExecutable(_dir, "handler.sh", Script);
        _out = _dir.Combine("out");
        Directory.CreateDirectory(_out);
        _maildirs = _dir.Combine("maildirs");
    }

    public void Dispose() => _dir.Dispose();

    private AliasTargetAgent Agent(AliasTargetPermissions permissions = All, TimeSpan? commandTimeout = null) =>
        new(new MaildirAgent("local", new MaildirAgentOptions(Path.Combine(_maildirs, "{user}")), TimeProvider.System, NullLogger<MaildirAgent>.Instance),
            () => permissions, TimeProvider.System, NullLogger<AliasTargetAgent>.Instance, commandTimeout);

    private static EnvelopeRecord Envelope(QueueId id, DeliveryTarget? target, string recipient = "list@example.org") =>
        TestMessages.Envelope(id, recipient, originalRecipient: "List@Example.org") with { Target = target };

    private DeliveryTarget ScriptTarget(int exit, params string[] extra) =>
        DeliveryTarget.Command([_script, _out, exit.ToString(System.Globalization.CultureInfo.InvariantCulture), .. extra]);

    [Fact]
    public async Task A_command_target_runs_its_argv_without_a_shell_with_the_message_on_stdin_and_the_envelope_in_the_environment()
    {
        var pwned = _dir.Combine("pwned");
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var id = QueueId.New(TimeProvider.System);
        var envelope = Envelope(id, ScriptTarget(0, "an arg", $"$(touch {pwned})", "`id`;x"));

        var result = Assert.Single(await Agent().DeliverAsync(TestMessages.Request(message, envelope), default));

        Assert.Equal(DeliveryStatus.Delivered, result.Status);
        Assert.Equal(TestMessages.TraceHeaders("sender@example.net", "list@example.org") + TestMessages.Simple, File.ReadAllText(Path.Combine(_out, "stdin")));
        Assert.Equal([_out, "0", "an arg", $"$(touch {pwned})", "`id`;x"], File.ReadAllLines(Path.Combine(_out, "argv")));
        Assert.Equal(["RECIPIENT=list@example.org", "SENDER=sender@example.net", "USER=list", "ORIGINAL_RECIPIENT=List@Example.org"], File.ReadAllLines(Path.Combine(_out, "env")));
        Assert.False(File.Exists(pwned));
        Assert.False(Directory.Exists(_maildirs), "a target must not also go to the mailbox");
    }

    [Fact]
    public async Task Tee_appends_the_exact_message_to_its_file()
    {
        const string Tee = "/usr/bin/tee";
        Assert.True(File.Exists(Tee), "/usr/bin/tee (coreutils) is missing");
        var copy = _dir.Combine("tee.out");
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var agent = Agent(AliasTargetPermissions.Commands);

        for (var i = 0; i < 2; i++)
        {
            var envelope = Envelope(QueueId.New(TimeProvider.System), DeliveryTarget.Command([Tee, "-a", copy]));
            Assert.Equal(DeliveryStatus.Delivered, Assert.Single(await agent.DeliverAsync(TestMessages.Request(message, envelope), default)).Status);
        }

        var once = TestMessages.TraceHeaders("sender@example.net", "list@example.org") + TestMessages.Simple;
        Assert.Equal(once + once, File.ReadAllText(copy));
    }

    [Theory]
    [InlineData(75, true, "4.3.0")]
    [InlineData(71, true, "4.3.0")]
    [InlineData(1, false, "5.3.0")]
    public async Task Exit_status_decides_with_ex_tempfail_temporary(int exit, bool temporary, string enhanced)
    {
        var status = temporary ? DeliveryStatus.TemporaryFailure : DeliveryStatus.PermanentFailure;
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var envelope = Envelope(QueueId.New(TimeProvider.System), ScriptTarget(exit));

        var result = Assert.Single(await Agent().DeliverAsync(TestMessages.Request(message, envelope), default));

        Assert.Equal(status, result.Status);
        Assert.Equal(enhanced, result.EnhancedStatus);
        Assert.Equal($"command: handler says: status {exit}", result.Diagnostic);
    }

    [Fact]
    public async Task A_command_that_runs_too_long_is_killed_and_retried()
    {
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var envelope = Envelope(QueueId.New(TimeProvider.System), DeliveryTarget.Command(["/bin/sleep", "60"]));
        var watch = Stopwatch.StartNew();

        var result = Assert.Single(await Agent(commandTimeout: TimeSpan.FromSeconds(1)).DeliverAsync(TestMessages.Request(message, envelope), default));

        Assert.Equal(DeliveryStatus.TemporaryFailure, result.Status);
        Assert.Equal("command: /bin/sleep timed out after 1 s and was killed", result.Diagnostic);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task A_file_target_is_appended_in_mboxrd_format_under_the_mbox_locks()
    {
        var mbox = _dir.Combine("archive", "list.mbox");
        var first = TestMessages.Write(_dir, TestMessages.Simple);
        var second = TestMessages.Write(_dir, "Subject: second\r\n\r\nFrom here\r\n>From there\r\n");
        var agent = Agent(AliasTargetPermissions.Files);

        foreach (var message in new[] { first, second })
        {
            var envelope = Envelope(QueueId.New(TimeProvider.System), DeliveryTarget.File(mbox));
            Assert.Equal(DeliveryStatus.Delivered, Assert.Single(await agent.DeliverAsync(TestMessages.Request(message, envelope), default)).Status);
        }

        var text = File.ReadAllText(mbox);
        Assert.Matches(@"^From sender@example\.net [A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\nReturn-Path: <sender@example\.net>\nDelivered-To: list@example\.org\nReceived: ", text);
        Assert.Contains("\n>From the body, a line that mbox must quote.\n>>From an already quoted line.\n", text, StringComparison.Ordinal);
        Assert.EndsWith("Subject: second\n\n>From here\n>>From there\n\n", text, StringComparison.Ordinal);
        Assert.Equal(2, text.Split('\n').Count(l => l.StartsWith("From ", StringComparison.Ordinal)));
        Assert.False(File.Exists(mbox + ".lock"));
    }

    [Fact]
    public async Task Targets_and_ordinary_recipients_of_one_request_each_go_their_way()
    {
        var mbox = _dir.Combine("list.mbox");
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var id = QueueId.New(TimeProvider.System);
        var plain = TestMessages.Envelope(id, "alice@example.org");
        var file = Envelope(id, DeliveryTarget.File(mbox));
        var command = Envelope(id, ScriptTarget(0));
        var agent = Agent();

        var results = await agent.DeliverAsync(TestMessages.Request(message, plain, file, command), default);

        Assert.Equal([plain.Id, file.Id, command.Id], results.Select(r => r.Envelope).Order());
        Assert.All(results, r => Assert.Equal(DeliveryStatus.Delivered, r.Status));
        Assert.Single(Directory.GetFiles(Path.Combine(_maildirs, "alice", "new")));
        Assert.True(File.Exists(mbox));
        Assert.True(File.Exists(Path.Combine(_out, "stdin")));

        // Each target is its own destination, so the scheduler never mixes one with mailboxes.
        Assert.Equal(Path.Combine(_maildirs, "alice"), agent.DestinationOf(plain));
        Assert.Equal("file:" + mbox, agent.DestinationOf(file));
        Assert.Equal($"command:|{_script} {_out} 0", agent.DestinationOf(command));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_command_queued_before_the_action_stopped_allowing_it_is_not_run(bool filesAllowed)
    {
        var permissions = filesAllowed ? AliasTargetPermissions.Files : AliasTargetPermissions.None;
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var envelope = Envelope(QueueId.New(TimeProvider.System), ScriptTarget(0));

        var result = Assert.Single(await Agent(permissions).DeliverAsync(TestMessages.Request(message, envelope), default));

        Assert.Equal(DeliveryStatus.TemporaryFailure, result.Status);
        Assert.Equal("4.7.1", result.EnhancedStatus);
        Assert.Equal($"alias target |{_script} {_out} 0: action 'local' does not allow commands (aliasTargets.commands); kept in the queue", result.Diagnostic);
        Assert.False(File.Exists(Path.Combine(_out, "stdin")));
        Assert.False(Directory.Exists(_maildirs));
    }

    [Fact]
    public async Task A_loop_through_a_target_is_refused_before_anything_runs()
    {
        var message = TestMessages.Write(_dir, "Delivered-To: list@example.org\r\n" + TestMessages.Simple);
        var envelope = Envelope(QueueId.New(TimeProvider.System), ScriptTarget(0));

        var result = Assert.Single(await Agent().DeliverAsync(TestMessages.Request(message, envelope), default));

        Assert.Equal(DeliveryStatus.PermanentFailure, result.Status);
        Assert.False(File.Exists(Path.Combine(_out, "stdin")));
    }
}
