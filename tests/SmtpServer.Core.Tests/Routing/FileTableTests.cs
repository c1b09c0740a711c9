using System.Net;
using SmtpServer.Core.Routing;
using SmtpServer.Testing;

namespace SmtpServer.Core.Tests.Routing;

/// <summary>Every file format, parsed from disk, and OpenSMTPD's matching semantics.</summary>
public sealed class FileTableTests : IDisposable
{
    private readonly TempDirectory _directory = new("smtpd-tables");

    public void Dispose() => _directory.Dispose();

    private static T Sync<T>(ValueTask<T> pending)
    {
        Assert.True(pending.IsCompletedSuccessfully);
        return pending.Result;
    }

    private FileTable Write(string text, TableFormat format, string name = "t")
    {
        var path = _directory.Combine(name);
        File.WriteAllText(path, text);
        return new FileTable(name, path, format);
    }

    [Theory]
    [InlineData("example.org", true)]
    [InlineData("EXAMPLE.ORG.", true)]
    [InlineData("mail.example.net", true)]
    [InlineData("a.b.example.net", true)]
    [InlineData("example.net", false)] // *.example.net is below it only
    [InlineData("example.com", false)]
    [InlineData("bücher.example", true)]
    public void List_format_matches_domains_exactly_or_by_wildcard(string domain, bool expected)
    {
        var table = Write("# domains\nexample.org\n\n*.example.net\nxn--bcher-kva.example\n", TableFormat.List);
        Assert.Equal(expected, Sync(table.MatchDomainAsync(domain, default)));
    }

    [Theory]
    [InlineData("bob@example.org", "bob@example.org", true)]
    [InlineData("BOB@Example.ORG", "bob@example.org", true)]
    [InlineData("bob+tag@example.org", "bob@example.org", true)] // the tag is ignored...
    [InlineData("bob+tag@example.org", "bob+tag@example.org", true)]
    [InlineData("bob+other@example.org", "bob+tag@example.org", false)] // ...unless the key has one
    [InlineData("bob@example.org", "bob+tag@example.org", false)]
    [InlineData("bob@example.net", "bob", true)] // user: any domain
    [InlineData("alice@example.net", "bob", false)]
    [InlineData("anyone@example.org", "@example.org", true)]
    [InlineData("anyone@sub.example.org", "@example.org", false)]
    [InlineData("bob@sub.example.org", "bob@*.example.org", true)]
    [InlineData("eve@sub.example.org", "bob@*.example.org", false)]
    [InlineData("anyone@anywhere.example", "@", true)]
    public void Mail_addresses_match_as_mailaddr_match(string address, string key, bool expected)
    {
        var table = Write(key + "\n", TableFormat.List);
        Assert.Equal(expected, Sync(table.MatchMailAddressAsync(address, default)));
    }

    [Fact]
    public void Map_format_takes_key_value_and_key_colon_value()
    {
        var table = Write("alice alice@example.org\nBob: bob@example.org, @example.net\n# c: d\nsmarthost\tuser:password\nbroken\n", TableFormat.Map);
        Assert.Equal(["alice@example.org"], Sync(table.LookupAsync("alice", default))!.Values);
        Assert.Equal(["bob@example.org, @example.net"], Sync(table.LookupAsync("BOB", default))!.Values);
        Assert.Equal(["user:password"], Sync(table.LookupAsync("smarthost", default))!.Values);
        Assert.Null(Sync(table.LookupAsync("c", default)));
        Assert.True(Sync(table.MatchKeyAsync("Alice", default)));
        Assert.Equal(5, Assert.Single(table.Problems).Line);
    }

    [Fact]
    public void Aliases_format_follows_aliases5()
    {
        var table = Write(
            "# aliases\nPostmaster: root\nroot: alice, bob@example.net,\n  \"|/usr/bin/vacation alice\", carol\nabuse: error:550 5.7.1 No abuse here\nnobody:\n",
            TableFormat.Aliases);
        Assert.Equal(["root"], Sync(table.LookupAsync("postmaster", default))!.Values);
        Assert.Equal(["alice", "bob@example.net", "|/usr/bin/vacation alice", "carol"], Sync(table.LookupAsync("root", default))!.Values);
        Assert.Equal(["error:550 5.7.1 No abuse here"], Sync(table.LookupAsync("abuse", default))!.Values);
        Assert.Null(Sync(table.LookupAsync("nobody", default)));
        Assert.Single(table.Problems);
    }

    [Fact]
    public void Credentials_format_is_user_colon_hash()
    {
        var table = Write("alice:$6$salt$hash\nbob $2b$04$abcdefghijklmnopqrstuv\n", TableFormat.Credentials);
        Assert.Equal("$6$salt$hash", Sync(table.LookupAsync("ALICE", default))!.Values[0]);
        Assert.Equal("alice", Sync(table.LookupAsync("ALICE", default))!.Key);
        Assert.Equal("$2b$04$abcdefghijklmnopqrstuv", Sync(table.LookupAsync("bob", default))!.Values[0]);
    }

    [Theory]
    [InlineData("192.0.2.7", true)]
    [InlineData("::ffff:192.0.2.7", true)]
    [InlineData("198.51.100.1", true)]
    [InlineData("198.51.100.2", false)]
    [InlineData("2001:db8::1", true)]
    [InlineData("2001:db9::1", false)]
    public void Netaddr_format_holds_networks(string client, bool expected)
    {
        var table = Write("192.0.2.0/24\n198.51.100.1\n[2001:db8::]/32\nnot-an-address\n", TableFormat.Netaddr);
        Assert.Equal(expected, Sync(table.MatchAddressAsync(IPAddress.Parse(client), default)));
        Assert.Equal(4, Assert.Single(table.Problems).Line);
    }

    [Fact]
    public void A_changed_file_is_read_again()
    {
        var table = Write("example.org\n", TableFormat.List);
        Assert.True(Sync(table.MatchDomainAsync("example.org", default)));
        File.WriteAllText(table.Path, "example.net\n");
        File.SetLastWriteTimeUtc(table.Path, DateTime.UtcNow.AddSeconds(5));
        Assert.False(Sync(table.MatchDomainAsync("example.org", default)));
        Assert.True(Sync(table.MatchDomainAsync("example.net", default)));
    }

    [Fact]
    public void A_missing_or_unreadable_file_is_a_temporary_failure_never_an_answer()
    {
        var table = Write("example.org\n", TableFormat.List);
        Assert.True(Sync(table.MatchDomainAsync("example.org", default)));
        File.Delete(table.Path);
        Assert.Throws<TableUnavailableException>(() => Sync(table.MatchDomainAsync("example.org", default)));
        Assert.Throws<TableUnavailableException>(() => new FileTable("x", _directory.Combine("absent"), TableFormat.Map).LookupAsync("a", default));
    }

    [Fact]
    public void Inline_lists_accept_regular_expressions()
    {
        var table = new StaticListTable("inline", ["~ ^(?i)abuse@", "~\"\\.example\\.com$\""]);
        Assert.True(Sync(table.MatchMailAddressAsync("ABUSE@example.org", default)));
        Assert.True(Sync(table.MatchDomainAsync("mx.example.com", default)));
        Assert.False(Sync(table.MatchDomainAsync("example.org", default)));
    }
}
