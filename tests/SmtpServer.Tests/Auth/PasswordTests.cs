using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using SmtpServer.Auth;
using SmtpServer.Testing;

namespace SmtpServer.Tests.Auth;

public sealed class PasswordTests
{
    // The test vectors of Drepper's specification (https://www.akkadia.org/drepper/SHA-crypt.txt),
    // also reproduced here with glibc crypt(3) and `openssl passwd -6`.
    [Theory]
    [InlineData("$6$saltstring", "Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1")]
    [InlineData("$6$rounds=10000$saltstringsaltstring", "Hello world!", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.")]
    [InlineData("$6$rounds=5000$toolongsaltstring", "This is just a test", "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0")]
    [InlineData("$6$rounds=1400$anotherlongsaltstring", "a very much longer text to encrypt.  This one even stretches over morethan one line.", "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1")]
    [InlineData("$6$rounds=77777$short", "we have a short salt string but not a short password", "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0")]
    [InlineData("$6$rounds=123456$asaltof16chars..", "a short string", "$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1")]
    [InlineData("$6$rounds=10$roundstoolow", "the minimum number is still observed", "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.")]
    public void Sha512_crypt_matches_the_specification_vectors(string setting, string password, string expected)
    {
        Assert.Equal(expected, Sha512Crypt.Crypt(password, setting));
        Assert.True(PasswordHash.Verify(password, expected));
        Assert.False(PasswordHash.Verify(password + "x", expected));
    }

    [Fact]
    public void A_new_hash_has_a_random_16_character_salt_and_verifies()
    {
        var a = Sha512Crypt.Hash("correct horse");
        var b = Sha512Crypt.Hash("correct horse");
        Assert.StartsWith("$6$", a, StringComparison.Ordinal);
        Assert.Equal(16, a.Split('$')[2].Length);
        Assert.NotEqual(a, b);
        Assert.True(PasswordHash.Verify("correct horse", a));
        Assert.False(PasswordHash.Verify("correct horsE", a));
    }

    [Theory]
    [InlineData("$2a$")]
    [InlineData("$2b$")]
    [InlineData("$2y$")]
    public void Bcrypt_hashes_verify(string prefix)
    {
        var hash = BCrypt.Net.BCrypt.HashPassword("s3cret", workFactor: 4);
        hash = prefix + hash[4..];
        Assert.True(PasswordHash.Verify("s3cret", hash));
        Assert.False(PasswordHash.Verify("s3creT", hash));
    }

    [Fact]
    public void Plain_text_or_unknown_hashes_never_match()
    {
        Assert.False(PasswordHash.Verify("secret", "secret"));
        Assert.False(PasswordHash.Verify("secret", "$1$abc$def"));
        Assert.False(PasswordHash.Verify("secret", "$2b$xx"));
    }

    [Fact]
    public void Credentials_table_reads_user_hash_lines_and_reloads_on_change()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("credentials");
        File.WriteAllText(path, $"# users\nalice:{Sha512Crypt.Hash("alice-pw")}\n\nbob {BCrypt.Net.BCrypt.HashPassword("bob-pw", 4)}\nbroken-line\ncarol:plaintext\n");
        var table = new CredentialTable(path, NullLogger.Instance);
        Assert.Equal("alice", table.Authenticate("alice", "alice-pw"));
        Assert.Equal("alice", table.Authenticate("ALICE", "alice-pw"));
        Assert.Null(table.Authenticate("alice", "bob-pw"));
        Assert.Equal("bob", table.Authenticate("bob", "bob-pw"));
        Assert.Null(table.Authenticate("carol", "plaintext"));
        Assert.Null(table.Authenticate("nobody", "alice-pw"));

        File.WriteAllText(path, $"dave:{Sha512Crypt.Hash("dave-pw")}\n");
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(1));
        Assert.Equal("dave", table.Authenticate("dave", "dave-pw"));
        Assert.Null(table.Authenticate("alice", "alice-pw"));
    }

    [Fact]
    public void Throttle_grows_the_delay_locks_out_and_forgets_after_the_window()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var throttle = new AuthThrottle(5, TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(15), time);
        var attacker = IPAddress.Parse("192.0.2.7");
        var delays = Enumerable.Range(0, 4).Select(_ => throttle.Fail(attacker)).ToList();
        Assert.Equal([0.5, 1.0, 1.5, 2.0], delays.Select(d => d.Delay.TotalSeconds));
        Assert.All(delays, d => Assert.False(d.LockedOut));
        Assert.True(throttle.Fail(attacker).LockedOut);
        Assert.NotNull(throttle.LockedUntil(attacker));
        Assert.NotNull(throttle.LockedUntil(IPAddress.Parse("::ffff:192.0.2.7")));
        Assert.Null(throttle.LockedUntil(IPAddress.Parse("192.0.2.8")));

        time.Advance(TimeSpan.FromMinutes(16));
        Assert.Null(throttle.LockedUntil(attacker));

        // Failures older than the window do not count.
        throttle.Fail(attacker);
        time.Advance(TimeSpan.FromMinutes(11));
        Assert.Equal(0.5, throttle.Fail(attacker).Delay.TotalSeconds);
    }

    [Fact]
    public async Task Encrypt_prints_a_sha512_crypt_hash_of_stdin()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.Equal(0, await Program.EncryptAsync(new StringReader("hunter2\n"), output, error, terminal: false));
        var hash = output.ToString().Trim();
        Assert.StartsWith("$6$", hash, StringComparison.Ordinal);
        Assert.True(PasswordHash.Verify("hunter2", hash));
        Assert.DoesNotContain("hunter2", output.ToString() + error, StringComparison.Ordinal);
        Assert.Equal(1, await Program.EncryptAsync(new StringReader(string.Empty), output, error, terminal: false));
    }
}
