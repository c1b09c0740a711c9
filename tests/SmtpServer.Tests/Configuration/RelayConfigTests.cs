using Microsoft.Extensions.Logging.Abstractions;
using SmtpServer.Configuration;
using SmtpServer.Delivery;
using SmtpServer.Delivery.Relay;
using SmtpServer.Hosting;
using SmtpServer.Testing;

namespace SmtpServer.Tests.Configuration;

/// <summary>
/// relay: host lists, tlsPolicy, caFile and rateLimit: from the file to the agent the host
/// builds (per-host schemes and credentials), and an error naming the key for each mistake.
/// </summary>
public sealed class RelayConfigTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("smtpd-relay-config-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private ConfigLoadResult Load(string actions, string tables = "{}")
    {
        var path = Path.Combine(_directory, "smtpd.yaml");
        File.WriteAllText(path, $$"""
            server: { hostname: mx.test }
            listeners: [ { name: mx, address: "127.0.0.1:2525" } ]
            tables: {{tables}}
            actions: {{actions}}
            rules: [ { from: any, for: any, action: out } ]
            """);
        return ConfigLoader.Load(path, new Dictionary<string, string>());
    }

    private string WriteCa()
    {
        using var ca = TestPki.Create("Config Test CA");
        return ca.WriteCaFile(_directory);
    }

    [Fact]
    public void A_host_list_with_its_own_schemes_labels_and_credentials_reaches_the_agent()
    {
        var secrets = Path.Combine(_directory, "secrets");
        File.WriteAllText(secrets, "one user-one:pw1\n# two.test has no entry\n");
        var ca = WriteCa();
        var result = Load(
            $"{{ out: {{ relay: {{ host: ['smtp+tls://one@a.test:587', 'smtps://two.test'], auth: secrets, tls: required, caFile: '{ca}', rateLimit: 60/min }} }} }}",
            $"{{ secrets: {{ type: file, path: '{secrets}', format: map }} }}");
        Assert.True(result.Errors.Count == 0, string.Join("\n", result.Errors));
        var settings = Assert.IsType<RelayAgentSettings>(result.Settings!.ActionDefinitions["out"].Agent);
        Assert.Equal([new Uri("smtp+tls://one@a.test:587"), new Uri("smtps://two.test")], settings.Hosts);
        Assert.Equal(new RelayRateLimit(60, TimeSpan.FromMinutes(1)), settings.RateLimit);

        var factory = new ConfiguredDeliveryAgentFactory(result.Settings.ActionDefinitions, NullLoggerFactory.Instance, TimeProvider.System, result.Settings);
        var options = Assert.IsType<RelayAgent>(Assert.IsType<AliasTargetAgent>(factory.Create("out")).Inner).Options;
        Assert.Equal(2, options.Hosts.Count);
        var (one, two) = (options.Hosts[0], options.Hosts[1]);
        Assert.Equal(("a.test", 587, RelayTlsMode.Required), (one.Host, one.Port, one.Tls));
        Assert.Equal("user-one", one.Credentials!.UserName);
        Assert.Null(one.CredentialsProblem);

        // smtps stays TLS from the first byte; tls: required means not verified.
        Assert.Equal(("two.test", 465, RelayTlsMode.Implicit, true), (two.Host, two.Port, two.Tls, two.ImplicitTlsNoVerify));
        Assert.Null(two.Credentials);
        Assert.Equal("table secrets: no entry for 'two.test'", two.CredentialsProblem);
        Assert.Equal("CN=Config Test CA", Assert.Single(options.TrustAnchors!).Subject);
        Assert.Equal(new RelayRateLimit(60, TimeSpan.FromMinutes(1)), options.RateLimit);
    }

    [Fact]
    public void A_reload_keeps_a_relay_agent_only_while_its_settings_and_auth_table_are_the_same()
    {
        var secrets = Path.Combine(_directory, "secrets");
        File.WriteAllText(secrets, "one user-one:pw1\n");
        const string Relay = "{ out: { relay: { host: ['smtp://one@a.test', 'smtp://b.test'], auth: secrets, tls: verify } } }";
        const string Mx = "{ out: { relay: { tlsPolicy: { a.test: verify, b.test: none } } } }";
        var tables = $"{{ secrets: {{ type: file, path: '{secrets}', format: map }} }}";
        ConfiguredDeliveryAgentFactory Reload(string actions) =>
            Load(actions, tables) is { Settings: { } settings }
                ? new ConfiguredDeliveryAgentFactory(settings.ActionDefinitions, NullLoggerFactory.Instance, TimeProvider.System, settings)
                : throw new InvalidOperationException("config refused: " + string.Join("\n", Load(actions, tables).Errors));

        var first = Reload(Relay);
        Assert.NotNull(first.Create("out"));

        // Parsed again into new lists and dictionaries: equal by value, so the agent stays.
        var same = Reload(Relay);
        Assert.Equal(first.Settings("out"), same.Settings("out"));
        Assert.True(same.CanKeep("out", first));

        // Another label (Uri.Equals ignores it), another tls: new agents.
        Assert.False(Reload(Relay.Replace("one@a.test", "two@a.test", StringComparison.Ordinal)).CanKeep("out", same));
        Assert.False(Reload(Relay.Replace("verify", "required", StringComparison.Ordinal)).CanKeep("out", same));
        var mx = Reload(Mx);
        mx.Create("out");
        Assert.True(Reload(Mx).CanKeep("out", mx));
        Assert.False(Reload(Mx.Replace("none", "verify", StringComparison.Ordinal)).CanKeep("out", mx));

        // Rotated credentials: a new agent, which reads them; kept again after that.
        File.WriteAllText(secrets, "one user-one:pw2\n");
        var rotated = Reload(Relay);
        Assert.False(rotated.CanKeep("out", same));
        Assert.Equal("pw2", Assert.IsType<RelayAgent>(Assert.IsType<AliasTargetAgent>(rotated.Create("out")).Inner).Options.Hosts[0].Credentials!.Password);
        Assert.True(Reload(Relay).CanKeep("out", rotated));

        // A factory that never built the agent cannot vouch for it.
        Assert.False(Reload(Relay).CanKeep("out", Reload(Relay)));
    }

    [Fact]
    public void A_single_host_is_still_one_url_and_the_tls_policy_reaches_the_agent()
    {
        var single = Load("{ out: { relay: { host: 'smtp://relay.test' } } }");
        Assert.Empty(single.Errors);
        var settings = Assert.IsType<RelayAgentSettings>(single.Settings!.ActionDefinitions["out"].Agent);
        Assert.Equal(new Uri("smtp://relay.test"), settings.Host);
        Assert.Null(settings.FallbackHosts);

        var mx = Load("{ out: { relay: { tls: opportunistic, tlsPolicy: { Example.ORG: verify, '*.legacy.example': none } } } }");
        Assert.True(mx.Errors.Count == 0, string.Join("\n", mx.Errors));
        var factory = new ConfiguredDeliveryAgentFactory(mx.Settings!.ActionDefinitions, NullLoggerFactory.Instance, TimeProvider.System, mx.Settings);
        var options = Assert.IsType<RelayAgent>(Assert.IsType<AliasTargetAgent>(factory.Create("out")).Inner).Options;
        Assert.Empty(options.Hosts);
        Assert.Equal(RelayTlsMode.Opportunistic, options.Tls);
        Assert.Equal(RelayTlsMode.Verify, options.TlsPolicy.ModeFor("example.org"));
        Assert.Equal(RelayTlsMode.None, options.TlsPolicy.ModeFor("mx.legacy.example"));
        Assert.Null(options.TlsPolicy.ModeFor("example.net"));
        Assert.Null(options.TrustAnchors);
        Assert.Null(options.RateLimit);
    }

    [Theory]
    [InlineData("{ out: { relay: { host: ['smtp://a.test', 'ftp://b.test'] } } }", "actions.out.relay.host[1]: 'ftp://b.test' is not a relay URL (scheme://host[:port] with scheme smtp, smtp+tls, smtp+notls, smtps, lmtp)")]
    [InlineData("{ out: { relay: { host: ['smtp://a.test', 'lmtp://b.test'] } } }", "actions.out.relay.host[1]: 'lmtp://b.test': lmtp:// needs a port")]
    [InlineData("{ out: { relay: { host: ['smtp://a.test', 'smtp://a.test'] } } }", "actions.out.relay.host[1]: 'smtp://a.test' is listed twice")]
    [InlineData("{ out: { relay: { host: { url: 'smtp://a.test' } } } }", "actions.out.relay.host: expected a list, not a section")]
    [InlineData("{ out: { relay: { host: ['smtp://a.test'], port: 2525 } } }", "actions.out.relay.port: applies to MX delivery only; give a smarthost's port in relay.host")]
    [InlineData("{ out: { relay: { rateLimit: 60 per minute } } }", "actions.out.relay.rateLimit: '60 per minute' is not a rate (use e.g. 60/min, 1000/h, 5/30s)")]
    [InlineData("{ out: { relay: { rateLimit: 0/min } } }", "actions.out.relay.rateLimit: '0/min' is not a rate (use e.g. 60/min, 1000/h, 5/30s)")]
    [InlineData("{ out: { relay: { ratelimt: 5/min } } }", "actions.out.relay.ratelimt: unknown key (did you mean 'rateLimit'?)")]
    [InlineData("{ out: { relay: { tlsPolicy: { 'bad_name!': verify } } } }", "actions.out.relay.tlsPolicy.bad_name!: 'bad_name!' is not a domain name (use example.org, or *.example.org for its subdomains)")]
    [InlineData("{ out: { relay: { tlsPolicy: { example.org: sometimes } } } }", "actions.out.relay.tlsPolicy.example.org: 'sometimes' is not one of opportunistic, required, verify, none")]
    [InlineData("{ out: { relay: { tlsPolicy: verify } } }", "actions.out.relay.tlsPolicy: expected a section, not the value 'verify'")]
    [InlineData("{ out: { relay: { host: 'smtp://a.test', tlsPolicy: { example.org: verify } } } }", "actions.out.relay.tlsPolicy: applies to MX delivery only; a smarthost's TLS is set by its URL scheme and relay.tls")]
    [InlineData("{ out: { relay: { caFile: /nonexistent/ca.pem } } }", "actions.out.relay.caFile: '/nonexistent/ca.pem': ")]
    public void Each_relay_problem_names_its_key(string actions, string expected)
    {
        var errors = Load(actions).Errors.Select(e => e.ToString()).ToList();
        Assert.True(errors.Any(e => e.StartsWith(expected, StringComparison.Ordinal)), $"expected '{expected}' in:\n{string.Join("\n", errors)}");
    }

    [Fact]
    public void A_ca_file_without_a_certificate_is_an_error()
    {
        var path = Path.Combine(_directory, "empty.pem");
        File.WriteAllText(path, "not a certificate\n");
        var errors = Load($"{{ out: {{ relay: {{ caFile: '{path}' }} }} }}").Errors.Select(e => e.ToString());
        Assert.Contains($"actions.out.relay.caFile: '{path}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)", errors);
    }
}
