using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;
using SmtpServer.Testing;

namespace SmtpServer.Delivery.Tests;

/// <summary>The command agent running real programs. The test script is ours; the envelope never passes through a shell.</summary>
public sealed class CommandAgentTests : IDisposable
{
    // Writes its stdin, environment and argv to files in $1, prints stderr lines, exits with $2.
    private const string Script = """
        #!/bin/sh
        out="$1"
        cat > "$out/stdin"
        env > "$out/env"
        printf '%s' "$SENDER" > "$out/sender"
        printf '%s' "$RECIPIENT" > "$out/recipient"
        printf '%s\n' "$@" > "$out/argv"
        echo "first stderr line" >&2
        echo "the last line: $2" >&2
        echo "" >&2
        exit "$2"
        """;

    private readonly TempDirectory _dir = new("command-test");
    private readonly string _script;
    private readonly string _out;

    public CommandAgentTests()
    {
        _script = TestMessages.WriteExecutable(_dir, "deliver.sh", Script);
        _out = _dir.Combine("out");
        Directory.CreateDirectory(_out);
    }

    public void Dispose() => _dir.Dispose();

    private static CommandAgent Agent(string run, string[] args, TimeSpan? timeout = null) =>
        new("mda", new CommandAgentOptions(run, args, timeout), NullLogger<CommandAgent>.Instance);

    private CommandAgent ScriptAgent(int exitCode, params string[] extra) => Agent(_script, [_out, exitCode.ToString(System.Globalization.CultureInfo.InvariantCulture), .. extra]);

