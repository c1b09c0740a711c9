namespace SmtpServer.Protocol;

/// <summary>Outcome of <see cref="DataReader.Read"/> and <see cref="BdatReader.Read"/>.</summary>
internal enum DataReadResult
{
    /// <summary>Everything offered was consumed; call again with more bytes.</summary>
    NeedMoreData,

    /// <summary>The end of the data (DATA terminator, or the end of the BDAT chunk) was reached; check Error.</summary>
    Completed,
}
