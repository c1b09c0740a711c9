using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Hosting;

namespace SmtpServer.Tests.Admin;

/// <summary>/metrics scraped and parsed as Prometheus text; /healthz and /readyz.</summary>
public sealed partial class MetricsTests
{
    [Fact]
    public async Task Metrics_parse_as_prometheus_text_and_move_with_mail()
    {
        await using var admin = await AdminServer.StartAsync();
        var before = await ScrapeAsync(admin);
        await admin.SendAsync("alice@client.test", "bob@remote.example", "carol@remote.example");
        await AdminApiTests.WaitAsync(async () => Value(await ScrapeAsync(admin), "smtpd_deliveries_total", "action=\"outbound\",result=\"tempfail\"") >= 2);
        var after = await ScrapeAsync(admin);

        Assert.Equal(Value(before, "smtpd_sessions_total", "listener=\"mx\"") + 1, Value(after, "smtpd_sessions_total", "listener=\"mx\""));
        Assert.Equal(1, Value(after, "smtpd_messages_accepted_total", "listener=\"mx\""));
        Assert.Equal(2, Value(after, "smtpd_messages_recipients_total", ""));
        Assert.True(Value(after, "smtpd_messages_received_bytes_total", "") > 20);
        Assert.Equal(2, Value(after, "smtpd_commands_total", "command=\"RCPT\""));
        Assert.Equal(1, Value(after, "smtpd_commands_total", "command=\"DATA\""));
        Assert.True(Value(after, "smtpd_replies_total", "code=\"250\"") >= 5);
        Assert.Equal(1, Value(after, "smtpd_replies_total", "code=\"354\""));
        Assert.Equal(2, Value(after, "smtpd_queue_envelopes", ""));
        Assert.Equal(1, Value(after, "smtpd_queue_messages", ""));
        Assert.True(Value(after, "smtpd_queue_oldest_age_seconds", "") >= 0);
        Assert.True(Value(after, "smtpd_delivery_duration_seconds_count", "action=\"outbound\",result=\"tempfail\"") >= 2);
        Assert.Equal(
            Value(after, "smtpd_delivery_duration_seconds_count", "action=\"outbound\",result=\"tempfail\""),
            Value(after, "smtpd_delivery_duration_seconds_bucket", "action=\"outbound\",result=\"tempfail\",le=\"+Inf\""));
    }

    [Fact]
    public async Task Health_and_readiness()
    {
        await using var admin = await AdminServer.StartAsync();
        var health = await admin.Http.GetAsync("healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        var ready = await admin.Http.GetAsync("readyz");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);

        // Draining: not ready any more, and the process stops once the queue was tried.
        var drain = await admin.Socket.PostAsync("v1/drain", null);
        Assert.Equal(HttpStatusCode.Accepted, drain.StatusCode);
        try
        {
            var notReady = await admin.Http.GetAsync("readyz");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady.StatusCode);
        }
        catch (HttpRequestException)
        {
            // Stopped already.
        }

        await admin.Server.App.WaitForShutdownAsync().WaitAsync(TimeSpan.FromSeconds(20));
    }

    /// <summary>Parses the exposition format strictly: every line is a comment or `name{labels} value`.</summary>
    private static async Task<Dictionary<string, double>> ScrapeAsync(AdminServer admin)
    {
        var response = await admin.Http.GetAsync("metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var samples = new Dictionary<string, double>(StringComparer.Ordinal);
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                Assert.Contains(parts[3], new[] { "counter", "gauge", "histogram" });
                Assert.True(types.TryAdd(parts[2], parts[3]), "duplicate TYPE " + parts[2]);
                continue;
            }

            if (line.StartsWith('#'))
            {
                Assert.StartsWith("# HELP ", line, StringComparison.Ordinal);
                continue;
            }

            var match = Sample().Match(line);
            Assert.True(match.Success, "not a sample line: " + line);
            var name = match.Groups["name"].Value;
            Assert.Contains(types.Keys, t => name == t || name.StartsWith(t + "_", StringComparison.Ordinal));
            var value = match.Groups["value"].Value == "+Inf" ? double.PositiveInfinity : double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
            Assert.True(samples.TryAdd(name + "{" + match.Groups["labels"].Value + "}", value), "duplicate series " + line);
        }

        return samples;
    }

    private static double Value(Dictionary<string, double> samples, string name, string labels) =>
        samples.TryGetValue(name + "{" + labels + "}", out var value) ? value : 0;

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*)\})? (?<value>[-+]?(\d+(\.\d+)?([eE][-+]?\d+)?|Inf|NaN))$""")]
    private static partial Regex Sample();
}