    private Dictionary<string, string> Environment() =>
        File.ReadAllLines(Path.Combine(_out, "env")).Where(l => l.Contains('=', StringComparison.Ordinal)).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);

    [Fact]
    public async Task Exit_0_delivers_with_the_message_on_stdin_and_the_envelope_in_a_clean_environment()
    {
        System.Environment.SetEnvironmentVariable("SMTPD_TEST_SECRET", "must-not-leak");
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var id = QueueId.New(TimeProvider.System);
        var envelope = TestMessages.Envelope(id, "Alice+Lists@Example.org", originalRecipient: "alias@example.org");

        var result = Assert.Single(await ScriptAgent(0).DeliverAsync(TestMessages.Request(message, envelope), default));

        Assert.Equal(DeliveryStatus.Delivered, result.Status);
        Assert.Equal(TestMessages.TraceHeaders("sender@example.net", "Alice+Lists@Example.org") + TestMessages.Simple, File.ReadAllText(Path.Combine(_out, "stdin")));
        var env = Environment();
        Assert.Equal("sender@example.net", env["SENDER"]);
        Assert.Equal("Alice+Lists@Example.org", env["RECIPIENT"]);
        Assert.Equal("alice", env["USER"]);
        Assert.Equal("example.org", env["DOMAIN"]);
        Assert.Equal("Lists", env["EXTENSION"]);
        Assert.Equal("alias@example.org", env["ORIGINAL_RECIPIENT"]);
        Assert.False(env.ContainsKey("SMTPD_TEST_SECRET"));

        // Only what we passed, plus what sh itself sets (PWD, SHLVL, _... depending on the shell).
        var allowed = new HashSet<string>(["PATH", "HOME", "LANG", "SENDER", "RECIPIENT", "USER", "DOMAIN", "EXTENSION", "ORIGINAL_RECIPIENT", "PWD", "SHLVL", "_", "OLDPWD"], StringComparer.Ordinal);
        Assert.All(env.Keys, k => Assert.Contains(k, allowed));
    }

    [Theory]
    [InlineData(75, true, "4.3.0")]
    [InlineData(71, true, "4.3.0")]
    [InlineData(1, false, "5.3.0")]
    [InlineData(67, false, "5.3.0")]
    public async Task Exit_codes_map_to_results_with_the_last_stderr_line(int exitCode, bool temporary, string enhanced)
    {
        var status = temporary ? DeliveryStatus.TemporaryFailure : DeliveryStatus.PermanentFailure;
        var message = TestMessages.Write(_dir, TestMessages.Simple);

        var result = Assert.Single(await ScriptAgent(exitCode).DeliverAsync(TestMessages.Request(message, "alice@example.org"), default));

        Assert.Equal(status, result.Status);
        Assert.Equal(enhanced, result.EnhancedStatus);
        Assert.Equal($"command: the last line: {exitCode}", result.Diagnostic);
    }

    [Fact]
    public async Task Cve_2020_7247_shell_metacharacters_in_the_envelope_are_never_interpreted()
    {
        var pwned = Path.Combine(Path.GetTempPath(), $"pwned-{Guid.NewGuid():N}");
        var sender = new AddressRecord($";touch {pwned};", "example.net");
        var recipient = new AddressRecord($"`touch {pwned}`$(touch {pwned})", "example.org");
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var envelope = TestMessages.Envelope(QueueId.New(TimeProvider.System), recipient, sender);

        // argv from the configuration holds a "$SENDER" that must stay literal too.
        var result = Assert.Single(await ScriptAgent(0, "$SENDER", "{rcpt}").DeliverAsync(TestMessages.Request(message, envelope), default));

        Assert.Equal(DeliveryStatus.Delivered, result.Status);
        Assert.False(File.Exists(pwned));
        Assert.Equal($";touch {pwned};@example.net", File.ReadAllText(Path.Combine(_out, "sender")));
        Assert.Equal($"`touch {pwned}`$(touch {pwned})@example.org", File.ReadAllText(Path.Combine(_out, "recipient")));
        Assert.Equal([_out, "0", "$SENDER", "{rcpt}"], File.ReadAllLines(Path.Combine(_out, "argv")));
    }

    [Fact]
    public async Task Control_characters_in_the_envelope_are_refused()
    {
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var envelope = TestMessages.Envelope(QueueId.New(TimeProvider.System), TestMessages.Address("alice@example.org"), new AddressRecord("a\nX-Injected: yes", "example.net"));

        var result = Assert.Single(await ScriptAgent(0).DeliverAsync(TestMessages.Request(message, envelope), default));

        Assert.Equal(DeliveryStatus.PermanentFailure, result.Status);
        Assert.Equal("5.1.7", result.EnhancedStatus);
        Assert.False(File.Exists(Path.Combine(_out, "stdin")));
    }

    [Fact]
    public async Task A_program_that_runs_too_long_is_killed_with_its_children_and_retried()
    {
        // The script's child sleep must die with it (the whole tree is killed).
        var script = _dir.Combine("hang.sh");
        File.WriteAllText(script, "#!/bin/sh\nsleep 60 &\necho $! > \"$1/child\"\nwait\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var stopwatch = Stopwatch.StartNew();

        var results = await Agent(script, [_out], TimeSpan.FromSeconds(1)).DeliverAsync(TestMessages.Request(message, "alice@example.org"), default);
        var plain = await Agent("sleep", ["60"], TimeSpan.FromMilliseconds(300)).DeliverAsync(TestMessages.Request(message, "bob@example.org"), default);

        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(15), stopwatch.Elapsed.ToString());
        foreach (var result in results.Concat(plain))
        {
            Assert.Equal(DeliveryStatus.TemporaryFailure, result.Status);
            Assert.Contains("timed out", result.Diagnostic, StringComparison.Ordinal);
        }

        var child = File.ReadAllText(Path.Combine(_out, "child")).Trim();
        await AssertGoneAsync(int.Parse(child, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task A_program_that_closes_stdin_early_is_judged_by_its_exit_status()
    {
        var big = new StringBuilder(TestMessages.Simple);
        for (var i = 0; i < 40_000; i++)
        {
            big.Append("a line of body text that fills the pipe well beyond its buffer\r\n");
        }

        var message = TestMessages.Write(_dir, big.ToString());

        var ok = Assert.Single(await Agent("true", []).DeliverAsync(TestMessages.Request(message, "alice@example.org"), default));
        var failed = Assert.Single(await Agent("false", []).DeliverAsync(TestMessages.Request(message, "alice@example.org"), default));

        Assert.Equal(DeliveryStatus.Delivered, ok.Status);
        Assert.Equal(DeliveryStatus.PermanentFailure, failed.Status);
        Assert.Equal("command: false exited with status 1", failed.Diagnostic);
    }

    [Fact]
    public async Task A_large_message_is_streamed_through_stdin_intact()
    {
        var bytes = new byte[3 * 1024 * 1024];
        RandomNumberGenerator.Fill(bytes);
        var message = _dir.Combine("big.eml");
        await File.WriteAllBytesAsync(message, [.. "Subject: big\r\n\r\n"u8, .. bytes]);

        var result = Assert.Single(await ScriptAgent(0).DeliverAsync(TestMessages.Request(message, "alice@example.org"), default));

        Assert.Equal(DeliveryStatus.Delivered, result.Status);
        var expected = Encoding.UTF8.GetBytes(TestMessages.TraceHeaders("sender@example.net", "alice@example.org")).Concat(await File.ReadAllBytesAsync(message)).ToArray();
        Assert.Equal(SHA256.HashData(expected), SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(_out, "stdin"))));
    }

    [Fact]
    public async Task One_process_per_recipient_and_a_missing_program_is_temporary()
    {
        var message = TestMessages.Write(_dir, TestMessages.Simple);

        var results = await ScriptAgent(0).DeliverAsync(TestMessages.Request(message, "alice@example.org", "bob@example.org"), default);
        var missing = Assert.Single(await Agent(_dir.Combine("no-such-program"), []).DeliverAsync(TestMessages.Request(message, "alice@example.org"), default));

        Assert.All(results, r => Assert.Equal(DeliveryStatus.Delivered, r.Status));
        Assert.Equal("bob@example.org", File.ReadAllText(Path.Combine(_out, "recipient")));
        Assert.Equal(DeliveryStatus.TemporaryFailure, missing.Status);
    }

    [Fact]
    public async Task A_background_child_holding_stderr_does_not_hold_up_the_result()
    {
        var script = _dir.Combine("daemon.sh");
        File.WriteAllText(script, "#!/bin/sh\ncat > /dev/null\nsleep 30 &\necho $! > \"$1/child\"\nexit 0\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var stopwatch = Stopwatch.StartNew();
        try
        {
            var result = Assert.Single(await Agent(script, [_out]).DeliverAsync(TestMessages.Request(message, "alice@example.org"), default));

            Assert.Equal(DeliveryStatus.Delivered, result.Status);
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(15), stopwatch.Elapsed.ToString());
        }
        finally
        {
            if (File.Exists(Path.Combine(_out, "child")))
            {
                using var child = Process.GetProcessById(int.Parse(File.ReadAllText(Path.Combine(_out, "child")).Trim(), System.Globalization.CultureInfo.InvariantCulture));
                child.Kill();
            }
        }
    }

    [Fact]
    public async Task Loop_is_refused_before_running_anything()
    {
        var message = TestMessages.Write(_dir, "Delivered-To: alice@example.org\r\n\r\nx\r\n");

        var result = Assert.Single(await ScriptAgent(0).DeliverAsync(TestMessages.Request(message, "alice@example.org"), default));

        Assert.Equal("5.4.6", result.EnhancedStatus);
        Assert.False(File.Exists(Path.Combine(_out, "stdin")));
    }

    private static async Task AssertGoneAsync(int pid)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (DateTime.UtcNow < deadline)
        {
            var stat = $"/proc/{pid}/stat";

            // Gone, or a zombie waiting for a parent that is not us (reaped by init).
            if (!File.Exists(stat) || File.ReadAllText(stat).Split(' ')[2] == "Z")
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail($"child process {pid} still runs");
    }
}

