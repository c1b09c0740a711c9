using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using SmtpServer.Core.Admin;
using SmtpServer.Core.Scheduling;

namespace SmtpServer.Tests.Admin;

/// <summary>Every admin call over admin.socket against a running host, good input and bad.</summary>
public sealed class AdminApiTests
{
    [Fact]
    public async Task Socket_is_private_to_the_owner()
    {
        await using var admin = await AdminServer.StartAsync();
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(admin.SocketPath));
        }

        var status = await AdminServer.JsonAsync(await admin.Socket.GetAsync("v1/status"), HttpStatusCode.OK);
        Assert.Equal("running", status.GetProperty("state").GetString());
    }

    [Fact]
    public async Task Queue_lists_filters_and_shows_envelopes_and_messages()
    {
        await using var admin = await AdminServer.StartAsync();
        var first = await admin.SendAsync("alice@client.test", "bob@remote.example", "carol@other.example");
        var second = await admin.SendAsync("dave@client.test", "erin@remote.example");

        // Their first attempts (no agent: retried in 400 s) must be over, or a slow machine
        // shows an envelope in flight where state=pending is asked for below.
        await admin.Server.App.Services.GetRequiredService<ISchedulerControl>().WhenIdleAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));

        var all = await AdminServer.JsonAsync(await admin.Socket.GetAsync("v1/queue"), HttpStatusCode.OK);
        Assert.Equal(3, all.GetProperty("total").GetInt32());
        Assert.False(all.GetProperty("offline").GetBoolean());

        var byDomain = await AdminServer.JsonAsync(await admin.Socket.GetAsync("v1/queue?domain=remote.example"), HttpStatusCode.OK);
        Assert.Equal(2, byDomain.GetProperty("total").GetInt32());
        var bySender = await AdminServer.JsonAsync(await admin.Socket.GetAsync("v1/queue?sender=ALICE"), HttpStatusCode.OK);
        Assert.Equal(2, bySender.GetProperty("total").GetInt32());
        var byRecipient = await AdminServer.JsonAsync(await admin.Socket.GetAsync("v1/queue?recipient=erin"), HttpStatusCode.OK);
        Assert.Equal(second, byRecipient.GetProperty("envelopes")[0].GetProperty("messageId").GetString());
        var old = await AdminServer.JsonAsync(await admin.Socket.GetAsync("v1/queue?minAge=1h"), HttpStatusCode.OK);
        Assert.Equal(0, old.GetProperty("total").GetInt32());

        // Each envelope is tried on arrival (no agent for its action: a temporary failure); while
        // that attempt runs it is "inflight", not "pending". The next is 400 s away.
        await WaitAsync(async () => (await AdminServer.JsonAsync(await admin.Socket.GetAsync("v1/queue?state=inflight"), HttpStatusCode.OK)).GetProperty("total").GetInt32() == 0);
        var young = await AdminServer.JsonAsync(await admin.Socket.GetAsync("v1/queue?maxAge=1h&state=pending&limit=1"), HttpStatusCode.OK);
        Assert.Equal(3, young.GetProperty("total").GetInt32());
        Assert.Equal(1, young.GetProperty("envelopes").GetArrayLength());
        Assert.True(young.GetProperty("truncated").GetBoolean());

        var envelopeId = first + "-0001";
        var envelope = await AdminServer.JsonAsync(await admin.Socket.GetAsync($"v1/envelopes/{envelopeId}"), HttpStatusCode.OK);
        Assert.Equal("carol@other.example", envelope.GetProperty("summary").GetProperty("recipient").GetString());
        Assert.Equal(envelopeId, envelope.GetProperty("record").GetProperty("id").GetString());

        var message = await admin.Socket.GetAsync($"v1/messages/{first}");
        Assert.Equal(HttpStatusCode.OK, message.StatusCode);
        Assert.Equal("message/rfc822", message.Content.Headers.ContentType?.MediaType);
        var text = await message.Content.ReadAsStringAsync();
        Assert.StartsWith("Received:", text, StringComparison.Ordinal);
        Assert.Contains("hello admin", text, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await admin.Socket.GetAsync($"v1/messages/{envelopeId}")).StatusCode);
    }

    [Fact]
    public async Task Schedule_pause_resume_and_remove()
    {
        await using var admin = await AdminServer.StartAsync();
        var id = await admin.SendAsync("alice@client.test", "bob@remote.example", "carol@remote.example");
        var bob = id + "-0000";
        var carol = id + "-0001";

        // New envelopes are tried at once (their action has no agent here: a temporary failure).
        await WaitAsync(async () => await AttemptsAsync(admin, bob) >= 1 && await AttemptsAsync(admin, carol) >= 1);

        var paused = await AdminServer.JsonAsync(await admin.PostTargetAsync("v1/pause", bob), HttpStatusCode.OK);
        Assert.Equal(1, paused.GetProperty("matched").GetInt32());
        var listing = await AdminServer.JsonAsync(await admin.Socket.GetAsync("v1/queue?state=paused"), HttpStatusCode.OK);
        Assert.Equal(bob, listing.GetProperty("envelopes")[0].GetProperty("id").GetString());

        var scheduled = await AdminServer.JsonAsync(await admin.PostTargetAsync("v1/schedule", "all"), HttpStatusCode.OK);
        Assert.Equal(1, scheduled.GetProperty("matched").GetInt32());
        Assert.Equal(1, scheduled.GetProperty("skipped").GetInt32());
        await WaitAsync(async () => await AttemptsAsync(admin, carol) >= 2);
        var bobNow = await AdminServer.JsonAsync(await admin.Socket.GetAsync($"v1/envelopes/{bob}"), HttpStatusCode.OK);
        Assert.Equal("paused", bobNow.GetProperty("summary").GetProperty("state").GetString());
        Assert.Equal(1, bobNow.GetProperty("summary").GetProperty("attempts").GetInt32());

        await AdminServer.JsonAsync(await admin.PostTargetAsync("v1/resume", id), HttpStatusCode.OK);
        var resumed = await AdminServer.JsonAsync(await admin.Socket.GetAsync("v1/queue?state=paused"), HttpStatusCode.OK);
        Assert.Equal(0, resumed.GetProperty("total").GetInt32());

        foreach (var side in new[] { "smtp", "mda", "mta" })
        {
            await AdminServer.JsonAsync(await admin.PostTargetAsync("v1/pause", side), HttpStatusCode.OK);
        }

        var status = await AdminServer.JsonAsync(await admin.Socket.GetAsync("v1/status"), HttpStatusCode.OK);
        Assert.True(status.GetProperty("smtpPaused").GetBoolean());
        Assert.True(status.GetProperty("mdaPaused").GetBoolean());
        Assert.True(status.GetProperty("mtaPaused").GetBoolean());
        await using (var refused = await admin.Server.ConnectAsync())
        {
            Assert.Equal(421, (await refused.ReadReplyAsync()).Code);
        }

        foreach (var side in new[] { "smtp", "mda", "mta" })
        {
            await AdminServer.JsonAsync(await admin.PostTargetAsync("v1/resume", side), HttpStatusCode.OK);
        }

        await WaitAsync(async () =>
        {
            await admin.PostTargetAsync("v1/remove", id);
            var left = await AdminServer.JsonAsync(await admin.Socket.GetAsync("v1/queue"), HttpStatusCode.OK);
            return left.GetProperty("total").GetInt32() == 0;
        });
        Assert.Empty(admin.Server.Committed());
        await AdminServer.JsonAsync(await admin.PostTargetAsync("v1/remove", id), HttpStatusCode.NotFound);
    }

    [Theory]
    [InlineData("v1/envelopes/nothex", HttpStatusCode.BadRequest)]
    [InlineData("v1/envelopes/0193a1b2c3d4e5f6-0002", HttpStatusCode.NotFound)]
    [InlineData("v1/messages/..%2F..%2Fetc%2Fpasswd", HttpStatusCode.BadRequest)]
    [InlineData("v1/messages/0193a1b2c3d4e5f6", HttpStatusCode.NotFound)]
    [InlineData("v1/queue?color=red", HttpStatusCode.BadRequest)]
    [InlineData("v1/queue?state=sleeping", HttpStatusCode.BadRequest)]
    [InlineData("v1/queue?minAge=forever", HttpStatusCode.BadRequest)]
    [InlineData("v1/queue?limit=0", HttpStatusCode.BadRequest)]
    [InlineData("v1/queue?limit=-1", HttpStatusCode.BadRequest)]
    [InlineData("v1/queue?sender=a&sender=b", HttpStatusCode.BadRequest)]
    [InlineData("v1/nothing", HttpStatusCode.NotFound)]
    [InlineData("v1/schedule", HttpStatusCode.MethodNotAllowed)]
    public async Task Bad_requests_get_json_errors(string path, HttpStatusCode expected)
    {
        await using var admin = await AdminServer.StartAsync();
        var error = await AdminServer.JsonAsync(await admin.Socket.GetAsync(path), expected);
        Assert.False(string.IsNullOrEmpty(error.GetProperty("error").GetString()));
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));

        // The server is unharmed.
        await AdminServer.JsonAsync(await admin.Socket.GetAsync("v1/status"), HttpStatusCode.OK);
    }

    [Theory]
    [InlineData("v1/schedule", "", HttpStatusCode.BadRequest)]
    [InlineData("v1/schedule", "{", HttpStatusCode.BadRequest)]
    [InlineData("v1/schedule", "[]", HttpStatusCode.BadRequest)]
    [InlineData("v1/schedule", "null", HttpStatusCode.BadRequest)]
    [InlineData("v1/schedule", "{\"target\":\"all\",\"extra\":1}", HttpStatusCode.BadRequest)]
    [InlineData("v1/schedule", "{\"target\":\"smtp\"}", HttpStatusCode.BadRequest)]
    [InlineData("v1/remove", "{\"target\":\"../../x\"}", HttpStatusCode.BadRequest)]
    [InlineData("v1/remove", "{\"target\":42}", HttpStatusCode.BadRequest)]
    [InlineData("v1/pause", "{\"target\":\"everything\"}", HttpStatusCode.BadRequest)]
    [InlineData("v1/pause", "{\"target\":\"0193a1b2c3d4e5f6-0002\"}", HttpStatusCode.NotFound)]
    [InlineData("v1/reload", "{}", HttpStatusCode.Conflict)]
    [InlineData("v1/tables/users/update", "{}", HttpStatusCode.NotFound)]
    public async Task Bad_bodies_get_json_errors(string path, string body, HttpStatusCode expected)
    {
        await using var admin = await AdminServer.StartAsync();
        var error = await AdminServer.JsonAsync(await admin.PostAsync(path, body), expected);
        Assert.False(string.IsNullOrEmpty(error.GetProperty("error").GetString()));
        await AdminServer.JsonAsync(await admin.Socket.GetAsync("v1/status"), HttpStatusCode.OK);
    }

    [Fact]
    public async Task Oversized_body_is_refused()
    {
        await using var admin = await AdminServer.StartAsync();
        var body = "{\"target\":\"" + new string('a', 100_000) + "\"}";
        var response = await admin.PostAsync("v1/schedule", body);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        await AdminServer.JsonAsync(await admin.Socket.GetAsync("v1/status"), HttpStatusCode.OK);
    }

    [Fact]
    public async Task Log_level_switches_between_verbose_and_brief()
    {
        await using var admin = await AdminServer.StartAsync();
        var put = (string level) => admin.Socket.PutAsJsonAsync("v1/log", new LogLevelRequest(level), AdminJsonContext.Default.LogLevelRequest);
        Assert.Equal("debug", (await AdminServer.JsonAsync(await put("verbose"), HttpStatusCode.OK)).GetProperty("level").GetString());
        Assert.Equal("debug", (await AdminServer.JsonAsync(await admin.Socket.GetAsync("v1/log"), HttpStatusCode.OK)).GetProperty("level").GetString());
        Assert.Equal("information", (await AdminServer.JsonAsync(await put("brief"), HttpStatusCode.OK)).GetProperty("level").GetString());
        Assert.Equal("warning", (await AdminServer.JsonAsync(await put("Warning"), HttpStatusCode.OK)).GetProperty("level").GetString());
        await AdminServer.JsonAsync(await put("loud"), HttpStatusCode.BadRequest);
        await AdminServer.JsonAsync(await put("3"), HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Stats_count_sessions_and_the_queue()
    {
        await using var admin = await AdminServer.StartAsync();
        await admin.SendAsync("alice@client.test", "bob@remote.example");

        // The scheduler learns of a committed message through its channel, just after the 250.
        var stats = await AdminServer.JsonAsync(await admin.Socket.GetAsync("v1/stats"), HttpStatusCode.OK);
        for (var i = 0; i < 100 && stats.GetProperty("queueEnvelopes").GetInt32() == 0; i++)
        {
            await Task.Delay(20);
            stats = await AdminServer.JsonAsync(await admin.Socket.GetAsync("v1/stats"), HttpStatusCode.OK);
        }

        Assert.Equal(1, stats.GetProperty("queueEnvelopes").GetInt32());
        var counters = stats.GetProperty("counters");
        Assert.Equal(1, counters.GetProperty("smtpd_messages_accepted_total{listener=\"mx\"}").GetDouble());
        Assert.True(counters.GetProperty("smtpd_commands_total{command=\"RCPT\"}").GetDouble() >= 1);
    }

    [Fact]
    public async Task Admin_calls_answer_loopback_on_the_http_address()
    {
        await using var admin = await AdminServer.StartAsync();
        await AdminServer.JsonAsync(await admin.Http.GetAsync("v1/status"), HttpStatusCode.OK);
    }

    /// <summary>The envelope's attempts once no attempt is in flight (0 while one is).</summary>
    internal static async Task<int> AttemptsAsync(AdminServer admin, string id)
    {
        var e = await AdminServer.JsonAsync(await admin.Socket.GetAsync($"v1/envelopes/{id}"), HttpStatusCode.OK);
        var summary = e.GetProperty("summary");
        return summary.GetProperty("state").GetString() == "inflight" ? 0 : summary.GetProperty("attempts").GetInt32();
    }

    internal static async Task WaitAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting");
            await Task.Delay(50);
        }
    }
}
