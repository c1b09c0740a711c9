using SmtpServer.Core.Routing;
using SmtpServer.Protocol;

namespace SmtpServer.Core.Tests.Routing;

/// <summary>The conditions the routing issue added, each negatable, and alias/virtual expansion.</summary>
public sealed class ConditionAndExpansionTests
{
    private static RoutingRequest Request(string recipient = "user@example.org", string? sender = "alice@example.net", string? helo = "mail.example.net", bool tls = false, string? rdns = null)
    {
        var request = RuleRouterTests.Request(recipient: recipient);
        var at = sender?.LastIndexOf('@') ?? -1;
        return request with
        {
            Sender = sender is null ? null : new Mailbox(sender[..at], sender[(at + 1)..]),
            Helo = helo,
            Tls = tls,
            ClientHostName = rdns,
        };
    }

    private static async Task<bool> BothWays(IRuleCondition condition, RoutingRequest request)
    {
        var matched = await condition.MatchesAsync(request, default);
        Assert.Equal(!matched, await new NotCondition(condition).MatchesAsync(request, default));
        return matched;
    }

    private static StaticListTable List(params string[] values) => new("inline", values);

    public static TheoryData<string, string, bool> Conditions => new()
    {
        { "mailFrom", "alice@example.net", true },
        { "mailFrom", "ALICE+news@Example.NET", true },
        { "mailFrom", "bob@example.net", false },
        { "mailFrom", "<>", true },
        { "rcptTo", "user@example.org", true },
        { "rcptTo", "other@example.org", false },
        { "helo", "mail.example.net", true },
        { "helo", "evil.example", false },
        { "tls", "true", true },
        { "tls", "false", false },
        { "rdns", "host.example.net", true },
        { "rdns", "", false },
        { "regex", "abuse@example.org", true },
        { "regex", "user@example.org", false },
    };

    [Theory]
    [MemberData(nameof(Conditions))]
    public async Task Each_condition_matches_and_negates(string kind, string value, bool expected)
    {
        var (condition, request) = kind switch
        {
            "mailFrom" => ((IRuleCondition)new MailFromCondition(List("alice@example.net", "<>")), Request(sender: value == "<>" ? null : value)),
            "rcptTo" => (new RcptToCondition(List("user@example.org")), Request(recipient: value)),
            "helo" => (new HeloCondition(List("*.example.net")), Request(helo: value)),
            "tls" => (new TlsCondition(true), Request(tls: bool.Parse(value))),
            "rdns" => (new RdnsCondition(List("*.example.net")), Request(rdns: value.Length == 0 ? null : value)),
            _ => (new RcptToCondition(List("~ ^(?i)(abuse|postmaster)@")), Request(recipient: value)),
        };
        Assert.Equal(expected, await BothWays(condition, request));
    }

    /// <summary>
    /// <c>rdns: true</c> is any confirmed name; a list or table matches it as a domain, <c>~ regex</c>
    /// entries by regular expression (OpenSMTPD's <c>from rdns regex</c>). No name never matches.
    /// </summary>
    [Theory]
    [InlineData(null, "mail.client.test", true)]
    [InlineData(null, null, false)]
    [InlineData("~ ^relay[0-9]+\\.client\\.test$", "relay12.client.test", true)]
    [InlineData("~ ^relay[0-9]+\\.client\\.test$", "relay12.client.test.evil.example", false)]
    [InlineData("~ ^relay[0-9]+\\.client\\.test$", "relay.client.test", false)]
    [InlineData("~ ^relay[0-9]+\\.client\\.test$", null, false)]
    [InlineData("~ (?i)^RELAY", "relay1.client.test", true)]
    [InlineData("~ ^RELAY", "relay1.client.test", false)]
    [InlineData("*.client.test", "a.relay.client.test", true)]
    [InlineData("*.client.test", "Relay.Client.Test.", true)]
    [InlineData("*.client.test", "client.test", false)]
    public async Task Rdns_true_a_name_or_a_regex_matches_the_confirmed_name_and_negates(string? entry, string? name, bool expected)
    {
        var condition = new RdnsCondition(entry is null ? null : List(entry));
        Assert.Equal(expected, await BothWays(condition, Request(rdns: name)));
        Assert.Equal(entry is null ? "rdns" : "rdns inline", condition.ToString());
    }

