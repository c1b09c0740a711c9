using System.Diagnostics;
using SmtpServer.Configuration;
using SmtpServer.Tests.Infrastructure;

namespace SmtpServer.Tests.Sockets;

/// <summary>
/// Real third-party clients against the real host (Kestrel's Interop.FunctionalTests idea):
/// openssl s_client, swaks and Python's smtplib. A missing tool fails the test; .ci/run installs them.
/// </summary>
public sealed class TlsInteropTests : IDisposable
{
    private readonly TlsFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private static string Require(string path)
    {
        Assert.True(File.Exists(path), $"{path} is missing: run .ci/run (it installs the interop peers: swaks, python3, openssl)");
        return path;
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(string file, IEnumerable<string> arguments, string input)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(input);
        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} did not finish: {await output}{await error}");
        }

        return (process.ExitCode, await output, await error);
    }

    /// <summary>openssl's own STARTTLS client: it sends EHLO and STARTTLS, shakes hands, then our commands go over TLS.</summary>
    [Fact]
    public async Task Openssl_s_client_starttls_handshakes_and_gets_an_ehlo_reply_under_tls()
    {
        var openssl = Require("/usr/bin/openssl");
        await using var server = await SocketSmtpServer.StartAsync(_fixture.Configure(l => l with { Tls = _fixture.Tls(), Auth = TlsFixture.Auth() }));
        var (_, output, error) = await RunAsync(openssl,
            ["s_client", "-starttls", "smtp", "-connect", $"127.0.0.1:{server.EndPoint.Port}", "-servername", TestSettings.Hostname, "-crlf", "-ign_eof"],
            "EHLO interop.example\nQUIT\n");
        var all = output + error;
        Assert.Matches(@"(New|Protocol).*TLSv1\.[23]", all);
        Assert.Contains($"CN={TestSettings.Hostname}", all.Replace(" = ", "=", StringComparison.Ordinal), StringComparison.Ordinal);

        // openssl swallows its own EHLO and STARTTLS exchange; what it prints is the reply to our
        // EHLO, sent after the handshake: AUTH is now offered and STARTTLS is not.
        Assert.Contains("250-mx.test.example Hello interop.example", output, StringComparison.Ordinal);
        Assert.Contains("250-AUTH PLAIN LOGIN", output, StringComparison.Ordinal);
        Assert.DoesNotContain("250-STARTTLS", output, StringComparison.Ordinal);
        Assert.Contains("221 2.0.0", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Openssl_s_client_implicit_tls()
    {
        var openssl = Require("/usr/bin/openssl");
        await using var server = await SocketSmtpServer.StartAsync(_fixture.Configure(l => l with { Tls = _fixture.Tls(TlsMode.Implicit) }));
        var (_, output, error) = await RunAsync(openssl,
            ["s_client", "-connect", $"127.0.0.1:{server.EndPoint.Port}", "-crlf", "-ign_eof"],
            "EHLO interop.example\nQUIT\n");
        Assert.Matches(@"(New|Protocol).*TLSv1\.[23]", output + error);
        Assert.Contains("220 " + TestSettings.Hostname, output, StringComparison.Ordinal);
        Assert.Contains("221 2.0.0", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Openssl_s_client_tls_1_1_is_refused_by_default()
    {
        var openssl = Require("/usr/bin/openssl");
        await using var server = await SocketSmtpServer.StartAsync(_fixture.Configure(l => l with { Tls = _fixture.Tls(TlsMode.Implicit) }));
        var (_, output, error) = await RunAsync(openssl,
            ["s_client", "-connect", $"127.0.0.1:{server.EndPoint.Port}", "-tls1_1", "-crlf"],
            "QUIT\n");
        Assert.DoesNotContain("220 " + TestSettings.Hostname, output, StringComparison.Ordinal);
        Assert.Contains("Cipher is (NONE)", output + error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Swaks_starttls_auth_plain_sends_a_message()
    {
        var swaks = Require("/usr/bin/swaks");
        await using var server = await SocketSmtpServer.StartAsync(_fixture.Configure(l => l with
        {
            Tls = _fixture.Tls(required: true),
            Auth = TlsFixture.Auth(AuthMode.Required),
        }));
        var (code, output, error) = await RunAsync(swaks,
            ["--server", "127.0.0.1", "--port", server.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
             "--tls", "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "alice-pw",
             "--from", "alice@example.com", "--to", "user@example.org", "--helo", "swaks.example", "--h-Subject", "swaks"],
            string.Empty);
        Assert.True(code == 0, output + error);
        Assert.Contains("235 2.7.0 Authentication successful", output, StringComparison.Ordinal);

        var stored = Assert.Single(server.Committed());
        Assert.Equal("alice", stored.Envelopes[0].AuthenticatedUser);
        Assert.True(stored.Envelopes[0].Tls);

        var (badCode, badOutput, _) = await RunAsync(swaks,
            ["--server", "127.0.0.1", "--port", server.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
             "--tls", "--auth", "LOGIN", "--auth-user", "alice", "--auth-password", "wrong",
             "--from", "alice@example.com", "--to", "user@example.org"],
            string.Empty);
        Assert.NotEqual(0, badCode);
        Assert.Contains("535 5.7.8", badOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Python_smtplib_starttls_and_login()
    {
        var python = Require("/usr/bin/python3");
        await using var server = await SocketSmtpServer.StartAsync(_fixture.Configure(l => l with
        {
            Tls = _fixture.Tls(required: true),
            Auth = TlsFixture.Auth(AuthMode.Required),
        }));
        var script = $$"""
            import smtplib, ssl
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            for user, password, mechanism in (("bob", "bob-pw", None), ("alice", "alice-pw", "LOGIN")):
                s = smtplib.SMTP("127.0.0.1", {{server.EndPoint.Port}}, timeout=10)
                s.ehlo("python.example")
                assert s.has_extn("starttls"), "STARTTLS not offered"
                assert not s.has_extn("auth"), "AUTH offered before TLS"
                s.starttls(context=ctx)
                s.ehlo("python.example")
                assert not s.has_extn("starttls"), "STARTTLS offered after TLS"
                if mechanism:
                    s.user, s.password = user, password
                    code, _ = s.auth(mechanism, s.auth_login)
                else:
                    code, _ = s.login(user, password)
                assert code == 235, code
                s.sendmail(user + "@example.com", ["user@example.org"], "Subject: python\r\n\r\nhello\r\n")
                s.quit()
            print("OK")
            """;
        var (code, output, error) = await RunAsync(python, ["-"], script);
        Assert.True(code == 0 && output.Contains("OK", StringComparison.Ordinal), output + error);

        var users = server.Committed().Select(m => m.Envelopes[0].AuthenticatedUser).Order().ToList();
        Assert.Equal(["alice", "bob"], users);
    }
}
