using System.Net;
using System.Net.Sockets;
using SmtpServer.Core.Dns;
using SmtpServer.Testing;

namespace SmtpServer.Core.Tests.Dns;

/// <summary>hosts(5) as reverse lookups read it, from files on disk; and the real resolver asking it before DNS.</summary>
public sealed class HostsFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Write(string text, string name = "hosts")
    {
        var path = _dir.Combine(name);
        File.WriteAllText(path, text);
        return path;
    }

    [Theory]
    [InlineData("127.0.0.1", "localhost")]
    [InlineData("::1", "localhost")]
    [InlineData("::ffff:127.0.0.1", "localhost")]
    [InlineData("10.0.0.5", "relay.lan")]
    [InlineData("10.0.0.6", null)] // a comment, not an entry
    [InlineData("10.0.0.7", null)] // no name
    [InlineData("10.0.0.8", null)] // not a host name
    [InlineData("10.0.0.9", "mx.lan")]
    [InlineData("192.0.2.1", null)]
    public void The_first_name_of_an_address_is_its_name(string address, string? expected)
    {
        var hosts = new HostsFile(Write("""
            # comment
            127.0.0.1	localhost  vm
            127.0.0.1 second.example
            ::1 localhost ip6-localhost
            10.0.0.5 relay.lan relay # trailing comment
            #10.0.0.6 commented.lan
            10.0.0.7
            10.0.0.8 bad_name!
            not-an-address name.lan
            10.0.0.9 mx.lan.
            """));
        Assert.Equal(expected, hosts.NameOf(IPAddress.Parse(address)));
    }

    [Fact]
    public void An_edited_file_is_read_again_a_missing_or_huge_one_answers_nothing()
    {
        var path = Write("10.0.0.5 one.lan\n");
        var hosts = new HostsFile(path);
        Assert.Equal("one.lan", hosts.NameOf(IPAddress.Parse("10.0.0.5")));

        File.WriteAllText(path, "10.0.0.5 two.lan # longer than before\n");
        Assert.Equal("two.lan", hosts.NameOf(IPAddress.Parse("10.0.0.5")));

        File.Delete(path);
        Assert.Null(hosts.NameOf(IPAddress.Parse("10.0.0.5")));

        File.WriteAllText(path, "10.0.0.5 three.lan\n" + new string('#', (int)HostsFile.MaxLength));
        Assert.Null(hosts.NameOf(IPAddress.Parse("10.0.0.5")));
    }

    [Fact]
    public async Task The_real_resolver_asks_the_hosts_file_first_and_sends_no_query()
    {
        using var silent = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var dns = new DnsResolver([(IPEndPoint)silent.Client.LocalEndPoint!], hostsPath: Write("127.0.0.9 box.lan\n"));

        var result = await ReverseDns.LookupAsync(dns, IPAddress.Parse("127.0.0.9"), TimeSpan.FromSeconds(5), TimeProvider.System, CancellationToken.None);
        Assert.Equal(new ReverseDnsResult(ReverseDnsStatus.Confirmed, "box.lan"), result);
        Assert.Equal(0, silent.Available);

        // Not listed: DNS is asked (and the silent server lets the bound end it).
        var unlisted = await ReverseDns.LookupAsync(dns, IPAddress.Parse("127.0.0.10"), TimeSpan.FromSeconds(1), TimeProvider.System, CancellationToken.None);
        Assert.Equal(ReverseDnsStatus.TimedOut, unlisted.Status);
        Assert.True(silent.Available > 0, "no PTR query reached the DNS server");
    }

    [Fact]
    public async Task A_lost_answer_costs_one_short_try_not_the_whole_bound()
    {
        // A DNS server that drops the first query (as UDP under a burst may) and answers the
        // next NXDOMAIN. With one 5 s try the 4 s bound would end the lookup with no answer.
        using var server = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var queries = 0;
        var serving = Task.Run(async () =>
        {
            while (true)
            {
                var query = await server.ReceiveAsync();
                if (++queries == 1)
                {
                    continue;
                }

                var answer = query.Buffer.ToArray();
                answer[2] |= 0x80; // QR: a response
                answer[3] = 0x83;  // RA, RCODE 3 (NXDOMAIN)
                await server.SendAsync(answer, query.RemoteEndPoint);
                return;
            }
        });
        var dns = new DnsResolver([(IPEndPoint)server.Client.LocalEndPoint!], hostsPath: null);

        var result = await ReverseDns.LookupAsync(dns, IPAddress.Parse("127.0.0.10"), TimeSpan.FromSeconds(4), TimeProvider.System, CancellationToken.None);
        Assert.Equal(ReverseDnsStatus.NoName, result.Status);
        Assert.Equal(2, queries);
        await serving.WaitAsync(TimeSpan.FromSeconds(5));
    }
}
