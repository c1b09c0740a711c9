using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Time.Testing;
using SmtpServer.Core.Dns;

namespace SmtpServer.Core.Tests.Dns;

/// <summary>Forward-confirmed reverse DNS against a scripted resolver: what counts as a client's name, and what does not.</summary>
public sealed class ReverseDnsTests
{
    private static readonly IPAddress Client = IPAddress.Parse("192.0.2.7");
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    /// <summary>Answers from a script; records every query it was asked.</summary>
    private sealed class ScriptedResolver : IDnsResolver
    {
        public Dictionary<string, DnsAnswer<string>> Ptr { get; } = [];

        public Dictionary<(string Host, AddressFamily Family), DnsAnswer<IPAddress>> Addresses { get; } = [];

        public List<string> Queries { get; } = [];

        /// <summary>When set, every query waits for it (and ignores cancellation, as a stuck resolver might).</summary>
        public Task? Stall { get; init; }

        /// <summary>What the hosts file says, by address.</summary>
        public Dictionary<string, string> Hosts { get; } = [];

        public string? HostsName(IPAddress address) => Hosts.TryGetValue(address.ToString(), out var name) ? name : null;

        public async Task<DnsAnswer<string>> ReverseAsync(IPAddress address, CancellationToken cancellationToken)
        {
            Queries.Add("PTR " + address);
            if (Stall is not null)
            {
                await Stall;
            }

            return Ptr.TryGetValue(address.ToString(), out var answer) ? answer : new DnsAnswer<string>(DnsStatus.NotFound, [], "NotExistentDomain");
        }

        public async Task<DnsAnswer<IPAddress>> AddressesAsync(string host, AddressFamily family, CancellationToken cancellationToken)
        {
            Queries.Add((family == AddressFamily.InterNetworkV6 ? "AAAA " : "A ") + host);
            if (Stall is not null)
            {
                await Stall;
            }

            return Addresses.TryGetValue((host, family), out var answer) ? answer : new DnsAnswer<IPAddress>(DnsStatus.NotFound, [], "NotExistentDomain");
        }
    }

    private static DnsAnswer<string> Names(params string[] names) => new(DnsStatus.Ok, names);

    private static DnsAnswer<IPAddress> Addresses(params string[] addresses) => new(DnsStatus.Ok, [.. addresses.Select(IPAddress.Parse)]);

    private static Task<ReverseDnsResult> LookupAsync(IDnsResolver dns, IPAddress? client = null)
        => ReverseDns.LookupAsync(dns, client ?? Client, Bound, TimeProvider.System, CancellationToken.None);

    [Fact]
    public async Task A_ptr_name_that_resolves_back_to_the_client_is_confirmed()
    {
        var dns = new ScriptedResolver();
        dns.Ptr["192.0.2.7"] = Names("mail.example.org.");
        dns.Addresses[("mail.example.org", AddressFamily.InterNetwork)] = Addresses("198.51.100.1", "192.0.2.7");

        var result = await LookupAsync(dns);
        Assert.Equal(new ReverseDnsResult(ReverseDnsStatus.Confirmed, "mail.example.org"), result);
        Assert.Equal(["PTR 192.0.2.7", "A mail.example.org"], dns.Queries);
    }

    [Fact]
    public async Task The_hosts_file_answers_before_dns_and_is_trusted_as_it_stands()
    {
        var dns = new ScriptedResolver();
        dns.Hosts["192.0.2.7"] = "relay.lan";
        dns.Ptr["192.0.2.7"] = Names("other.example.org");

        Assert.Equal(new ReverseDnsResult(ReverseDnsStatus.Confirmed, "relay.lan"), await LookupAsync(dns));
        Assert.Empty(dns.Queries);
    }

    [Fact]
    public async Task A_ptr_name_whose_addresses_do_not_include_the_client_is_not_trusted()
    {
        var dns = new ScriptedResolver();
        dns.Ptr["192.0.2.7"] = Names("mail.bank.example");
        dns.Addresses[("mail.bank.example", AddressFamily.InterNetwork)] = Addresses("203.0.113.9");

        var result = await LookupAsync(dns);
        Assert.Equal(ReverseDnsStatus.Unconfirmed, result.Status);
        Assert.Null(result.Name);
        Assert.Equal("mail.bank.example", result.Unconfirmed);
    }

    [Fact]
    public async Task A_ptr_name_that_does_not_exist_forward_is_not_trusted()
    {
        var dns = new ScriptedResolver();
        dns.Ptr["192.0.2.7"] = Names("stale.example.org");

        var result = await LookupAsync(dns);
        Assert.Equal(ReverseDnsStatus.Unconfirmed, result.Status);
        Assert.Null(result.Name);
    }

    [Fact]
    public async Task No_ptr_record_is_no_name()
    {
        var dns = new ScriptedResolver();
        Assert.Equal(ReverseDnsResult.NoName, await LookupAsync(dns));

        // NODATA (the name exists, no PTR) is the same.
        dns.Ptr["192.0.2.7"] = Names();
        Assert.Equal(ReverseDnsResult.NoName, await LookupAsync(dns));
        Assert.Equal(["PTR 192.0.2.7", "PTR 192.0.2.7"], dns.Queries);
    }

