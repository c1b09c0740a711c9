using System.Net;
using SmtpServer.Core.Routing;
using SmtpServer.Protocol;

namespace SmtpServer.Core.Tests.Routing;

public sealed class RuleRouterTests
{
    private static readonly LocalDestinationCondition LocalNames =
        new(["mx.example.org", "Submission.Example.Net."], [IPAddress.Parse("192.0.2.25")]);

    internal static RoutingRequest Request(string? client = "203.0.113.9", string recipient = "user@example.org", string? authUser = null)
    {
        var at = recipient.LastIndexOf('@');
        var mailbox = at < 0 ? new Mailbox(recipient, string.Empty) : new Mailbox(recipient[..at], recipient[(at + 1)..]);
        return new RoutingRequest
        {
            ClientAddress = client is null ? null : IPAddress.Parse(client),
            Listener = "mx",
            Sender = new Mailbox("sender", "example.net"),
            Recipient = mailbox,
            AuthenticatedUser = authUser,
        };
    }

    private static bool Matches(IRuleCondition condition, RoutingRequest request)
    {
        var result = condition.MatchesAsync(request, CancellationToken.None);
        Assert.True(result.IsCompletedSuccessfully, "static conditions answer synchronously");
        return result.Result;
    }

    private static StaticListTable List(params string[] values) => new("inline", values);

