using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using SmtpServer.Testing;

namespace SmtpServer.Delivery.Tests;

/// <summary>
/// A real Dovecot LMTP server (dovecot-lmtpd), started from a config in a temp directory and
/// killed at the end. Dovecot refuses to deliver as uid 0, so when the tests run as root the
/// mailboxes belong to nobody (65534) under a world-writable mail root, while Dovecot's own
/// processes run as root (default_internal_user/default_login_user); as another user
/// everything runs as that user.
/// </summary>
public sealed class DovecotFixture : IAsyncLifetime
{
    public const string Binary = "/usr/sbin/dovecot";

    /// <summary>The users Dovecot knows (passwd-file); any other local part is "User doesn't exist".</summary>
    public static readonly string[] Users = ["alice", "bob", "dave", "erin", "frank", "grace", "heidi"];

    private readonly TempDirectory _dir = new("dovecot-test");
    private Process? _process;

    public int Port { get; private set; }

    public string TcpAddress => $"127.0.0.1:{Port}";

    public string SocketPath => _dir.Combine("run", "lmtp");

    public string MailRoot => _dir.Combine("mail");

    public string LogPath => _dir.Combine("dovecot.log");

    public string ConfigText { get; private set; } = string.Empty;

    public async Task InitializeAsync()
    {
        if (!File.Exists(Binary))
        {
            throw new InvalidOperationException($"{Binary} is missing: apt-get install dovecot-core dovecot-lmtpd (.ci/run installs them).");
        }

        var uid = await RunAsync("id", "-u");
        var gid = await RunAsync("id", "-g");
        var userName = await RunAsync("id", "-un");
        var groupName = await RunAsync("id", "-gn");
        var root = uid == "0";
        var mailUid = root ? "65534" : uid;
        var mailGid = root ? "65534" : gid;

        Directory.CreateDirectory(_dir.Combine("run"));
        Directory.CreateDirectory(_dir.Combine("state"));
        Directory.CreateDirectory(MailRoot);
        File.SetUnixFileMode(MailRoot, (UnixFileMode)0x1FF); // 0777: the mail user may not be us
        File.WriteAllLines(_dir.Combine("users"), Users.Select(u => $"{u}:{{PLAIN}}unused::::::"));

        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            Port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        ConfigText = $$"""
            protocols = lmtp
            base_dir = {{_dir.Combine("run")}}
            state_dir = {{_dir.Combine("state")}}
            log_path = {{LogPath}}
            info_log_path = {{LogPath}}
            ssl = no
            default_internal_user = {{userName}}
            default_internal_group = {{groupName}}
            default_login_user = {{userName}}
            first_valid_uid = 1
            first_valid_gid = 1
            mail_location = maildir:{{MailRoot}}/%n/Maildir
            recipient_delimiter = +
            lmtp_save_to_detail_mailbox = yes
            auth_username_format = %n
            service lmtp {
              inet_listener lmtp {
                address = 127.0.0.1
                port = {{Port}}
              }
              unix_listener lmtp {
                mode = 0666
              }
            }
            passdb {
              driver = passwd-file
              args = {{_dir.Combine("users")}}
            }
            userdb {
              driver = passwd-file
              args = {{_dir.Combine("users")}}
              default_fields = uid={{mailUid}} gid={{mailGid}} home={{MailRoot}}/%n
            }
            """;
        var config = _dir.Combine("dovecot.conf");
        await File.WriteAllTextAsync(config, ConfigText);

        _process = Process.Start(new ProcessStartInfo(Binary, ["-F", "-c", config])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        _ = _process.StandardOutput.ReadToEndAsync();
        var stderr = _process.StandardError.ReadToEndAsync();

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"dovecot exited with {_process.ExitCode}: {await stderr} {ReadLog()}");
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port);
                break;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }
    }

    public async Task DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
        _dir.Dispose();
    }

    public string ReadLog() => File.Exists(LogPath) ? File.ReadAllText(LogPath) : string.Empty;

    /// <summary>Sessions Dovecot has accepted so far (its "Connect from" log lines).</summary>
    public int ConnectionCount() => ReadLog().Split('\n').Count(l => l.Contains(": Info: Connect from", StringComparison.Ordinal));

    /// <summary>The messages in a user's INBOX (or a folder) new/, oldest first.</summary>
    public string[] Messages(string user, string? folder = null)
    {
        var dir = Path.Combine(MailRoot, user, "Maildir", folder is null ? "new" : Path.Combine("." + folder, "new"));
        return Directory.Exists(dir)
            ? [.. Directory.GetFiles(dir).OrderBy(f => double.Parse(Path.GetFileName(f).Split(".M")[0], CultureInfo.InvariantCulture)).ThenBy(f => f, StringComparer.Ordinal).Select(File.ReadAllText)]
            : [];
    }

    private static async Task<string> RunAsync(string program, string arg)
    {
        using var process = Process.Start(new ProcessStartInfo(program, [arg]) { RedirectStandardOutput = true })!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return output.Trim();
    }
}

[CollectionDefinition(Name)]
public sealed class DovecotCollection : ICollectionFixture<DovecotFixture>
{
    public const string Name = "dovecot";
}