    [Fact]
    public async Task Rdns_after_a_failed_lookup_is_a_temporary_failure_never_an_answer_either_way()
    {
        var failed = Request() with { ReverseLookupFailed = true };
        await Assert.ThrowsAsync<ReverseDnsUnavailableException>(async () => await new RdnsCondition(null).MatchesAsync(failed, default));
        await Assert.ThrowsAsync<ReverseDnsUnavailableException>(async () => await new NotCondition(new RdnsCondition(List("*.client.test"))).MatchesAsync(failed, default));

        // A rule before it that matches decides first; rules that do not ask are not affected.
        var rules = new RuleRouter(
        [
            Rule.Deliver(AnyCondition.Instance, new DomainCondition(List("example.org")), "local"),
            Rule.Deliver(new RdnsCondition(null), AnyCondition.Instance, "relay"),
        ]);
        Assert.Equal("local", (await rules.RouteAsync(failed, default)).Action);
        await Assert.ThrowsAsync<ReverseDnsUnavailableException>(async () => await rules.RouteAsync(failed with { Recipient = new Mailbox("x", "remote.example") }, default));
    }

    [Fact]
    public async Task Expanded_addresses_are_routed_as_local_without_the_client_name()
    {
        // Like from local in OpenSMTPD: an alias's targets are not the client's mail any more.
        var rules = new RuleRouter(
        [
            Rule.Deliver(AnyCondition.Instance, new DomainCondition(List("example.org")), "local"),
            Rule.Deliver(new RdnsCondition(null), AnyCondition.Instance, "relay"),
        ]);
        var table = StaticListTable.Map("virtual", [("list@example.org", (IReadOnlyList<string>)["x@remote.example"])]);
        var expander = new RecipientExpander(rules, new Dictionary<string, ActionExpansion> { ["local"] = new() { Virtual = table } });

        Assert.True((await expander.ExpandAsync(Request(recipient: "x@remote.example", rdns: "mail.client.test"), default)).Accepted);
        Assert.False((await expander.ExpandAsync(Request(recipient: "list@example.org", rdns: "mail.client.test"), default)).Accepted);
    }

    [Theory]
    [InlineData(null, "relay.client.test", true)]
    [InlineData(null, "", false)]
    [InlineData("relay.client.test", "relay.client.test", true)]
    [InlineData("relay.client.test", "Relay.Client.TEST.", true)]
    [InlineData("relay.client.test", "Relay Client|relay.client.test", true)]
    [InlineData("relay.client.test", "other.client.test", false)]
    [InlineData("*.client.test", "a.b.client.test", true)]
    [InlineData("*.client.test", "client.test", false)]
    [InlineData("relay.client.test", "", false)]
    public async Task Client_certificate_matches_its_cn_or_dns_names_and_negates(string? entry, string names, bool expected)
    {
        var condition = new ClientCertificateCondition(entry is null ? null : List(entry));
        var request = Request() with { Tls = true, ClientCertificateNames = names.Length == 0 ? [] : names.Split('|') };
        Assert.Equal(expected, await BothWays(condition, request));
        Assert.Equal(entry is null ? "clientCert" : "clientCert inline", condition.ToString());
    }

    [Fact]
    public async Task Expanded_addresses_keep_the_client_certificate_names()
    {
        var rules = new RuleRouter(
        [
            Rule.Deliver(AnyCondition.Instance, new DomainCondition(List("example.org")), "local"),
            Rule.Deliver(new ClientCertificateCondition(List("relay.client.test")), AnyCondition.Instance, "relay"),
        ]);
        var table = StaticListTable.Map("virtual", [("list@example.org", (IReadOnlyList<string>)["x@remote.example"])]);
        var expander = new RecipientExpander(rules, new Dictionary<string, ActionExpansion> { ["local"] = new() { Virtual = table } });

        var verified = await expander.ExpandAsync(Request(recipient: "list@example.org") with { ClientCertificateNames = ["relay.client.test"] }, default);
        Assert.Equal("x@remote.example relay", Assert.Single(verified.Recipients) is var r ? $"{r.Recipient.Address} {r.Action}" : null);
        Assert.False((await expander.ExpandAsync(Request(recipient: "list@example.org"), default)).Accepted);
    }