    [Fact]
    public async Task A_failing_ptr_lookup_is_a_temporary_failure_without_a_name()
    {
        var dns = new ScriptedResolver();
        dns.Ptr["192.0.2.7"] = new DnsAnswer<string>(DnsStatus.TemporaryFailure, [], "ServerFailure");

        var result = await LookupAsync(dns);
        Assert.Equal(new ReverseDnsResult(ReverseDnsStatus.TemporaryFailure, Error: "ServerFailure"), result);
        Assert.Single(dns.Queries);
    }

    [Fact]
    public async Task A_failing_forward_lookup_is_a_temporary_failure_without_a_name()
    {
        var dns = new ScriptedResolver();
        dns.Ptr["192.0.2.7"] = Names("mail.example.org");
        dns.Addresses[("mail.example.org", AddressFamily.InterNetwork)] = new DnsAnswer<IPAddress>(DnsStatus.TemporaryFailure, [], "ConnectionTimeout");

        var result = await LookupAsync(dns);
        Assert.Equal(new ReverseDnsResult(ReverseDnsStatus.TemporaryFailure, Unconfirmed: "mail.example.org", Error: "ConnectionTimeout"), result);
    }

    [Fact]
    public async Task A_resolver_that_never_answers_is_cut_off_at_the_bound()
    {
        var never = new TaskCompletionSource();
        var dns = new ScriptedResolver { Stall = never.Task };
        var time = new FakeTimeProvider();

        var lookup = ReverseDns.LookupAsync(dns, Client, Bound, time, CancellationToken.None);
        time.Advance(Bound - TimeSpan.FromMilliseconds(1));
        Assert.False(lookup.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(ReverseDnsResult.TimedOut, await lookup.WaitAsync(TimeSpan.FromSeconds(10)));
        never.SetResult();
    }

    [Fact]
    public async Task The_session_going_away_cancels_the_lookup()
    {
        var dns = new ScriptedResolver { Stall = new TaskCompletionSource().Task };
        using var closed = new CancellationTokenSource();
        var lookup = ReverseDns.LookupAsync(dns, Client, Bound, TimeProvider.System, closed.Token);
        await closed.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => lookup.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Of_several_ptr_names_the_first_that_is_confirmed_wins()
    {
        var dns = new ScriptedResolver();
        dns.Ptr["192.0.2.7"] = Names("forged.bank.example", "host-7.isp.example", "mail.example.org");
        dns.Addresses[("forged.bank.example", AddressFamily.InterNetwork)] = Addresses("203.0.113.9");
        dns.Addresses[("host-7.isp.example", AddressFamily.InterNetwork)] = Addresses("192.0.2.7");
        dns.Addresses[("mail.example.org", AddressFamily.InterNetwork)] = Addresses("192.0.2.7");

        var result = await LookupAsync(dns);
        Assert.Equal(new ReverseDnsResult(ReverseDnsStatus.Confirmed, "host-7.isp.example"), result);
        Assert.Equal(["PTR 192.0.2.7", "A forged.bank.example", "A host-7.isp.example"], dns.Queries);
    }

    [Fact]
    public async Task At_most_ten_ptr_names_are_checked()
    {
        var dns = new ScriptedResolver();
        var names = Enumerable.Range(1, 12).Select(i => $"n{i}.example.org").ToArray();
        dns.Ptr["192.0.2.7"] = Names(names);
        dns.Addresses[("n11.example.org", AddressFamily.InterNetwork)] = Addresses("192.0.2.7");

        var result = await LookupAsync(dns);
        Assert.Equal(ReverseDnsStatus.Unconfirmed, result.Status);
        Assert.Equal(1 + ReverseDns.MaxNames, dns.Queries.Count);
    }

    [Theory]
    [InlineData("evil.example\r\nX-Injected: yes")]
    [InlineData("name with spaces.example")]
    [InlineData("(comment).example")]
    [InlineData("-bad-.example")]
    public async Task A_ptr_name_that_is_not_a_host_name_is_never_used(string name)
    {
        var dns = new ScriptedResolver();
        dns.Ptr["192.0.2.7"] = Names(name);
        dns.Addresses[(name, AddressFamily.InterNetwork)] = Addresses("192.0.2.7");

        Assert.Equal(ReverseDnsResult.NoName, await LookupAsync(dns));
        Assert.Equal(["PTR 192.0.2.7"], dns.Queries);
    }

    [Fact]
    public async Task An_ipv6_client_is_confirmed_by_aaaa_records()
    {
        var client = IPAddress.Parse("2001:db8::25");
        var dns = new ScriptedResolver();
        dns.Ptr["2001:db8::25"] = Names("mx6.example.org");
        dns.Addresses[("mx6.example.org", AddressFamily.InterNetworkV6)] = Addresses("2001:db8::25");

        Assert.Equal("mx6.example.org", (await LookupAsync(dns, client)).Name);
        Assert.Equal(["PTR 2001:db8::25", "AAAA mx6.example.org"], dns.Queries);
    }

    [Fact]
    public async Task An_ipv4_client_on_a_dual_stack_listener_is_looked_up_as_ipv4()
    {
        var dns = new ScriptedResolver();
        dns.Ptr["192.0.2.7"] = Names("mail.example.org");
        dns.Addresses[("mail.example.org", AddressFamily.InterNetwork)] = Addresses("192.0.2.7");

        Assert.Equal("mail.example.org", (await LookupAsync(dns, Client.MapToIPv6())).Name);
    }
}
