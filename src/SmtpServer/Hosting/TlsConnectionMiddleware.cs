using System.IO.Pipelines;
using System.Net;
using System.Security.Authentication;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using SmtpServer.Tls;

namespace SmtpServer.Hosting;

/// <summary>
/// Implicit TLS (RFC 8314 §3.3, port 465) as connection middleware, Kestrel's
/// HttpsConnectionMiddleware pattern: the handshake runs on a stream over the transport pipe,
/// then an <see cref="SslStream"/>-backed pipe replaces the transport for the rest of the
/// chain, and <see cref="TlsConnectionInfo"/> tells the session it is under TLS. A failed or
/// slow handshake (bounded by the idle timeout) is logged and closes that connection only.
/// </summary>
internal sealed class TlsConnectionMiddleware(ConnectionDelegate next, TlsServer tls, TimeSpan handshakeTimeout, TimeProvider time, ILogger logger, Metrics.SmtpMetrics? metrics = null)
{
    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        var original = connection.Transport;
        System.Net.Security.SslStream ssl;
        TlsConnectionInfo info;
        using (var timeout = new CancellationTokenSource(handshakeTimeout, time))
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, connection.ConnectionClosed))
        {
            try
            {
                (ssl, info) = await tls.AuthenticateAsync(new DuplexPipeStream(original.Input, original.Output), linked.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException or ConnectionResetException or ConnectionAbortedException)
            {
                var address = (connection.RemoteEndPoint as IPEndPoint)?.Address.ToString() ?? "local";
                metrics?.Tls("failed");
                TlsLog.HandshakeFailed(logger, connection.ConnectionId, address, timeout.IsCancellationRequested ? "timeout" : ex.Message);
                return;
            }
        }

        var input = PipeReader.Create(ssl, new StreamPipeReaderOptions(leaveOpen: true));
        var output = PipeWriter.Create(ssl, new StreamPipeWriterOptions(leaveOpen: true));
        connection.Transport = new TlsDuplexPipe(input, output);
        connection.Features.Set(info);
        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            await output.CompleteAsync().ConfigureAwait(false);
            await input.CompleteAsync().ConfigureAwait(false);
            await ssl.DisposeAsync().ConfigureAwait(false);
            connection.Transport = original;
        }
    }

    private sealed class TlsDuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