public sealed class LocalAgentFactoryTests
{
    private readonly LocalAgentFactory _factory = new(Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);

    [Fact]
    public async Task Creates_each_agent_from_its_options()
    {
        var envelope = TestMessages.Envelope(QueueId.New(TimeProvider.System), "Alice+x@Example.org");

        var maildir = _factory.Create("maildir", new MaildirAgentOptions("/var/mail/{domain}/{user}/Maildir"));
        var mbox = _factory.Create("mbox", new MboxAgentOptions("/var/mail/{user}"));
        var lmtp = _factory.Create("lmtp", new LmtpAgentOptions("127.0.0.1:24"));
        var command = _factory.Create("mda", new CommandAgentOptions("/usr/bin/procmail", ["-d"]));

        Assert.IsType<MaildirAgent>(maildir);
        Assert.IsType<MboxAgent>(mbox);
        Assert.IsType<LmtpAgent>(lmtp);
        Assert.IsType<CommandAgent>(command);
        Assert.All(new[] { maildir, mbox, lmtp, command }, a => Assert.True(a.IsLocal));
        Assert.Equal(["maildir", "mbox", "lmtp", "mda"], new[] { maildir, mbox, lmtp, command }.Select(a => a.Action));
        Assert.Equal("/var/mail/example.org/alice/Maildir", maildir.DestinationOf(envelope));
        Assert.Equal("/var/mail/alice", mbox.DestinationOf(envelope));
        Assert.Equal("127.0.0.1:24", lmtp.DestinationOf(envelope));
        Assert.Equal("/usr/bin/procmail", command.DestinationOf(envelope));
        await ((IAsyncDisposable)lmtp).DisposeAsync();
    }

    [Theory]
    [InlineData("relative/{user}")]
    [InlineData("/var/mail/{nope}")]
    [InlineData("/var/mail/{user")]
    public void Rejects_bad_templates(string template) =>
        Assert.Throws<ArgumentException>(() => _factory.Create("x", new MaildirAgentOptions(template)));
}

public sealed class PathTemplateTests
{
    [Theory]
    [InlineData("/var/mail/{user}", "alice", "example.org", "/var/mail/alice")]
    [InlineData("/var/mail/{user}", "Bob+tag", "example.org", "/var/mail/bob")]
    [InlineData("/srv/{domain}/u-{user}/Maildir", "x.y", "EXAMPLE.org", "/srv/example.org/u-x.y/Maildir")]
    [InlineData("/var/spool/shared", "anyone", "example.org", "/var/spool/shared")]
    [InlineData("/var/mail/{user}", "élise", "example.org", "/var/mail/élise")]
    public void Expands(string template, string local, string domain, string expected)
    {
        Assert.True(new PathTemplate(template).TryExpand(LocalRecipient.From(new AddressRecord(local, domain)), out var path));
        Assert.Equal(expected, path);
    }

    [Theory]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("a..b")]
    [InlineData("+ext")]
    [InlineData("a b")]
    [InlineData("a\u0085b")]
    [InlineData("a\u007fb")]
    public void Refuses(string local)
    {
        var ok = new PathTemplate("/var/mail/{user}").TryExpand(LocalRecipient.From(new AddressRecord(local, "example.org")), out _);

        // "+ext" alone is the user "+ext": a safe name, so it is the one allowed case here.
        Assert.Equal(local == "+ext", ok);
    }
}
