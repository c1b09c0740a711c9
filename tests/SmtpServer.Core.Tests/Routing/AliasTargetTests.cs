using SmtpServer.Core.Routing;
using SmtpServer.Testing;

namespace SmtpServer.Core.Tests.Routing;

/// <summary>
/// aliases(5) <c>/file</c> and <c>|command</c> values, read from alias files on disk and expanded
/// under each <c>aliasTargets</c> permission; and the command-line splitting rules.
/// </summary>
public sealed class AliasTargetTests : IDisposable
{
    private const string AliasFile = """
        # aliases(5): files and commands next to users and addresses
        list:       alice, /srv/mail/list.mbox, "|/usr/bin/archive --list 'main list'", bob@remote.example
        pipe:       |/usr/local/bin/handler 'an arg' "x\"y" $HOME;rm
        file:       /srv/mail/file.mbox
        dupfile:    /srv/mail/file.mbox, file, "/srv/mail/file.mbox"
        dupcmd:     "|/usr/bin/tee -a /tmp/x", |/usr/bin/tee   -a  /tmp/x
        commas:     "|/usr/bin/prog a,b", alice
        both:       pipe, file
        relcmd:     |bin/prog
        nocmd:      |
        relfile:    /srv/../etc/passwd
        dirfile:    /srv/mail/
        quote:      "|/usr/bin/prog 'oops"
        include:    :include:/etc/mail/list, alice
        """;

    // A virtual table in map format: one "a, b" value per key, split by the expander.
    private const string VirtualFile = """
        pipe@example.org     "|/usr/bin/prog a,b", alice
        file@example.org     /srv/mail/v.mbox, carol
        last@example.org     alice, |/usr/bin/prog x, y
        """;

    private readonly TempDirectory _dir = new("alias-targets");

    public void Dispose() => _dir.Dispose();

    private static readonly RuleRouter Rules = new(
    [
        Rule.Deliver(AnyCondition.Instance, new DomainCondition(new StaticListTable("domains", ["example.org"])), "local"),
        Rule.Deliver(LocalSourceCondition.Instance, AnyCondition.Instance, "relay"),
    ]);

    private RecipientExpander Expander(string text, TableFormat format, AliasTargetPermissions permissions)
    {
        var path = _dir.Combine($"table-{Guid.NewGuid():N}");
        File.WriteAllText(path, text);
        var table = new FileTable("aliases", path, format);
        Assert.Empty(table.Problems);
        var expansion = format == TableFormat.Aliases
            ? new ActionExpansion { Aliases = table, Users = new StaticListTable("users", ["alice", "bob", "carol"]), Permissions = permissions }
            : new ActionExpansion { Virtual = table, Permissions = permissions };
        return new RecipientExpander(Rules, new Dictionary<string, ActionExpansion> { ["local"] = expansion });
    }

    /// <summary>"address action [target]" per recipient, or the RCPT reply.</summary>
    private static async Task<string> OutcomeAsync(RecipientExpander expander, string recipient)
    {
        var request = RuleRouterTests.Request(recipient: recipient);
        var result = await expander.ExpandAsync(request, default);
        return result.Accepted
            ? string.Join(" | ", result.Recipients.Select(r => $"{r.Recipient.Address} {r.Action}" + (r.Target is null ? string.Empty : $" {r.Target.Kind} {r.Target}")))
            : result.Reject!.ToString();
    }

    private const string All = "Files, Commands";
    private const string NoCommand = "550 5.7.1 Invalid recipient: <{0}>: delivery to a command is not allowed";
    private const string NoFile = "550 5.7.1 Invalid recipient: <{0}>: delivery to a file is not allowed";
    private const string Broken = "451 4.3.0 Temporary failure";

