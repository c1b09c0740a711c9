using System.Text;
using SmtpServer.Auth;
using SmtpServer.Configuration;
using SmtpServer.Protocol;

namespace SmtpServer.Smtp;

/// <summary>
/// AUTH (RFC 4954) with PLAIN (RFC 4616) and LOGIN, each with or without an initial response.
/// Offered only under TLS unless the (loopback) listener sets auth.allowPlaintext. Failures are
/// slowed and counted per client IP (<see cref="AuthThrottle"/>); passwords are never logged.
/// </summary>
internal sealed partial class SmtpSession
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private string? _authenticatedUser;
    private AuthExchange? _auth;

    private bool AuthConfigured => _listener.Auth is { Mode: not AuthMode.None } && _security.Credentials is not null;

    /// <summary>AUTH is advertised and accepted now (RFC 4954 §4: not before TLS, unless allowed).</summary>
    private bool AuthAvailable => AuthConfigured && (_tls is not null || _listener.Auth!.AllowPlaintext);

    private static bool IsAuthLine(ReadOnlySpan<byte> line) => SmtpCommandParser.ParseVerb(line, out _) == SmtpVerb.Auth;

    private async ValueTask<SmtpReply?> AuthAsync(ReadOnlyMemory<byte> arguments)
    {
        if (!AuthConfigured)
        {
            return NotImplemented;
        }

        if (_helo is null || !_extended)
        {
            return new SmtpReply(503, "5.5.1", "Error: send EHLO first");
        }

        if (_authenticatedUser is not null)
        {
            return new SmtpReply(503, "5.5.1", "Already authenticated");
        }

        if (_transaction is not null)
        {
            return new SmtpReply(503, "5.5.1", "AUTH not permitted during a mail transaction");
        }

        if (!AuthAvailable)
        {
            return EncryptionRequired;
        }

        if (_security.Throttle!.LockedUntil(ClientAddress) is not null)
        {
            _closeReason = "auth-lockout";
            return TooManyFailures;
        }

        var text = Encoding.ASCII.GetString(arguments.Span).Trim();
        var space = text.IndexOf(' ', StringComparison.Ordinal);
        var mechanism = space < 0 ? text : text[..space];
        var initial = space < 0 ? null : text[(space + 1)..].Trim();
        if (mechanism.Length == 0)
        {
            return new SmtpReply(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
        }

        if (mechanism.Equals("PLAIN", StringComparison.OrdinalIgnoreCase))
        {
            if (initial is null)
            {
                _auth = new AuthExchange(Mechanism.Plain);
                return Challenge(string.Empty);
            }

            return await PlainAsync(initial).ConfigureAwait(false);
        }

        if (mechanism.Equals("LOGIN", StringComparison.OrdinalIgnoreCase))
        {
            _auth = new AuthExchange(Mechanism.Login);
            if (initial is null)
            {
                return Challenge("VXNlcm5hbWU6"); // "Username:"
            }

            return LoginUser(initial);
        }

        return new SmtpReply(504, "5.5.4", "Unrecognized authentication mechanism");
    }

    /// <summary>A line read while a SASL exchange is in progress.</summary>
    private async ValueTask AuthResponseAsync(ReadOnlyMemory<byte> line)
    {
        var exchange = _auth!;
        var text = Encoding.ASCII.GetString(line.Span).Trim();
        SmtpReply? reply;
        if (text == "*")
        {
            // RFC 4954 §4: the client cancels.
            _auth = null;
            reply = new SmtpReply(501, "5.5.2", "Authentication cancelled");
        }
        else if (exchange.Mechanism == Mechanism.Plain)
        {
            reply = await PlainAsync(text).ConfigureAwait(false);
        }
        else if (exchange.User is null)
        {
            reply = LoginUser(text);
        }
        else
        {
            _auth = null;
            reply = Decode(text, out var password) ?? await CheckAsync(exchange.User, password!, authorizationId: null).ConfigureAwait(false);
        }

        if (reply is null)
        {
            return;
        }

        if (reply.Code >= 500)
        {
            await ReplyErrorAsync(reply, "AUTH <response>").ConfigureAwait(false);
        }
        else
        {
            await WriteReplyAsync(reply).ConfigureAwait(false);
        }
    }

    private async ValueTask<SmtpReply?> PlainAsync(string response)
    {
        _auth = null;
        if (Decode(response, out var message) is { } bad)
        {
            return bad;
        }

        // RFC 4616 §2: [authzid] NUL authcid NUL passwd.
        var parts = message!.Split('\0');
        if (parts.Length != 3 || parts[1].Length == 0)
        {
            return BadResponse;
        }

        return await CheckAsync(parts[1], parts[2], parts[0]).ConfigureAwait(false);
    }

    private SmtpReply? LoginUser(string response)
    {
        var bad = Decode(response, out var user);
        if (bad is not null || user!.Length == 0)
        {
            _auth = null;
            return bad ?? BadResponse;
        }

        _auth = new AuthExchange(Mechanism.Login) { User = user };
        return Challenge("UGFzc3dvcmQ6"); // "Password:"
    }

    private async ValueTask<SmtpReply> CheckAsync(string user, string password, string? authorizationId)
    {
        string? authenticated;
        try
        {
            // bcrypt costs tens of milliseconds of CPU: off the connection's I/O path.
            authenticated = await Task.Run(() => _security.Credentials!.Authenticate(user, password)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            AuthLog.TableUnavailable(_logger, Id, ex);
            return new SmtpReply(454, "4.7.0", "Temporary authentication failure");
        }

        // Acting for another identity (an authzid that is not the user) is not supported.
        if (authenticated is not null && !string.IsNullOrEmpty(authorizationId) && !authorizationId.Equals(user, StringComparison.OrdinalIgnoreCase))
        {
            authenticated = null;
        }

        var shown = UserForLog(user);
        if (authenticated is not null)
        {
            _authenticatedUser = authenticated;
            _security.Throttle!.Succeed(ClientAddress);
            AuthLog.Result(_logger, Id, shown, "ok");
            _services.Metrics.Auth("ok");
            return new SmtpReply(235, "2.7.0", "Authentication successful");
        }

        AuthLog.Result(_logger, Id, shown, "permfail");
        _services.Metrics.Auth("permfail");
        var (delay, lockedOut, failures) = _security.Throttle!.Fail(ClientAddress);
        if (lockedOut)
        {
            AuthLog.Lockout(_logger, Id, ClientAddress?.ToString() ?? "local", failures, _services.Time.GetUtcNow() + _listener.Auth!.Lockout);
            _closeReason = "auth-lockout";
            return TooManyFailures;
        }

        if (delay > TimeSpan.Zero)
        {
            await Task.Delay(delay, _services.Time, _connection.ConnectionClosed).ConfigureAwait(false);
        }

        return InvalidCredentials;
    }

    private static SmtpReply? Decode(string base64, out string? text)
    {
        text = null;
        if (base64 == "=")
        {
            // RFC 4954 §4: "=" is an empty initial response.
            text = string.Empty;
            return null;
        }

        var bytes = new byte[(base64.Length / 4 * 3) + 3];
        if (base64.Length == 0 || !Convert.TryFromBase64String(base64, bytes, out var written))
        {
            return BadResponse;
        }

        try
        {
            text = StrictUtf8.GetString(bytes, 0, written);
            return null;
        }
        catch (DecoderFallbackException)
        {
            return BadResponse;
        }
        finally
        {
            Array.Clear(bytes);
        }
    }

    private SmtpReply? Challenge(string base64)
    {
        // Written directly: "334 " keeps its space even when the challenge is empty (RFC 4954 §4).
        System.Buffers.BuffersExtensions.Write(_output, Encoding.ASCII.GetBytes($"334 {base64}\r\n"));
        _state = SessionState.ReadingAuthResponse;
        return null;
    }

    /// <summary>A user name as the client sent it, safe for a log line.</summary>
    private static string UserForLog(string user)
    {
        var shown = user.Length > 64 ? user[..64] : user;
        return string.Create(shown.Length, shown, static (span, t) =>
        {
            for (var i = 0; i < t.Length; i++)
            {
                span[i] = t[i] is < ' ' or > '~' or ' ' ? '?' : t[i];
            }
        });
    }

    private enum Mechanism
    {
        Plain,
        Login,
    }

    private sealed record AuthExchange(Mechanism Mechanism)
    {
        public string? User { get; init; }
    }

    private static readonly SmtpReply EncryptionRequired = new(538, "5.7.11", "Encryption required for requested authentication mechanism");
    private static readonly SmtpReply InvalidCredentials = new(535, "5.7.8", "Authentication credentials invalid");
    private static readonly SmtpReply BadResponse = new(501, "5.5.2", "Cannot decode response");
    private static readonly SmtpReply TooManyFailures = new(421, "4.7.0", "Too many authentication failures, closing connection");
}
