namespace SmtpServer.Cli;

/// <summary>smtpctl's exit codes: scripts may rely on them.</summary>
internal static class ExitCode
{
    public const int Ok = 0;

    /// <summary>The server refused or failed the request, or what was named does not exist.</summary>
    public const int Failed = 1;

    /// <summary>Bad command line.</summary>
    public const int Usage = 2;

    /// <summary>No server answers on the admin socket (and the command needs one).</summary>
    public const int Unreachable = 3;

    /// <summary>The server does not implement this request (HTTP 501).</summary>
    public const int NotImplemented = 4;
}