    public static TheoryData<string, string, string> AliasCases => new()
    {
        { All, "list", "alice@example.org local | list@example.org local File /srv/mail/list.mbox | list@example.org local Command |/usr/bin/archive --list 'main list' | bob@remote.example relay" },
        { All, "pipe", "pipe@example.org local Command |/usr/local/bin/handler 'an arg' 'x\"y' $HOME;rm" },
        { All, "file", "file@example.org local File /srv/mail/file.mbox" },

        // The same file (spelled with or without quotes, or reached through another alias) is one delivery; so is the same argv.
        { All, "dupfile", "dupfile@example.org local File /srv/mail/file.mbox" },
        { All, "dupcmd", "dupcmd@example.org local Command |/usr/bin/tee -a /tmp/x" },
        { All, "commas", "commas@example.org local Command |/usr/bin/prog a,b | alice@example.org local" },
        { All, "both", "pipe@example.org local Command |/usr/local/bin/handler 'an arg' 'x\"y' $HOME;rm | file@example.org local File /srv/mail/file.mbox" },
        { "Files", "file", "file@example.org local File /srv/mail/file.mbox" },
        { "Commands", "pipe", "pipe@example.org local Command |/usr/local/bin/handler 'an arg' 'x\"y' $HOME;rm" },

        // Not allowed: the whole RCPT is refused, naming what the client asked for, never half delivered.
        { "None", "pipe", string.Format(null, NoCommand, "pipe@example.org") },
        { "None", "file", string.Format(null, NoFile, "file@example.org") },
        { "Files", "list", string.Format(null, NoCommand, "list@example.org") },
        { "Commands", "list", string.Format(null, NoFile, "list@example.org") },
        { "Files", "both", string.Format(null, NoCommand, "both@example.org") },

        // Unusable as written: a broken table, a temporary failure until it is fixed.
        { All, "relcmd", Broken },
        { All, "nocmd", Broken },
        { All, "relfile", Broken },
        { All, "dirfile", Broken },
        { All, "quote", Broken },

        // :include: of a file that is not there: a broken table, never the other values alone.
        { All, "include", Broken },
        { "None", "alice", "alice@example.org local" },
    };

    [Theory]
    [MemberData(nameof(AliasCases))]
    public async Task Aliases_file_targets_expand_only_where_the_action_allows_them(string permissions, string user, string expected)
    {
        var expander = Expander(AliasFile, TableFormat.Aliases, Enum.Parse<AliasTargetPermissions>(permissions));
        Assert.Equal(expected, await OutcomeAsync(expander, user + "@example.org"));
    }

    [Fact]
    public async Task Include_reads_its_file_at_expansion_like_an_alias_value()
    {
        var list = _dir.Combine("list");
        File.WriteAllText(list, "# the list\nbob, carol@remote.example\n\n  /srv/mail/list.mbox\n\"|/usr/bin/archive a,b\"\n");
        var loop = _dir.Combine("loop");
        File.WriteAllText(loop, $":include:{loop}\n");
        var big = _dir.Combine("big");
        File.WriteAllText(big, "alice\n" + new string('#', RecipientExpander.MaxIncludeSize));
        var stop = _dir.Combine("stop");
        File.WriteAllText(stop, "alice, error:550 5.1.1 gone\n");
        var aliases = $"""
            list:   :include:{list}, alice
            nested: ":include:{_dir.Combine("nested")}"
            loop:   :include:{loop}
            big:    :include:{big}
            stop:   :include:{stop}
            rel:    :include:list
            gone:   :include:{_dir.Combine("missing")}
            """;
        File.WriteAllText(_dir.Combine("nested"), "list\n");
        var expander = Expander(aliases, TableFormat.Aliases, AliasTargetPermissions.Files | AliasTargetPermissions.Commands);

        const string Expanded = "bob@example.org local | carol@remote.example relay | {0}@example.org local File /srv/mail/list.mbox | {0}@example.org local Command |/usr/bin/archive a,b | alice@example.org local";
        Assert.Equal(string.Format(null, Expanded, "list"), await OutcomeAsync(expander, "list@example.org"));
        Assert.Equal(string.Format(null, Expanded, "list"), await OutcomeAsync(expander, "nested@example.org"));
        Assert.Equal("550 5.1.1 gone", await OutcomeAsync(expander, "stop@example.org"));
        Assert.Equal("524 5.2.4 Mailing list expansion problem", await OutcomeAsync(expander, "loop@example.org"));
        foreach (var broken in new[] { "big", "rel", "gone" })
        {
            Assert.Equal(Broken, await OutcomeAsync(expander, broken + "@example.org"));
        }

        // Read at each expansion: an edit counts at once, without a table update.
        File.WriteAllText(list, "bob\n");
        Assert.Equal("bob@example.org local | alice@example.org local", await OutcomeAsync(expander, "list@example.org"));

        // The included file and command are the action's to allow.
        File.WriteAllText(list, "/srv/mail/list.mbox\n");
        var strict = Expander(aliases, TableFormat.Aliases, AliasTargetPermissions.Commands);
        Assert.Equal(string.Format(null, NoFile, "list@example.org"), await OutcomeAsync(strict, "list@example.org"));
    }

