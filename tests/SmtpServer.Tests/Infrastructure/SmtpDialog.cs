using SmtpServer.Testing;

namespace SmtpServer.Tests.Infrastructure;

/// <summary>Short dialogs that reload tests repeat against a host or a process: one message, or one RCPT's answer.</summary>
internal static class SmtpDialog
{
    public const string Sender = "sender@remote.example";

    /// <summary>One message to <paramref name="recipient"/> in a new session; every reply must be a success.</summary>
    public static async Task SendAsync(Func<Task<SmtpTestClient>> connect, string recipient)
    {
        await using var client = await StartAsync(connect);
        Assert.Equal(250, (await client.CommandAsync($"RCPT TO:<{recipient}>")).Code);
        Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await client.CommandAsync("Subject: test\r\n\r\nhello\r\n.")).Code);
        await client.CommandAsync("QUIT");
    }

    /// <summary>A new session's answer to one RCPT.</summary>
    public static async Task<int> RcptAsync(Func<Task<SmtpTestClient>> connect, string recipient)
    {
        await using var client = await StartAsync(connect);
        var code = (await client.CommandAsync($"RCPT TO:<{recipient}>")).Code;
        await client.CommandAsync("QUIT");
        return code;
    }

    /// <summary>Connected, greeted, EHLO and MAIL FROM accepted.</summary>
    private static async Task<SmtpTestClient> StartAsync(Func<Task<SmtpTestClient>> connect)
    {
        var client = await connect();
        Assert.Equal(220, (await client.ReadReplyAsync()).Code);
        Assert.Equal(250, (await client.CommandAsync("EHLO client.test")).Code);
        Assert.Equal(250, (await client.CommandAsync($"MAIL FROM:<{Sender}>")).Code);
        return client;
    }
}
