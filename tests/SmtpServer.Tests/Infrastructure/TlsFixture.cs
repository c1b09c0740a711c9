using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using SmtpServer.Auth;
using SmtpServer.Configuration;
using SmtpServer.Testing;

namespace SmtpServer.Tests.Infrastructure;

/// <summary>
/// A test certificate (made now, PEM in a temp directory) and a credentials table with
/// alice/alice-pw ($6$) and bob/bob-pw (bcrypt), plus helpers to configure a TLS/AUTH listener.
/// </summary>
internal sealed class TlsFixture : IDisposable
{
    public TlsFixture()
    {
        (CertificatePath, KeyPath) = TestCertificates.Write(Directory.Path);
        CredentialsPath = Directory.Combine("credentials");
        File.WriteAllText(CredentialsPath,
            $"# test users\nalice:{Sha512Crypt.Crypt("alice-pw", "$6$rounds=1000$alicesalt")}\nbob:{BCrypt.Net.BCrypt.HashPassword("bob-pw", 4)}\n");
    }

    public TempDirectory Directory { get; } = new("smtpd-tls");

    public string CertificatePath { get; }

    public string KeyPath { get; }

    public string CredentialsPath { get; }

    public ListenerTlsSettings Tls(TlsMode mode = TlsMode.StartTls, bool required = false) =>
        new() { Mode = mode, CertificatePath = CertificatePath, KeyPath = KeyPath, Required = required || mode == TlsMode.Implicit };

    public static ListenerAuthSettings Auth(AuthMode mode = AuthMode.Optional) => new() { Mode = mode, CredentialsTable = "users" };

    /// <summary>Settings with the credentials table and the first listener changed by <paramref name="listener"/>.</summary>
    public Func<ServerSettings, ServerSettings> Configure(Func<ListenerSettings, ListenerSettings> listener) =>
        s => s with
        {
            Tables = new Dictionary<string, TableSettings>(StringComparer.OrdinalIgnoreCase)
            {
                ["users"] = new FileTableSettings { Name = "users", Path = CredentialsPath, Format = "credentials" },
            },
            Listeners = [listener(s.Listeners[0])],
        };

    public void Dispose() => Directory.Dispose();

    /// <summary>A raw client on a socket whose stream can later be wrapped in TLS.</summary>
    public static async Task<RawConnection> ConnectAsync(System.Net.IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint);
        var stream = new NetworkStream(socket, ownsSocket: true);
        return new RawConnection(stream);
    }

    internal sealed class RawConnection(NetworkStream stream) : IAsyncDisposable
    {
        public NetworkStream Network { get; } = stream;

        public SslStream? Ssl { get; private set; }

        public SmtpTestClient Client { get; private set; } =
            new(PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true)), PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true)));

        /// <summary>The client side of the handshake; replaces <see cref="Client"/> with one over TLS.</summary>
        public async Task<X509Certificate2> HandshakeAsync(string targetHost = TestSettings.Hostname, X509Certificate2? clientCertificate = null)
        {
            Ssl = new SslStream(Network, leaveInnerStreamOpen: true);
            await Ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = targetHost,
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
                ClientCertificates = clientCertificate is null ? null : [clientCertificate],
            });
            Client = new SmtpTestClient(PipeReader.Create(Ssl, new StreamPipeReaderOptions(leaveOpen: true)), PipeWriter.Create(Ssl, new StreamPipeWriterOptions(leaveOpen: true)));
            return new X509Certificate2(Ssl.RemoteCertificate!);
        }

        public async ValueTask DisposeAsync()
        {
            if (Ssl is not null)
            {
                await Ssl.DisposeAsync();
            }

            await Network.DisposeAsync();
        }
    }
}