    [Fact]
    public async Task An_include_file_reached_many_times_is_read_once_per_expansion()
    {
        // chain1 includes chain2 four times, chain2 chain3 four times, ... chain5 names alice:
        // 1 + 4 + 16 + 64 + 256 reads without the visited check.
        const int Files = 5;
        for (var i = 1; i <= Files; i++)
        {
            var next = i == Files ? "alice" : string.Join(", ", Enumerable.Repeat($":include:{_dir.Combine($"chain{i + 1}")}", 4));
            File.WriteAllText(_dir.Combine($"chain{i}"), next + "\n");
        }

        var expander = Expander($"chain: :include:{_dir.Combine("chain1")}, :include:{_dir.Combine("chain1")}\n", TableFormat.Aliases, AliasTargetPermissions.None);
        var result = await expander.ExpandAsync(RuleRouterTests.Request(recipient: "chain@example.org"), default);
        Assert.Equal("alice@example.org local", string.Join(" | ", result.Recipients.Select(r => $"{r.Recipient.Address} {r.Action}")));

        // Each read of a file leaves one "…:include:path → values" line in the trace.
        for (var i = 1; i <= Files; i++)
        {
            var read = $":include:{_dir.Combine($"chain{i}")} →";
            Assert.Equal(1, result.Trace.Count(l => l.Contains(read, StringComparison.Ordinal)));
        }
    }

    public static TheoryData<string, string, string> VirtualCases => new()
    {
        { All, "pipe@example.org", "pipe@example.org local Command |/usr/bin/prog a,b | alice@example.org local" },
        { All, "file@example.org", "file@example.org local File /srv/mail/v.mbox | carol@example.org local" },

        // In a map value an unquoted command takes the rest of the value, commas included.
        { All, "last@example.org", "alice@example.org local | last@example.org local Command |/usr/bin/prog x, y" },
        { "Commands", "file@example.org", string.Format(null, NoFile, "file@example.org") },
    };

    [Theory]
    [MemberData(nameof(VirtualCases))]
    public async Task Virtual_map_targets_expand_the_same_way(string permissions, string recipient, string expected)
    {
        var expander = Expander(VirtualFile, TableFormat.Map, Enum.Parse<AliasTargetPermissions>(permissions));
        Assert.Equal(expected, await OutcomeAsync(expander, recipient));
    }

    [Fact]
    public async Task A_refusal_says_why_for_the_log_and_the_trace()
    {
        var expander = Expander(AliasFile, TableFormat.Aliases, AliasTargetPermissions.Files);
        var refused = await expander.ExpandAsync(RuleRouterTests.Request(recipient: "pipe@example.org"), default);
        Assert.Equal("alias 'pipe' → |/usr/local/bin/handler 'an arg' 'x\"y' $HOME;rm: action 'local' does not allow commands", refused.Problem);
        Assert.Contains(refused.Trace, l => l.Contains("does not allow commands (aliasTargets.commands: true)", StringComparison.Ordinal));

        var broken = await expander.ExpandAsync(RuleRouterTests.Request(recipient: "relcmd@example.org"), default);
        Assert.Equal("alias 'relcmd': '|bin/prog': 'bin/prog' is not an absolute program path", broken.Problem);

        var accepted = await expander.ExpandAsync(RuleRouterTests.Request(recipient: "file@example.org"), default);
        Assert.Null(accepted.Problem);
    }

