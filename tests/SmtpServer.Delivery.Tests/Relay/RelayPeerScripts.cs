using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using SmtpServer.Testing;

namespace SmtpServer.Delivery.Tests.Relay;

/// <summary>Pieces of scripted SMTP peers shared by the relay tests.</summary>
internal static class RelayPeerScripts
{
    public const string Helo = "mx.us.test";

    /// <summary>220, then EHLO answered with these extensions.</summary>
    public static async Task GreetAsync(ScriptedLinePeer.PeerConnection c, params string[] extensions)
    {
        await c.WriteLineAsync("220 peer ESMTP");
        Assert.Equal("EHLO " + Helo, await c.ReadLineAsync());
        await EhloReplyAsync(c, extensions);
    }

    public static async Task EhloReplyAsync(ScriptedLinePeer.PeerConnection c, params string[] extensions)
    {
        var lines = new List<string> { "peer" };
        lines.AddRange(extensions);
        for (var i = 0; i < lines.Count; i++)
        {
            await c.WriteLineAsync((i == lines.Count - 1 ? "250 " : "250-") + lines[i]);
        }
    }

    /// <summary>
    /// Accepts transactions until QUIT (or the client goes away); each accepted message is
    /// reported to <paramref name="delivered"/> with its recipients, and whether it came under TLS.
    /// </summary>
    public static async Task AcceptAllAsync(ScriptedLinePeer.PeerConnection c, Action<AcceptedMessage> delivered)
    {
        var recipients = new List<string>();
        while (true)
        {
            string line;
            try
            {
                line = await c.ReadLineAsync();
            }
            catch (EndOfStreamException)
            {
                return;
            }

            if (line.StartsWith("MAIL FROM:", StringComparison.Ordinal) || line == "RSET")
            {
                recipients.Clear();
                await c.WriteLineAsync("250 2.1.0 ok");
            }
            else if (line.StartsWith("RCPT TO:", StringComparison.Ordinal))
            {
                recipients.Add(line["RCPT TO:".Length..]);
                await c.WriteLineAsync("250 2.1.5 ok");
            }
            else if (line == "DATA")
            {
                await c.WriteLineAsync("354 go");
                var data = await c.ReadDataAsync();

                // Noted before the reply, so that it is there when the client has its answer.
                delivered(new AcceptedMessage([.. recipients], c.IsTls, data));
                await c.WriteLineAsync("250 2.0.0 queued");
            }
            else if (line == "QUIT")
            {
                await c.WriteLineAsync("221 bye");
                return;
            }
            else
            {
                await c.WriteLineAsync("502 5.5.1 not in this script");
            }
        }
    }

    /// <summary>
    /// A peer offering STARTTLS with <paramref name="certificate"/>, accepting every message
    /// under TLS only. What happens is reported to <paramref name="events"/>: "tls refused by
    /// the client" when the client rejected the certificate, "plaintext MAIL" if a client ever
    /// sends mail without TLS.
    /// </summary>
    public static Func<ScriptedLinePeer.PeerConnection, Task> StartTlsPeer(X509Certificate2 certificate, Action<string> events, Action<AcceptedMessage> delivered) => async c =>
    {
        await GreetAsync(c, "8BITMIME", "STARTTLS");
        var command = await c.ReadLineAsync();
        if (command != "STARTTLS")
        {
            events(command.StartsWith("MAIL", StringComparison.Ordinal) ? "plaintext MAIL" : "no STARTTLS: " + command);
            return;
        }

        await c.WriteLineAsync("220 2.0.0 go ahead");
        string ehlo;
        try
        {
            // A client that refuses the certificate may do so during the handshake or right
            // after it (TLS 1.3: the server is done before the client has checked): either way
            // it goes away before saying EHLO again.
            await c.StartTlsAsync(certificate);
            ehlo = await c.ReadLineAsync();
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            events("tls refused by the client");
            return;
        }

        Assert.Equal("EHLO " + Helo, ehlo);
        await EhloReplyAsync(c, "8BITMIME");
        events("tls");
        await AcceptAllAsync(c, delivered);
    };

    /// <summary>One message as the peer accepted it.</summary>
    internal sealed record AcceptedMessage(IReadOnlyList<string> Recipients, bool Tls, string Data);
}
