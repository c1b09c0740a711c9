using System.Globalization;
using System.Net;
using System.Text.Json;
using SmtpServer.Configuration;
using SmtpServer.Tests.Infrastructure;

namespace SmtpServer.Tests.Admin;

/// <summary>
/// Issue #7: an envelope and its attempt history (time, MX, TLS, reply) through the admin API,
/// <c>smtpctl show envelope</c> (table and --json) and <c>smtpctl explain</c>, with a real relay
/// to a peer that greylists (451), then accepts (250).
/// </summary>
public sealed class AttemptHistoryAdminTests
{
    private static string Time(DateTimeOffset at) => at.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    [Fact]
    public async Task A_greylisted_relay_attempt_is_shown_and_explained_then_the_retry_delivers()
    {
        await using var peer = new SwitchableSmtpPeer();
        await using var admin = await AdminServer.StartAsync(settings => settings with
        {
            ActionDefinitions = new Dictionary<string, ActionSettings>(StringComparer.OrdinalIgnoreCase)
            {
                ["outbound"] = new() { Name = "outbound", Agent = new RelayAgentSettings(new Uri(peer.Url), null) },
            },
        });
        var id = await admin.SendAsync("alice@client.test", "bob@remote.example");
        var bob = id + "-0000";
        await AdminApiTests.WaitAsync(async () => await AdminApiTests.AttemptsAsync(admin, bob) >= 1);

        // The API: the record carries the history.
        var detail = await AdminServer.JsonAsync(await admin.Socket.GetAsync($"v1/envelopes/{bob}"), HttpStatusCode.OK);
        var history = detail.GetProperty("record").GetProperty("history");
        Assert.Equal(0, history.GetProperty("dropped").GetInt32());
        var attempt = Assert.Single(history.GetProperty("attempts").EnumerateArray().ToList());
        Assert.Equal(1, attempt.GetProperty("number").GetInt32());
        Assert.Equal("outbound", attempt.GetProperty("action").GetString());
        Assert.Equal("Temporary", attempt.GetProperty("result").GetString());
        Assert.Equal("127.0.0.1", attempt.GetProperty("host").GetString());
        Assert.Equal("127.0.0.1", attempt.GetProperty("address").GetString());
        Assert.Equal(JsonValueKind.Null, attempt.GetProperty("tls").ValueKind);
        var reply = "127.0.0.1 [127.0.0.1] answered 451 4.7.1 greylisted, try again later (after RCPT TO)";
        Assert.Equal(reply, attempt.GetProperty("reply").GetString());
        var at = attempt.GetProperty("at").GetDateTimeOffset();
        var next = detail.GetProperty("summary").GetProperty("nextAttempt").GetDateTimeOffset();
        Assert.Equal(detail.GetProperty("summary").GetProperty("receivedAt").GetDateTimeOffset() + TimeSpan.FromSeconds(400), next);

        // show envelope: the record, then the attempts as a table.
        var shown = await SmtpctlTests.RunAsync(admin, "show", "envelope", bob);
        Assert.Equal(0, shown.Exit);
        var lines = shown.Out.Replace("\r", "", StringComparison.Ordinal).Split('\n');
        Assert.Contains("attempts: 1", lines);
        var header = Assert.Single(lines, l => l.TrimStart().StartsWith("# ", StringComparison.Ordinal));
        Assert.Equal(["#", "time", "action", "result", "to", "tls", "reply"], header.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        var row = Assert.Single(lines, l => l.TrimStart().StartsWith("1 ", StringComparison.Ordinal));
        Assert.Matches($"^  1  {Time(at)}  outbound  temporary  127\\.0\\.0\\.1 \\[127\\.0\\.0\\.1\\]  -  +{System.Text.RegularExpressions.Regex.Escape(reply)}$", row);
        Assert.DoesNotContain("\"history\"", shown.Out, StringComparison.Ordinal);

        var json = await SmtpctlTests.RunAsync(admin, "--json", "show", "envelope", bob);
        var fromJson = JsonDocument.Parse(json.Out).RootElement.GetProperty("record").GetProperty("history").GetProperty("attempts")[0];
        Assert.Equal(reply, fromJson.GetProperty("reply").GetString());

        // explain: the attempt in words, with the next retry.
        var explained = await SmtpctlTests.RunAsync(admin, "explain", bob);
        Assert.Contains($"  attempt 1 at {Time(at)} to 127.0.0.1 [127.0.0.1] without TLS: {reply}; next retry {Time(next)}", explained.Out, StringComparison.Ordinal);

        // The peer accepts now; the retry (scheduled by hand) delivers and the envelope is gone.
        peer.Accept = true;
        Assert.Equal(0, (await SmtpctlTests.RunAsync(admin, "schedule", bob)).Exit);
        await AdminApiTests.WaitAsync(async () => (await admin.Socket.GetAsync($"v1/envelopes/{bob}")).StatusCode == HttpStatusCode.NotFound);
        Assert.Contains("hello admin", Assert.Single(peer.Messages), StringComparison.Ordinal);
        Assert.Equal(2, peer.Rcpts);
        Assert.Empty(peer.Errors);
    }
}