    private static readonly RuleRouter Rules = new(
    [
        Rule.Deliver(AnyCondition.Instance, new DomainCondition(List("example.org", "example.com")), "local"),
        Rule.Deliver(LocalSourceCondition.Instance, AnyCondition.Instance, "relay"),
    ]);

    private static RecipientExpander Expander(params (string Key, string[] Values)[] entries)
    {
        var table = StaticListTable.Map("virtual", entries.Select(e => (e.Key, (IReadOnlyList<string>)e.Values)));
        return new RecipientExpander(Rules, new Dictionary<string, ActionExpansion> { ["local"] = new() { Virtual = table } });
    }

    [Fact]
    public async Task Virtual_keys_are_tried_user_at_domain_then_user_then_at_domain_then_catch_all()
    {
        var expander = Expander(
            ("a@example.org", ["first"]), ("a", ["second"]), ("b", ["second"]), ("@example.org", ["third"]), ("@", ["fourth"]));
        async Task<string> One(string rcpt) => Assert.Single((await expander.ExpandAsync(Request(recipient: rcpt), default)).Recipients).Recipient.LocalPart;
        Assert.Equal("first", await One("a@example.org"));
        Assert.Equal("first", await One("a+tag@example.org"));
        Assert.Equal("second", await One("b@example.org"));
        Assert.Equal("third", await One("c@example.org"));
        Assert.Equal("fourth", await One("c@example.com"));
    }

    [Fact]
    public async Task Expansion_is_recursive_deduplicated_relays_remote_addresses_and_is_depth_limited()
    {
        var expander = Expander(
            ("list@example.org", ["a@example.org", "b@example.org", "a@example.org", "x@remote.example"]),
            ("a@example.org", ["alice"]),
            ("b@example.org", ["alice", "bob"]));
        var result = await expander.ExpandAsync(Request(recipient: "list@example.org"), default);
        Assert.Equal(
            ["alice@example.org local", "bob@example.org local", "x@remote.example relay"],
            result.Recipients.Select(r => $"{r.Recipient.Address} {r.Action}"));

        var chain = Enumerable.Range(0, 12).Select(i => ($"l{i}@example.org", new[] { $"l{i + 1}@example.org" })).ToArray();
        var deep = await Expander(chain).ExpandAsync(Request(recipient: "l0@example.org"), default);
        Assert.Equal(RecipientExpander.ExpansionProblem, deep.Reject);

        var unknown = await Expander(("a@example.org", ["alice"])).ExpandAsync(Request(recipient: "zed@example.org"), default);
        Assert.Equal(550, unknown.Reject!.Code);
        Assert.Equal("5.1.1", unknown.Reject.Status);
    }

    [Fact]
    public async Task Aliases_follow_local_users_and_error_values_reply_their_code()
    {
        var aliases = StaticListTable.Map("aliases",
        [
            ("postmaster", ["root"]), ("root", ["alice", "root"]), ("gone", ["error:421 4.7.0 Try later"]), ("pipe", ["|/bin/sh", "alice"]),
        ]);
        var users = new StaticListTable("users", ["alice", "root", "bob"]);
        var expander = new RecipientExpander(Rules, new Dictionary<string, ActionExpansion> { ["local"] = new() { Aliases = aliases, Users = users } });
        var post = await expander.ExpandAsync(Request(recipient: "postmaster@example.org"), default);
        Assert.Equal(["alice@example.org", "root@example.org"], post.Recipients.Select(r => r.Recipient.Address));
        Assert.Equal("bob@example.org", Assert.Single((await expander.ExpandAsync(Request(recipient: "bob@example.org"), default)).Recipients).Recipient.Address);
        Assert.Equal("421 4.7.0 Try later", (await expander.ExpandAsync(Request(recipient: "gone@example.org"), default)).Reject!.ToString());
        // A command the action does not allow refuses the whole RCPT (it used to be skipped silently).
        Assert.Equal("550 5.7.1 Invalid recipient: <pipe@example.org>: delivery to a command is not allowed", (await expander.ExpandAsync(Request(recipient: "pipe@example.org"), default)).Reject!.ToString());
        Assert.Equal(550, (await expander.ExpandAsync(Request(recipient: "eve@example.org"), default)).Reject!.Code);
    }
}
