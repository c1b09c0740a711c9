using System.Net;
using SmtpServer.Configuration;
using SmtpServer.Core.Routing;
using SmtpServer.Protocol;
using SmtpServer.Tests.Infrastructure;

namespace SmtpServer.Tests.Configuration;

public sealed class ConfigLoaderTests : IDisposable
{
    private static readonly Dictionary<string, string> NoEnvironment = [];
    private readonly string _directory = Directory.CreateTempSubdirectory("smtpd-config-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    internal static string RepositoryFile(string relative)
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "SmtpServer.sln")))
        {
            directory = directory.Parent;
        }

        Assert.NotNull(directory);
        return Path.Combine(directory.FullName, relative);
    }

    private string Write(string yaml, string extension = ".yaml")
    {
        var path = Path.Combine(_directory, "smtpd" + extension);
        File.WriteAllText(path, yaml);
        return path;
    }

    private const string Minimal = """
        server: { hostname: mx.test }
        listeners: [ { name: mx, address: "127.0.0.1:2525" } ]
        actions: { local: { maildir: { path: ./mail } } }
        rules: [ { from: any, for: local, action: local } ]
        """;

    private ConfigLoadResult LoadYaml(string yaml, IReadOnlyDictionary<string, string>? env = null)
        => ConfigLoader.Load(Write(yaml), env ?? NoEnvironment);

    private IReadOnlyList<string> Errors(string yaml) => [.. LoadYaml(yaml).Errors.Select(e => e.ToString())];

    private static RoutingRequest Request(string? client, string recipient, string? user = null)
    {
        var at = recipient.LastIndexOf('@');
        return new RoutingRequest
        {
            ClientAddress = client is null ? null : IPAddress.Parse(client),
            Listener = "mx",
            Sender = null,
            Recipient = at < 0 ? new Mailbox(recipient, string.Empty) : new Mailbox(recipient[..at], recipient[(at + 1)..]),
            AuthenticatedUser = user,
        };
    }

    [Fact]
    public async Task Default_yaml_loads_with_documented_defaults()
    {
        var result = ConfigLoader.Load(RepositoryFile("config/smtpd.yaml"), NoEnvironment);
        Assert.True(result.Errors.Count == 0, string.Join("\n", result.Errors));
        Assert.True(result.Success);
        var s = result.Settings!;

        Assert.Equal(36_700_160, s.Limits.MaxMessageSize);
        Assert.Equal(1000, s.Limits.MaxRecipients);
        Assert.Equal(100, s.Limits.MaxMessagesPerSession);
        Assert.Equal(20, s.Limits.MaxErrorsPerSession);
        Assert.Equal(1000, s.MaxSessions);
        Assert.Equal(50, s.MaxSessionsPerClient);
        Assert.Equal(TimeSpan.FromSeconds(300), s.Limits.IdleTimeout);
        Assert.Equal(4096, s.Limits.MaxCommandLineLength);
        Assert.Equal(12288, s.Limits.MaxAuthLineLength);
        Assert.Equal(65536, s.Limits.MaxTextLineLength);
        Assert.Equal(1024 * 1024, s.Limits.MaxHeaderSize);
        Assert.Equal(BareLineEndingPolicy.Reject, s.Limits.BareLineEndings);
        Assert.Equal(TimeSpan.FromSeconds(30), s.ShutdownTimeout);
        Assert.Equal(TimeSpan.FromDays(4), s.Queue.Expire);
        Assert.Equal([TimeSpan.FromHours(4)], s.Queue.DelayWarnings);
        Assert.Equal(Path.GetFullPath("./var/queue"), s.Queue.Path);
        Assert.False(string.IsNullOrEmpty(s.Hostname));

        var listener = Assert.Single(s.Listeners);
        Assert.Equal("mx", listener.Name);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 2525), listener.EndPoint);
        Assert.Null(listener.Tls);
        Assert.Null(listener.Auth);

        Assert.Equal(["local", "outbound"], s.Actions.Order());
        var maildir = Assert.IsType<MaildirAgentSettings>(s.ActionDefinitions["local"].Agent);
        Assert.Equal(Path.GetFullPath("./var/mail/{user}/Maildir"), maildir.Path);
        Assert.Equal(new RelayAgentSettings(null, null), s.ActionDefinitions["outbound"].Agent);

        Assert.Equal("local", (await s.Router.RouteAsync(Request("203.0.113.1", "bob@localhost"), default)).Action);
        Assert.Equal("local", (await s.Router.RouteAsync(Request("203.0.113.1", $"bob@{s.Hostname}"), default)).Action);
        Assert.Equal("outbound", (await s.Router.RouteAsync(Request("127.0.0.1", "bob@example.org"), default)).Action);
        var denied = await s.Router.RouteAsync(Request("203.0.113.1", "bob@example.org"), default);
        Assert.Equal("550 5.7.1 Invalid recipient: <bob@example.org>", denied.Reject!.ToString());
    }

    [Fact]
    public void Yaml_and_json_defaults_are_equal()
    {
        var yaml = ConfigLoader.Load(RepositoryFile("config/smtpd.yaml"), NoEnvironment);
        var json = ConfigLoader.Load(RepositoryFile("config/smtpd.json"), NoEnvironment);
        Assert.True(yaml.Errors.Count == 0, string.Join("\n", yaml.Errors));
        Assert.True(json.Errors.Count == 0, string.Join("\n", json.Errors));
        var y = yaml.Settings!;
        var j = json.Settings!;
        Assert.Equal(y.Hostname, j.Hostname);
        Assert.Equal(y.Limits, j.Limits);
        Assert.Equal(y.MaxSessions, j.MaxSessions);
        Assert.Equal(y.MaxSessionsPerClient, j.MaxSessionsPerClient);
        Assert.Equal(y.Queue.Path, j.Queue.Path);
        Assert.Equal(y.Queue.Expire, j.Queue.Expire);
        Assert.Equal(y.Queue.DelayWarnings, j.Queue.DelayWarnings);
        Assert.Equal(y.Listeners, j.Listeners);
        Assert.Equal(y.Logging, j.Logging);
        Assert.Equal(y.ActionDefinitions.OrderBy(a => a.Key), j.ActionDefinitions.OrderBy(a => a.Key));
        Assert.Equal(
            ((RuleRouter)y.Router).Rules.Select(r => r.ToString()),
            ((RuleRouter)j.Router).Rules.Select(r => r.ToString()));
    }

    [Fact]
    public async Task Example_yaml_loads()
    {
        var result = ConfigLoader.Load(RepositoryFile("config/smtpd.example.yaml"), NoEnvironment);
        Assert.True(result.Errors.Count == 0, string.Join("\n", result.Errors));
        var s = result.Settings!;
        Assert.Equal("mx.example.org", s.Hostname);
        Assert.Equal(3, s.Listeners.Count);
        Assert.Equal(IPAddress.IPv6Any, s.Listeners[0].EndPoint.Address);
        Assert.Equal(new ListenerAuthSettings { Mode = AuthMode.Required, CredentialsTable = "users" }, s.Listeners[1].Auth);
        Assert.Equal(new Uri("smtp+tls://smtp.provider.net:587"), ((RelayAgentSettings)s.ActionDefinitions["smarthost"].Agent).Host);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 8025), s.Admin.HttpEndPoint);
        Assert.Equal(5, s.Queue.MinFreeSpacePercent);
        Assert.Equal(LogFormat.Json, s.Logging.Format);

        var router = s.Router;
        Assert.Equal("550 5.7.1 Go away", (await router.RouteAsync(Request("198.51.100.7", "a@example.org"), default)).Reject!.ToString());
        Assert.Equal("local", (await router.RouteAsync(Request("203.0.113.1", "a@sub.example.org"), default)).Action);
        Assert.Equal("smarthost", (await router.RouteAsync(Request("192.0.2.9", "a@gmail.test"), default)).Action);
        Assert.Equal("outbound", (await router.RouteAsync(Request("203.0.113.1", "a@gmail.test", user: "alice"), default)).Action);
        Assert.False((await router.RouteAsync(Request("203.0.113.1", "a@gmail.test"), default)).Accepted);
    }

    [Fact]
    public void Environment_overrides_the_file()
    {
        var env = new Dictionary<string, string>
        {
            ["SMTPD_SERVER__LIMITS__MAXRECIPIENTS"] = "10",
            ["SMTPD_LISTENERS__0__ADDRESS"] = "[::1]:2626",
            ["smtpd_queue__expire"] = "2d",
            ["SMTPD_ACTIONS__LOCAL__MAILDIR__PATH"] = "/srv/mail/{user}",
            ["OTHER_SERVER__HOSTNAME"] = "ignored.test",
            ["SMTPD_CONFIG"] = "/etc/smtpd/smtpd.yaml", // names the file (deploy/Dockerfile), not a key
        };
        var result = ConfigLoader.Load(RepositoryFile("config/smtpd.yaml"), env);
        Assert.True(result.Errors.Count == 0, string.Join("\n", result.Errors));
        var s = result.Settings!;
        Assert.Equal(10, s.Limits.MaxRecipients);
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, 2626), s.Listeners[0].EndPoint);
        Assert.Equal("mx", s.Listeners[0].Name);
        Assert.Equal(TimeSpan.FromDays(2), s.Queue.Expire);
        Assert.Equal("/srv/mail/{user}", ((MaildirAgentSettings)s.ActionDefinitions["local"].Agent).Path);
        Assert.Equal(["local", "outbound"], s.ActionDefinitions.Keys.Order());
    }

    [Fact]
    public void Reverse_lookup_is_on_by_default_and_dns_keys_are_read()
    {
        var defaults = LoadYaml(Minimal).Settings!;
        Assert.True(defaults.ReverseLookup);
        Assert.Equal(TimeSpan.FromSeconds(5), defaults.ReverseLookupTimeout);
        Assert.Empty(defaults.DnsServers);

        var result = LoadYaml(Minimal + "\ndns: { servers: [127.0.0.53, '127.0.0.1:5353'], reverseLookup: false, reverseLookupTimeout: 1500ms }\n");
        Assert.True(result.Errors.Count == 0, string.Join("\n", result.Errors));
        var s = result.Settings!;
        Assert.False(s.ReverseLookup);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), s.ReverseLookupTimeout);
        Assert.Equal([new IPEndPoint(IPAddress.Parse("127.0.0.53"), 53), new IPEndPoint(IPAddress.Loopback, 5353)], s.DnsServers);
    }

    [Theory]
    [InlineData("dns: { reverseLookup: sometimes }", "dns.reverseLookup: 'sometimes' is not true or false")]
    [InlineData("dns: { reverseLookupTimeout: 0s }", "dns.reverseLookupTimeout: '0s' must be longer than zero")]
    [InlineData("dns: { reverseLookupTimeout: 2m }", "dns.reverseLookupTimeout: '2m' is too long (at most 60s; a few seconds is usual)")]
    [InlineData("dns: { reverseLookups: false }", "dns.reverseLookups: unknown key (did you mean 'reverseLookup'?)")]
    [InlineData("dns: { servers: [dns.example] }", "dns.servers[0]: 'dns.example' is not a DNS server (ip, ip:port or [ipv6]:port)")]
    public void Dns_problems(string dns, string expected)
    {
        Assert.Contains(expected, Errors(Minimal + "\n" + dns + "\n"));
    }

    [Fact]
    public void Masquerade_is_read_next_to_senders()
    {
        var yaml = Minimal.Replace(
            "listeners: [ { name: mx, address: \"127.0.0.1:2525\" } ]",
            """
            tables: { users: { type: file, path: ./creds, format: credentials }, owners: { type: file, path: ./owners, format: map } }
            listeners:
              - { name: sub, address: "127.0.0.1:587", auth: { mode: required, credentials: users, allowPlaintext: true }, senders: owners, masquerade: true }
              - { name: mx, address: "127.0.0.1:2525" }
            """,
            StringComparison.Ordinal);
        var result = LoadYaml(yaml);
        Assert.True(result.Errors.Count == 0, string.Join("\n", result.Errors));
        Assert.True(result.Settings!.Listeners[0].Masquerade);
        Assert.NotNull(result.Settings.Listeners[0].Senders);
        Assert.False(result.Settings.Listeners[1].Masquerade);
    }

    [Fact]
    public void Delivery_concurrency_limits_are_read_and_checked()
    {
        var result = LoadYaml(Minimal.Replace("maildir: { path: ./mail } }", "maildir: { path: ./mail }, maxDeliveries: 3 }", StringComparison.Ordinal)
            + "\nqueue: { maxDeliveries: 7 }\n");
        Assert.True(result.Errors.Count == 0, string.Join("\n", result.Errors));
        Assert.Equal(7, result.Settings!.Queue.MaxDeliveries);
        Assert.Equal(3, result.Settings.ActionDefinitions["local"].MaxDeliveries);

        var defaults = LoadYaml(Minimal).Settings!;
        Assert.Equal(100, defaults.Queue.MaxDeliveries);
        Assert.Equal(10, defaults.ActionDefinitions["local"].MaxDeliveries);

        Assert.Equal(
            ["actions.local.maxDeliveries: 0 is too small (at least 1)", "queue.maxDeliveries: 'many' is not a whole number"],
            Errors(Minimal.Replace("maildir: { path: ./mail } }", "maildir: { path: ./mail }, maxDeliveries: 0 }", StringComparison.Ordinal)
                + "\nqueue: { maxDeliveries: many }\n").Order());
    }

    [Fact]
    public void Environment_errors_name_the_key_in_camel_case()
    {
        var env = new Dictionary<string, string> { ["SMTPD_SERVER__LIMITS__MAXRECIPIENTS"] = "-3" };
        var errors = ConfigLoader.Load(RepositoryFile("config/smtpd.yaml"), env).Errors;
        Assert.True(errors.Count == 1, string.Join("\n", errors));
        var error = errors[0];
        Assert.Equal("server.limits.maxRecipients: -3 is too small (at least 1)", error.ToString());
    }

    [Fact]
    public void Process_environment_is_the_default()
    {
        // Not set in this process: the call must still work and use the file.
        var result = ConfigLoader.Load(RepositoryFile("config/smtpd.yaml"));
        Assert.True(result.Success, string.Join("\n", result.Errors));
    }

    [Fact]
    public void Minimal_file_uses_defaults()
    {
        var result = LoadYaml(Minimal);
        Assert.True(result.Errors.Count == 0, string.Join("\n", result.Errors));
        Assert.Equal("mx.test", result.Settings!.Hostname);
        Assert.Equal(new SessionLimits(), result.Settings.Limits);
        Assert.Contains("mx.test", result.Settings.LocalNames);
    }

    [Theory]
    [InlineData("server: { limits: { maxRecipents: 10 } }", "server.limits.maxRecipents: unknown key (did you mean 'maxRecipients'?)")]
    [InlineData("sever: { hostname: a }", "sever: unknown key (did you mean 'server'?)")]
    [InlineData("server: { limits: { maxMessageSize: 35XB } }", "server.limits.maxMessageSize: '35XB' is not a size (use e.g. 35MiB)")]
    [InlineData("server: { limits: { maxMessageSize: -5MiB } }", "server.limits.maxMessageSize: '-5MiB' is negative; sizes must be at least 1 bytes")]
    [InlineData("server: { limits: { maxRecipients: many } }", "server.limits.maxRecipients: 'many' is not a whole number")]
    [InlineData("server: { limits: { maxRecipients: 0 } }", "server.limits.maxRecipients: 0 is too small (at least 1)")]
    [InlineData("server: { limits: { maxSessions: -1 } }", "server.limits.maxSessions: -1 is too small (at least 1)")]
    [InlineData("server: { limits: { idleTimeout: 300 } }", "server.limits.idleTimeout: '300' is not a duration (use e.g. 300s, 5m, 4h, 4d, 500ms)")]
    [InlineData("server: { limits: { idleTimeout: 0s } }", "server.limits.idleTimeout: '0s' must be longer than zero")]
    [InlineData("server: { limits: { maxCommandLine: 100 } }", "server.limits.maxCommandLine: '100' is out of range (512 to 2147483647 bytes)")]
    [InlineData("server: { limits: 5 }", "server.limits: expected a section, not the value '5'")]
    [InlineData("server: { hostname: [a, b] }", "server.hostname: expected a value, not a list")]
    [InlineData("server: { hostname: 'bad host!' }", "server.hostname: 'bad host!' is not a host name (letters, digits, '-' and '.', e.g. mx.example.org)")]
    [InlineData("server: { smtp: { bareLineEndings: fix } }", "server.smtp.bareLineEndings: 'fix' is not one of reject, normalize")]
    [InlineData("logging: { format: xml }", "logging.format: 'xml' is not one of text, json")]
    [InlineData("logging: { level: loud }", "logging.level: 'loud' is not one of verbose, trace, debug, information, info, warning, warn, error, fatal")]
    [InlineData("queue: { expire: forever }", "queue.expire: 'forever' is not a duration (use e.g. 300s, 5m, 4h, 4d, 500ms)")]
    [InlineData("queue: { delayWarnings: [4h, 5d] }", "queue.delayWarnings[1]: '5d' is not shorter than queue.expire; the message expires first")]
    [InlineData("queue: { minFreeSpace: 120% }", "queue.minFreeSpace: '120%' is not a percentage from 0 to 99 (e.g. 5%)")]
    [InlineData("admin: { http: 'localhost:8025' }", "admin.http: 'localhost:8025' is not a valid address (write 127.0.0.1 or [::1]; host names are not resolved)")]
    public void Each_problem_names_its_key(string extra, string expected)
    {
        var errors = Errors(Minimal.Replace("server: { hostname: mx.test }", string.Empty, StringComparison.Ordinal) + "\n" + extra);
        Assert.Contains(expected, errors);
    }

    [Theory]
    [InlineData("listeners: [ { name: mx, address: '127.0.0.1' } ]", "listeners[0].address: '127.0.0.1' is not an address with a port (use ip:port, [ipv6]:port or *:port, e.g. 127.0.0.1:2525)")]
    [InlineData("listeners: [ { name: mx, address: '::1:25' } ]", "listeners[0].address: '::1:25' is not a valid address (use ip:port, [ipv6]:port or *:port)")]
    [InlineData("listeners: [ { name: mx, address: '127.0.0.1:70000' } ]", "listeners[0].address: '127.0.0.1:70000' is not an address with a port (use ip:port, [ipv6]:port or *:port, e.g. 127.0.0.1:2525)")]
    [InlineData("listeners: [ { address: '127.0.0.1:25' } ]", "listeners[0].name: is required")]
    [InlineData("listeners: [ { name: a, address: '127.0.0.1:25' }, { name: A, address: '127.0.0.1:26' } ]", "listeners[1].name: duplicate listener name 'A' (also listeners[0])")]
    [InlineData("listeners: [ { name: a, address: '127.0.0.1:25' }, { name: b, address: '127.0.0.1:25' } ]", "listeners[1].address: '127.0.0.1:25' is already used by listeners[0]")]
    [InlineData("listeners: [ { name: a, address: '*:25' }, { name: b, address: '127.0.0.1:25' } ]", "listeners[1].address: '127.0.0.1:25' is already used by listeners[0]")]
    [InlineData("listeners: [ { name: a, address: '127.0.0.1:25', tls: { mode: sometimes, certificate: /nonexistent/c.pem, key: /nonexistent/k.pem } } ]", "listeners[0].tls.mode: 'sometimes' is not one of starttls, implicit")]
    [InlineData("listeners: [ { name: a, address: '127.0.0.1:25', tls: { certificate: /nonexistent/c.pem, key: /nonexistent/k.pem } } ]", "listeners[0].tls.certificate: file '/nonexistent/c.pem' does not exist")]
    [InlineData("listeners: [ { name: a, address: '127.0.0.1:25', tls: { certificate: /nonexistent/c.pem } } ]", "listeners[0].tls.key: is required with a PEM certificate (only a .pfx/.p12 certificate carries its key)")]
    [InlineData("listeners: [ { name: a, address: '127.0.0.1:25', auth: { mode: always } } ]", "listeners[0].auth.mode: 'always' is not one of none, optional, required")]
    [InlineData("listeners: [ { name: a, address: '127.0.0.1:25', auth: { mode: required } } ]", "listeners[0].auth.credentials: is required: the name of a table of user:hash entries")]
    [InlineData("listeners: [ { name: a, address: '127.0.0.1:25', auth: { credentials: users } } ]", "listeners[0].auth.credentials: unknown table 'users' (no tables are defined)")]
    [InlineData("listeners: [ { name: a, address: '127.0.0.1:25', submision: true } ]", "listeners[0].submision: unknown key (did you mean 'submission'?)")]
    [InlineData("listeners: [ { name: a, address: '127.0.0.1:25', masquerade: true } ]", "listeners[0].masquerade: applies to authenticated mail: the listener needs auth (mode: optional or required)")]
    [InlineData("listeners: [ { name: a, address: '127.0.0.1:25', masquerade: true, auth: { mode: none } } ]", "listeners[0].masquerade: applies to authenticated mail: the listener needs auth (mode: optional or required)")]
    [InlineData("listeners: [ { name: a, address: '127.0.0.1:25', masquerade: yes please } ]", "listeners[0].masquerade: 'yes please' is not true or false")]
    [InlineData("listeners: [ { name: a, address: '127.0.0.1:25', masquarade: true } ]", "listeners[0].masquarade: unknown key (did you mean 'masquerade'?)")]
    [InlineData("listeners: []", "listeners: at least one listener is required (e.g. { name: mx, address: 127.0.0.1:2525 })")]
    public void Listener_problems(string listeners, string expected)
    {
        var yaml = Minimal.Replace("listeners: [ { name: mx, address: \"127.0.0.1:2525\" } ]", listeners, StringComparison.Ordinal);
        Assert.Contains(expected, Errors(yaml));
    }

    [Theory]
    [InlineData("actions: { local: { } }", "actions.local: expected an action section with one agent: maildir, mbox, lmtp, command, relay")]
    [InlineData("actions: { local: { aliases: x } }", "actions.local: has no agent: give exactly one of maildir, mbox, lmtp, command, relay")]
    [InlineData("actions: { local: { maildir: { path: a }, relay: {} } }", "actions.local: has more than one agent (maildir, relay); an action has exactly one")]
    [InlineData("actions: { local: { maildir: {} } }", "actions.local.maildir.path: is required")]
    [InlineData("actions: { local: { mbox: { file: x } } }", "actions.local.mbox.file: unknown key (known keys: path)")]
    [InlineData("actions: { local: { mbox: { file: x } } }", "actions.local.mbox.path: is required")]
    [InlineData("actions: { local: { maildir: { path: '/var/mail/{usr}' } } }", "actions.local.maildir.path: Delivery path \"/var/mail/{usr}\": unknown placeholder {usr} (use {user}, {domain} or {rcpt}).")]
    [InlineData("actions: { local: { mbox: { path: '/var/mail/user}' } } }", "actions.local.mbox.path: Delivery path \"/var/mail/user}\": stray '}'.")]
    [InlineData("actions: { local: { lmtp: { } } }", "actions.local.lmtp.address: is required")]
    [InlineData("actions: { local: { lmtp: { address: dovecot } } }", "actions.local.lmtp.address: 'dovecot' is not host:port, [ipv6]:port or an absolute Unix socket path")]
    [InlineData("actions: { local: { command: { args: [a] } } }", "actions.local.command.run: is required")]
    [InlineData("actions: { local: { relay: { host: 'http://smtp.test' } } }", "actions.local.relay.host: 'http://smtp.test' is not a relay URL (scheme://host[:port] with scheme smtp, smtp+tls, smtp+notls, smtps, lmtp)")]
    [InlineData("actions: { local: { relay: { host: 'lmtp://smtp.test' } } }", "actions.local.relay.host: 'lmtp://smtp.test': lmtp:// needs a port")]
    [InlineData("actions: { local: { relay: { host: 'smtps://smtp.test', auth: secrets } } }", "actions.local.relay.auth: unknown table 'secrets' (no tables are defined)")]
    [InlineData("actions: { local: { relay: { auth: secrets } } }", "actions.local.relay.auth: needs relay.host: credentials are only sent to a smarthost")]
    [InlineData("actions: { reject: { relay: {} }, local: { relay: {} } }", "actions.reject: 'reject' is reserved for rules; choose another action name")]
    [InlineData("actions: { local: { maildir: { path: a }, alias: x } }", "actions.local.alias: unknown key (did you mean 'aliases'?)")]
    [InlineData("actions: { local: { maildir: { path: a }, aliases: x } }", "actions.local.aliases: unknown table 'x' (no tables are defined)")]
    public void Action_problems(string actions, string expected)
    {
        var yaml = Minimal.Replace("actions: { local: { maildir: { path: ./mail } } }", actions, StringComparison.Ordinal);
        Assert.Contains(expected, Errors(yaml));
    }

    [Fact]
    public void A_rule_naming_a_broken_action_is_not_a_second_error()
    {
        var errors = Errors(Minimal.Replace("maildir: { path: ./mail }", "maildir: {}", StringComparison.Ordinal));
        Assert.Equal(["actions.local.maildir.path: is required"], errors);
    }

    [Theory]
    [InlineData("rules: [ { from: any, for: local, action: locale } ]", "rules[0].action: unknown action 'locale' (defined: local, or reject)")]
    [InlineData("rules: [ { from: any, for: local } ]", "rules[0].action: is required")]
    [InlineData("rules: [ { from: anywhere, for: local, action: local } ]", "rules[0].from: 'anywhere' is not understood (use any, local, { src: [cidr...] | table }, { auth: true | [users] | table }, { mailFrom: [addresses...] | table }, { rdns: true | [names...] | table }, { clientCert: true | [names...] | table }, { not: ... })")]
    [InlineData("rules: [ { from: any, for: { src: [10.0.0.0/8] }, action: local } ]", "rules[0].for.src: unknown condition (use any, local, { domain: [names...] | table }, { rcptTo: [addresses...] | table }, { not: ... })")]
    [InlineData("rules: [ { from: { src: [10.0.0.0/8], auth: true }, for: any, action: local } ]", "rules[0].from: expected one condition (use any, local, { src: [cidr...] | table }, { auth: true | [users] | table }, { mailFrom: [addresses...] | table }, { rdns: true | [names...] | table }, { clientCert: true | [names...] | table }, { not: ... })")]
    [InlineData("rules: [ { from: { src: [10.0.0.1/8] }, for: any, action: local } ]", "rules[0].from.src[0]: '10.0.0.1/8' has host bits set (did you mean 10.0.0.0/8?)")]
    [InlineData("rules: [ { from: { src: nets }, for: any, action: local } ]", "rules[0].from.src: unknown table 'nets' (no tables are defined); for a single entry write [nets]")]
    [InlineData("rules: [ { from: { not: { src: [example.org] } }, for: any, action: local } ]", "rules[0].from.not.src[0]: 'example.org' is not an IP address or network (use e.g. 192.0.2.0/24 or 2001:db8::/32)")]
    [InlineData("rules: [ { from: { clientCert: ['relay client'] }, for: any, action: local } ]", "rules[0].from.clientCert[0]: 'relay client' is not a domain name (use example.org, or *.example.org for its subdomains)")]
    [InlineData("rules: [ { from: { not: { clientCert: certs } }, for: any, action: local } ]", "rules[0].from.not.clientCert: unknown table 'certs' (no tables are defined); for a single entry write [certs]")]
    [InlineData("rules: [ { from: any, for: { clientCert: true }, action: local } ]", "rules[0].for.clientCert: unknown condition (use any, local, { domain: [names...] | table }, { rcptTo: [addresses...] | table }, { not: ... })")]
    [InlineData("rules: [ { from: any, for: { domain: ['exa mple.org'] }, action: local } ]", "rules[0].for.domain[0]: 'exa mple.org' is not a domain name (use example.org, or *.example.org for its subdomains)")]
    [InlineData("rules: [ { from: any, for: any, action: local, reply: '550 no' } ]", "rules[0].reply: only a reject rule has a reply")]
    [InlineData("rules: [ { from: any, for: any, action: reject, reply: '250 ok' } ]", "rules[0].reply: '250 ok' is not a reply (use e.g. \"550 5.7.1 Relaying denied\")")]
    [InlineData("rules: [ { from: any, for: any, action: reject, reply: '550 4.7.1 no' } ]", "rules[0].reply: '550 4.7.1 no': the enhanced code 4.7.1 does not match the class of 550")]
    [InlineData("rules: [ { from: any, for: any, action: local, whenever: now } ]", "rules[0].whenever: unknown key (known keys: from, for, action, reply, helo, tls)")]
    [InlineData("rules: []", "rules: at least one rule is required (e.g. { from: any, for: local, action: local })")]
    [InlineData("rules: [ { from: any, for: any, action: local, helo: { nt: [a.example] } } ]", "rules[0].helo.nt: unknown key (did you mean 'not'?)")]
    public void Rule_problems(string rules, string expected)
    {
        var yaml = Minimal.Replace("rules: [ { from: any, for: local, action: local } ]", rules, StringComparison.Ordinal);
        Assert.Contains(expected, Errors(yaml));
    }

    [Fact]
    public async Task A_helo_condition_is_a_list_or_a_table_or_not_one()
    {
        var yaml = Minimal.Replace("rules: [ { from: any, for: local, action: local } ]", """
            rules:
              - { from: any, for: any, helo: { not: [good.example] }, action: reject }
              - { from: any, for: any, helo: [good.example], action: local }
            """, StringComparison.Ordinal);
        var loaded = LoadYaml(yaml);
        Assert.True(loaded.Settings is not null, string.Join("\n", loaded.Errors));
        var router = loaded.Settings.Router;
        Assert.False((await router.RouteAsync(Request("192.0.2.1", "a@remote.example") with { Helo = "bad.example" }, default)).Accepted);
        Assert.Equal("local", (await router.RouteAsync(Request("192.0.2.1", "a@remote.example") with { Helo = "good.example" }, default)).Action);
    }

    [Fact]
    public void Table_problems()
    {
        var yaml = Minimal.Replace(
            "rules: [ { from: any, for: local, action: local } ]",
            """
            tables:
              nets: { type: list, values: [10.0.0.0/8, not-a-net] }
              files: { type: file, path: /etc/x, format: weird }
              untyped: { values: [a] }
              aliases: { type: file, path: /etc/aliases, format: aliases }
            rules:
              - { from: { src: nets }, for: any, action: local }
              - { from: { src: nets }, for: any, action: local }
              - { from: any, for: { domain: aliases }, action: local }
            """,
            StringComparison.Ordinal);
        var errors = Errors(yaml);
        Assert.Contains("tables.files.format: 'weird' is not one of aliases, credentials, map, list, netaddr", errors);
        Assert.Contains("tables.untyped.type: is required: list or file", errors);
        Assert.DoesNotContain(errors, e => e.StartsWith("rules[2]", StringComparison.Ordinal));

        // Reported once, at the table, however many rules use it.
        Assert.Single(errors, e => e.StartsWith("tables.nets.values[1]: 'not-a-net' is not an IP address", StringComparison.Ordinal));
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        var errors = Errors("""
            server:
              hostname: mx.test
              limits: { maxRecipents: 10, maxMessageSize: 35XB, idleTimeout: soon }
            queue: { expire: 0d }
            listeners:
              - { name: mx, address: nowhere }
              - { name: mx, address: "127.0.0.1:25" }
            actions:
              local: { maildir: {}, mbox: { path: x } }
            rules:
              - { from: any, for: local, action: missing }
            """);
        Assert.Equal(
            [
                "server.limits.maxRecipents: unknown key (did you mean 'maxRecipients'?)",
                "server.limits.maxMessageSize: '35XB' is not a size (use e.g. 35MiB)",
                "server.limits.idleTimeout: 'soon' is not a duration (use e.g. 300s, 5m, 4h, 4d, 500ms)",
                "queue.expire: '0d' must be longer than zero",
                "listeners[0].address: 'nowhere' is not an address with a port (use ip:port, [ipv6]:port or *:port, e.g. 127.0.0.1:2525)",
                "listeners[1].name: duplicate listener name 'mx' (also listeners[0])",
                "actions.local: has more than one agent (maildir, mbox); an action has exactly one",
                "rules[0].action: unknown action 'missing' (no actions are defined)",
            ],
            errors);
        Assert.Null(LoadYaml("server: { hostname: 'x y' }").Settings);
    }

    [Fact]
    public void Files_that_cannot_be_read_are_one_error()
    {
        var missing = ConfigLoader.Load(Path.Combine(_directory, "nope.yaml"), NoEnvironment);
        Assert.Null(missing.Settings);
        Assert.EndsWith("nope.yaml: file not found", Assert.Single(missing.Errors).ToString(), StringComparison.Ordinal);

        var toml = ConfigLoader.Load(Write("x = 1", ".toml"), NoEnvironment);
        Assert.EndsWith("unknown file type (use .yaml, .yml or .json)", Assert.Single(toml.Errors).Message, StringComparison.Ordinal);

        var broken = ConfigLoader.Load(Write("server: { hostname: [ }"), NoEnvironment);
        Assert.Null(broken.Settings);
        Assert.Single(broken.Errors);

        var badJson = ConfigLoader.Load(Write("{ \"server\": ", ".json"), NoEnvironment);
        Assert.Single(badJson.Errors);
    }

    [Fact]
    public void Tls_keys_are_read_and_bad_certificates_are_config_errors()
    {
        var (cert, key) = TestCertificates.Write(_directory);
        var (other, otherKey) = TestCertificates.Write(_directory, "other.example", "other");
        var garbage = Path.Combine(_directory, "garbage.crt");
        File.WriteAllText(garbage, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
        var yaml = Minimal.Replace(
            "listeners: [ { name: mx, address: \"127.0.0.1:2525\" } ]",
            $$"""
            tables: { users: { type: file, path: ./creds, format: credentials } }
            listeners:
              - name: sub
                address: "127.0.0.1:587"
                receivedAuth: true
                tls: { certificate: "{{cert}}", key: "{{key}}", certificates: [ { certificate: "{{other}}", key: "{{otherKey}}" } ], protocols: [tls1.3], clientCertificate: optional, clientCa: "{{cert}}" }
                auth: { mode: required, credentials: users, allowPlaintext: true, maxFailures: 3, failureWindow: 5m, lockout: 1h }
            """,
            StringComparison.Ordinal);
        var result = LoadYaml(yaml);
        Assert.True(result.Errors.Count == 0, string.Join("\n", result.Errors));
        var listener = result.Settings!.Listeners[0];
        Assert.True(listener.ReceivedAuth);
        Assert.Equal(System.Security.Authentication.SslProtocols.Tls13, listener.Tls!.Protocols);
        Assert.Equal(other, Assert.Single(listener.Tls.AdditionalCertificates).CertificatePath);
        Assert.Equal(ClientCertificateMode.Optional, listener.Tls.ClientCertificate);
        Assert.Equal(cert, listener.Tls.ClientCaPath);
        Assert.Equal(new ListenerAuthSettings { Mode = AuthMode.Required, CredentialsTable = "users", AllowPlaintext = true, MaxFailures = 3, FailureWindow = TimeSpan.FromMinutes(5), Lockout = TimeSpan.FromHours(1) }, listener.Auth);

        var bad = LoadYaml(Minimal.Replace(
            "listeners: [ { name: mx, address: \"127.0.0.1:2525\" } ]",
            $$"""
            tables: { users: { type: list, values: [a] } }
            listeners:
              - { name: a, address: "0.0.0.0:587", tls: { certificate: "{{garbage}}", key: "{{key}}", protocols: [ssl3] }, auth: { credentials: users, allowPlaintext: true } }
              - { name: b, address: "127.0.0.1:588", tls: { certificate: "{{cert}}", key: "{{otherKey}}" } }
            """,
            StringComparison.Ordinal));
        var errors = string.Join("\n", bad.Errors);
        Assert.Contains("listeners[0].tls.certificate: cannot load the certificate and key", errors, StringComparison.Ordinal);
        Assert.Contains("listeners[0].tls.protocols[0]: 'ssl3' is not a TLS version (use tls1.2, tls1.3)", errors, StringComparison.Ordinal);
        Assert.Contains("listeners[0].auth.credentials: table 'users' must be { type: file, format: credentials } (user:hash lines)", errors, StringComparison.Ordinal);
        Assert.Contains("listeners[0].auth.allowPlaintext: is only allowed on a loopback listener, not 0.0.0.0:587", errors, StringComparison.Ordinal);
        Assert.Contains("listeners[1].tls.certificate: cannot load the certificate and key", errors, StringComparison.Ordinal);
    }

    [Fact]
    public void Tls_and_auth_are_read_when_files_exist()
    {
        var (cert, key) = TestCertificates.Write(_directory);
        var yaml = Minimal.Replace(
            "listeners: [ { name: mx, address: \"127.0.0.1:2525\" } ]",
            $$"""
            tables: { users: { type: file, path: ./creds, format: credentials } }
            listeners:
              - { name: sub, address: "[::1]:587", hostname: Submit.Test., submission: true, tls: { mode: starttls, required: true, certificate: "{{cert}}", key: "{{key}}" }, auth: { mode: required, credentials: users } }
              - { name: smtps, address: "0.0.0.0:465", tls: { mode: implicit, certificate: "{{cert}}", key: "{{key}}" } }
            """,
            StringComparison.Ordinal);
        var result = LoadYaml(yaml);
        Assert.True(result.Errors.Count == 0, string.Join("\n", result.Errors));
        var sub = result.Settings!.Listeners[0];
        Assert.Equal(TlsMode.StartTls, sub.Tls!.Mode);
        Assert.True(sub.Tls.Required);
        Assert.Equal(cert, sub.Tls.CertificatePath);
        Assert.Equal(key, sub.Tls.KeyPath);
        Assert.Equal(System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13, sub.Tls.Protocols);
        Assert.Equal(AuthMode.Required, sub.Auth!.Mode);
        Assert.True(sub.Submission);
        Assert.Equal("Submit.Test", sub.Hostname);
        Assert.True(result.Settings.Listeners[1].Tls!.Required);
        Assert.Contains("Submit.Test", result.Settings.LocalNames);
    }
}
