using SmtpServer.Testing;

namespace SmtpServer.Tests.Infrastructure;

/// <summary>One whole SMTP transaction, as the admin and process tests send their mail.</summary>
internal static class TestMail
{
    public const string Body = "Subject: test\r\n\r\nhello admin\r\n.";

    /// <summary>Greeting, EHLO, MAIL, RCPT for each recipient, DATA, QUIT; returns the queue id from the 250.</summary>
    public static async Task<string> SendAsync(SmtpTestClient client, string from, params string[] recipients)
    {
        ArgumentNullException.ThrowIfNull(client);
        Assert.Equal(220, (await client.ReadReplyAsync()).Code);
        Assert.Equal(250, (await client.CommandAsync("EHLO client.test")).Code);
        Assert.Equal(250, (await client.CommandAsync($"MAIL FROM:<{from}>")).Code);
        foreach (var rcpt in recipients)
        {
            Assert.Equal(250, (await client.CommandAsync($"RCPT TO:<{rcpt}>")).Code);
        }

        Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
        var reply = await client.CommandAsync(Body);
        Assert.Equal(250, reply.Code);
        await client.CommandAsync("QUIT");
        return reply.Lines[0].Split(' ')[2];
    }
}