    [Theory]
    [InlineData("/usr/bin/prog", new[] { "/usr/bin/prog" })]
    [InlineData("  /usr/bin/prog \t a   b  ", new[] { "/usr/bin/prog", "a", "b" })]
    [InlineData("/p 'a b' \"c d\"", new[] { "/p", "a b", "c d" })]
    [InlineData("/p 'it''s'", new[] { "/p", "its" })]
    [InlineData("/p 'a\\b' \"a\\b\" a\\b", new[] { "/p", "a\\b", "a\\b", "ab" })]
    [InlineData("/p \"say \\\"hi\\\" \\\\o/\"", new[] { "/p", "say \"hi\" \\o/" })]
    [InlineData("/p a\\ b x'y z'w", new[] { "/p", "a b", "xy zw" })]
    [InlineData("/p '' \"\"", new[] { "/p", "", "" })]
    [InlineData("/p $HOME `id` $(id) ; | > * ~", new[] { "/p", "$HOME", "`id`", "$(id)", ";", "|", ">", "*", "~" })]
    public void Command_lines_split_into_argv_by_the_documented_rules(string line, string[] expected)
    {
        Assert.True(CommandLine.TrySplit(line, out var argv, out var error), error);
        Assert.Equal(expected, argv);

        // A target prints as a command line that splits back to the same argv.
        var target = SmtpServer.Core.Queue.DeliveryTarget.Command(argv);
        Assert.True(CommandLine.TrySplit(target.ToString()[1..], out var again, out _));
        Assert.Equal(argv, again);
    }

    [Theory]
    [InlineData("", "empty command")]
    [InlineData("   ", "empty command")]
    [InlineData("/p 'open", "unterminated ' quote")]
    [InlineData("/p \"open", "unterminated \" quote")]
    [InlineData("/p \"open\\\"", "unterminated \" quote")]
    [InlineData("/p a\\", "trailing backslash")]
    public void Malformed_command_lines_are_refused(string line, string expected)
    {
        Assert.False(CommandLine.TrySplit(line, out _, out var error));
        Assert.Equal(expected, error);
    }

    [Theory]
    [InlineData("user", typeof(LocalUserTarget))]
    [InlineData("user@example.net", typeof(AddressTarget))]
    [InlineData("\"quoted user\"@example.net", typeof(AddressTarget))]
    [InlineData("/var/mail/x", typeof(FileTarget))]
    [InlineData("\"/var/mail/x\"", typeof(FileTarget))]
    [InlineData("|/bin/cat", typeof(CommandTarget))]
    [InlineData("\"|/bin/cat a,b\"", typeof(CommandTarget))]
    [InlineData("error:550 5.1.1 gone", typeof(ErrorTarget))]
    [InlineData(":include:/etc/list", typeof(IncludeTarget))]
    [InlineData("/var//mail", typeof(InvalidTarget))]
    [InlineData("/var/./mail", typeof(InvalidTarget))]
    [InlineData("|./prog", typeof(InvalidTarget))]
    [InlineData("|/usr/../bin/prog", typeof(InvalidTarget))]
    public void Values_parse_to_typed_targets(string value, Type expected)
    {
        Assert.IsType(expected, AliasTarget.Parse(value));
    }

    [Fact]
    public void Error_values_keep_their_reply()
    {
        Assert.Equal("550 5.1.6 Moved away, ask the sender", Assert.IsType<ErrorTarget>(AliasTarget.Parse("error:550 5.1.6 Moved away, ask the sender")).Reply!.ToString());
        Assert.Null(Assert.IsType<ErrorTarget>(AliasTarget.Parse("error:250 fine")).Reply);
    }
}
