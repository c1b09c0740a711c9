namespace SmtpServer.Core.Routing;

/// <summary>The <c>format:</c> of a file table.</summary>
internal enum TableFormat
{
    /// <summary>One key per line.</summary>
    List,

    /// <summary><c>key value</c> or <c>key: value</c> per line.</summary>
    Map,

    /// <summary>aliases(5): <c>key: value, value, …</c>, continuation lines start with white space.</summary>
    Aliases,

    /// <summary><c>user:hash</c> (or <c>user hash</c>) per line.</summary>
    Credentials,

    /// <summary>One IP address or CIDR network per line.</summary>
    Netaddr,
}

/// <summary>A line of a table file the parser skipped, and why.</summary>
internal sealed record TableProblem(int Line, string Message);