    [Fact]
    public void Any_matches_everything()
    {
        Assert.True(Matches(AnyCondition.Instance, Request()));
        Assert.True(Matches(AnyCondition.Instance, Request(client: null, recipient: "postmaster")));
        Assert.False(Matches(new NotCondition(AnyCondition.Instance), Request()));
    }

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("127.255.0.3", true)]
    [InlineData("::1", true)]
    [InlineData("::ffff:127.0.0.1", true)]
    [InlineData(null, true)] // local Unix socket
    [InlineData("10.0.0.1", false)]
    [InlineData("::2", false)]
    [InlineData("::ffff:10.0.0.1", false)]
    public void From_local_is_loopback_or_socket(string? client, bool expected)
    {
        Assert.Equal(expected, Matches(LocalSourceCondition.Instance, Request(client)));
        Assert.Equal(!expected, Matches(new NotCondition(LocalSourceCondition.Instance), Request(client)));
    }

    [Theory]
    [InlineData("192.0.2.0/24", "192.0.2.77", true)]
    [InlineData("192.0.2.0/24", "192.0.3.1", false)]
    [InlineData("192.0.2.0/24", "::ffff:192.0.2.77", true)] // dual-stack client
    [InlineData("0.0.0.0/0", "198.51.100.1", true)]
    [InlineData("0.0.0.0/0", "2001:db8::1", false)]
    [InlineData("::/0", "2001:db8::1", true)]
    [InlineData("192.0.2.7/32", "192.0.2.7", true)]
    [InlineData("192.0.2.7/32", "192.0.2.8", false)]
    [InlineData("192.0.2.7", "192.0.2.7", true)] // plain address
    [InlineData("2001:db8::/32", "2001:db8:ffff::1", true)]
    [InlineData("2001:db8::/32", "2001:db9::1", false)]
    [InlineData("2001:db8::1/128", "2001:db8::1", true)]
    [InlineData("2001:db8::1/128", "2001:db8::2", false)]
    [InlineData("2001:db8::1", "2001:db8::1", true)]
    [InlineData("::ffff:192.0.2.0/120", "192.0.2.9", true)] // mapped network, plain v4 client
    public void From_src_matches_networks(string network, string client, bool expected)
    {
        var condition = new SourceCondition(List(network));
        Assert.Equal(expected, Matches(condition, Request(client)));
        Assert.Equal(!expected, Matches(new NotCondition(condition), Request(client)));
    }

    [Fact]
    public void From_src_never_matches_the_unix_socket()
    {
        Assert.False(Matches(new SourceCondition(List("0.0.0.0/0", "::/0")), Request(client: null)));
    }

    [Theory]
    [InlineData("192.0.2.1/24", false, "did you mean 192.0.2.0/24")]
    [InlineData("192.0.2.0/33", false, "prefix length")]
    [InlineData("example.org", false, "not an IP address")]
    [InlineData("fe80::1%eth0", false, "not an IP address")]
    [InlineData("[2001:db8::]/32", true, null)]
    [InlineData("10.0.0.0/8", true, null)]
    public void Network_parsing_reports_mistakes(string text, bool ok, string? error)
    {
        Assert.Equal(ok, NetworkAddress.TryParseNetwork(text, out _, out var message));
        if (error is not null)
        {
            Assert.Contains(error, message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("user@localhost", true)]
    [InlineData("user@LOCALHOST.", true)]
    [InlineData("user@mx.example.org", true)]
    [InlineData("user@submission.example.net", true)]
    [InlineData("postmaster", true)]
    [InlineData("user@[127.0.0.1]", true)]
    [InlineData("user@[IPv6:::1]", true)]
    [InlineData("user@[192.0.2.25]", true)]
    [InlineData("user@[192.0.2.26]", false)]
    [InlineData("user@example.org", false)]
    [InlineData("user@sub.mx.example.org", false)]
    public void For_local_matches_this_hosts_names(string recipient, bool expected)
    {
        Assert.Equal(expected, Matches(LocalNames, Request(recipient: recipient)));
        Assert.Equal(!expected, Matches(new NotCondition(LocalNames), Request(recipient: recipient)));
    }

    [Theory]
    [InlineData("user@example.org", true)]
    [InlineData("user@EXAMPLE.org.", true)]
    [InlineData("user@other.org", false)]
    [InlineData("user@a.example.net", true)]
    [InlineData("user@a.b.example.net", true)]
    [InlineData("user@example.net", false)] // wildcard matches subdomains only
    [InlineData("user@badexample.net", false)]
    [InlineData("user@bücher.example", true)] // IDN in the request, A-label in the table
    [InlineData("user@xn--mnchen-3ya.example", true)] // A-label in the request, U-label in the table
    [InlineData("user@[192.0.2.1]", false)]
    [InlineData("postmaster", false)]
    public void For_domain_matches_exact_wildcard_and_idn(string recipient, bool expected)
    {
        var condition = new DomainCondition(List("example.org", "*.example.net", "xn--bcher-kva.example", "München.example"));
        Assert.Equal(expected, Matches(condition, Request(recipient: recipient)));
        Assert.Equal(!expected, Matches(new NotCondition(condition), Request(recipient: recipient)));
    }

    [Theory]
    [InlineData(null, true, false)]
    [InlineData("alice", true, true)]
    [InlineData(null, false, true)]
    [InlineData("alice", false, false)]
    public void Auth_true_and_false(string? user, bool required, bool expected)
    {
        Assert.Equal(expected, Matches(new AuthCondition(required), Request(authUser: user)));
    }

    [Fact]
    public void Auth_with_a_user_list()
    {
        var condition = new AuthCondition(List("alice", "bob"));
        Assert.True(Matches(condition, Request(authUser: "Alice")));
        Assert.False(Matches(condition, Request(authUser: "carol")));
        Assert.False(Matches(condition, Request(authUser: null)));
    }

    [Fact]
    public async Task First_match_wins()
    {
        var router = new RuleRouter(
        [
            Rule.Deliver(LocalSourceCondition.Instance, AnyCondition.Instance, "outbound"),
            Rule.Deliver(AnyCondition.Instance, new DomainCondition(List("example.org")), "local"),
            Rule.Deliver(AnyCondition.Instance, AnyCondition.Instance, "catchall"),
        ]);

        Assert.Equal("outbound", (await router.RouteAsync(Request("127.0.0.1"), default)).Action);
        Assert.Equal("local", (await router.RouteAsync(Request("203.0.113.1"), default)).Action);
        Assert.Equal("catchall", (await router.RouteAsync(Request("203.0.113.1", "x@other.net"), default)).Action);
    }

    [Fact]
    public async Task Reject_rule_and_no_match_give_550_invalid_recipient()
    {
        var router = new RuleRouter(
        [
            Rule.Reject(new SourceCondition(List("198.51.100.0/24")), AnyCondition.Instance),
            Rule.Deliver(AnyCondition.Instance, new DomainCondition(List("example.org")), "local"),
        ]);

        var rejected = await router.RouteAsync(Request("198.51.100.5"), default);
        Assert.False(rejected.Accepted);
        Assert.Equal("550 5.7.1 Invalid recipient: <user@example.org>", rejected.Reject!.ToString());

        var unmatched = await router.RouteAsync(Request("203.0.113.1", "x@relay.test"), default);
        Assert.False(unmatched.Accepted);
        Assert.Equal("550 5.7.1 Invalid recipient: <x@relay.test>", unmatched.Reject!.ToString());

        Assert.Equal("local", (await router.RouteAsync(Request("203.0.113.1"), default)).Action);
    }

    [Fact]
    public async Task Reject_rule_with_a_custom_reply()
    {
        var reply = new SmtpReply(550, "5.7.1", "Relaying denied");
        var router = new RuleRouter([Rule.Reject(AnyCondition.Instance, AnyCondition.Instance, reply)]);
        Assert.Same(reply, (await router.RouteAsync(Request(), default)).Reject);
    }

    [Fact]
    public async Task Empty_rule_list_rejects()
    {
        var decision = await new RuleRouter([]).RouteAsync(Request(), default);
        Assert.Equal(550, decision.Reject!.Code);
    }

    [Fact]
    public async Task Asynchronous_conditions_are_awaited_in_order()
    {
        var router = new RuleRouter(
        [
            Rule.Deliver(new DelayedCondition(false), AnyCondition.Instance, "first"),
            Rule.Deliver(AnyCondition.Instance, new DelayedCondition(true), "second"),
            Rule.Deliver(AnyCondition.Instance, AnyCondition.Instance, "third"),
        ]);

        Assert.Equal("second", (await router.RouteAsync(Request(), default)).Action);
        Assert.False((await new NotCondition(new DelayedCondition(true)).MatchesAsync(Request(), default)));
    }

    private sealed class DelayedCondition(bool result) : IRuleCondition
    {
        public async ValueTask<bool> MatchesAsync(RoutingRequest request, CancellationToken cancellationToken)
        {
            await Task.Yield();
            return result;
        }
    }
}
