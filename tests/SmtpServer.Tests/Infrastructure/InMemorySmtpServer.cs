using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SmtpServer.Configuration;
using SmtpServer.Core.Dns;
using SmtpServer.Core.Queue;
using SmtpServer.Core.Routing;
using SmtpServer.Smtp;
using SmtpServer.Testing;

namespace SmtpServer.Tests.Infrastructure;

/// <summary>
/// The real <see cref="SmtpConnectionHandler"/> over in-memory pipes (Kestrel's
/// InMemory.FunctionalTests, Bedrock's ProtocolTests): no sockets, the real spool in a temp
/// directory, the real rule engine.
/// </summary>
internal sealed class InMemorySmtpServer : IAsyncDisposable
{
    private readonly List<Task> _sessions = [];
    private readonly SmtpConnectionHandler _handler;
    private int _connections;

    public InMemorySmtpServer(
        Func<ServerSettings, ServerSettings>? configure = null,
        TimeProvider? time = null,
        ILoggerFactory? loggerFactory = null,
        Func<FileQueueStore, IQueueStore>? wrapQueue = null,
        IDnsResolver? dns = null)
    {
        Time = time ?? TimeProvider.System;
        Queue = new FileQueueStore(new FileQueueStoreOptions(Spool.Combine("queue")) { MinFreeSpacePercent = 0 }, Time, NullLogger<FileQueueStore>.Instance);
        Settings = TestSettings.Create(Spool.Combine("queue"));
        if (configure is not null)
        {
            Settings = configure(Settings);
        }

        Listener = Settings.Listeners[0];
        QueueStore = wrapQueue is null ? Queue : wrapQueue(Queue);
        Services = new SmtpServices(Settings, QueueStore, Time, loggerFactory ?? NullLoggerFactory.Instance, dns: dns);
        _handler = new SmtpConnectionHandler(Listener, Services);
    }

    public TempDirectory Spool { get; } = new("smtpd-inmem");

    public FileQueueStore Queue { get; }

    /// <summary>The store sessions use (the file store, or a test's wrapper around it).</summary>
    public IQueueStore QueueStore { get; }

    public ServerSettings Settings { get; }

    /// <summary>What the sessions share; a test may swap the settings (live reload).</summary>
    public SmtpServices Services { get; }

    public ListenerSettings Listener { get; }

    public TimeProvider Time { get; }

    /// <summary>The server side of the most recent connection's output, counting flushes.</summary>
    public CountingPipeWriter? LastOutput { get; private set; }

    /// <summary>Connects a client; the session runs until either side closes.</summary>
    public SmtpTestClient Connect(IPAddress? client = null, IFeatureCollectionSetup? features = null)
    {
        var toServer = new Pipe();
        var toClient = new Pipe();
        var output = new CountingPipeWriter(toClient.Writer);
        LastOutput = output;
        var transport = new DuplexPipe(toServer.Reader, output);
        var application = new DuplexPipe(toClient.Reader, toServer.Writer);
        var id = Interlocked.Increment(ref _connections);
        var context = new DefaultConnectionContext($"test-{id}", transport, application)
        {
            RemoteEndPoint = new IPEndPoint(client ?? IPAddress.Loopback, 40000 + id),
            LocalEndPoint = Listener.EndPoint,
        };
        features?.Apply(context);
        lock (_sessions)
        {
            _sessions.Add(Task.Run(() => _handler.OnConnectedAsync(context)));
        }

        return new SmtpTestClient(toClient.Reader, toServer.Writer);
    }

    /// <summary>Connects and reads the greeting.</summary>
    public async Task<SmtpTestClient> ConnectAndGreetAsync(IPAddress? client = null)
    {
        var c = Connect(client);
        var greeting = await c.ReadReplyAsync();
        Assert.Equal(220, greeting.Code);
        return c;
    }

    public IReadOnlyList<StoredMessage> Committed() => Queue.Load();

    /// <summary>Waits (bounded) until every session so far has ended.</summary>
    public async Task WaitForSessionsAsync()
    {
        Task[] sessions;
        lock (_sessions)
        {
            sessions = [.. _sessions];
        }

        await Task.WhenAll(sessions).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await WaitForSessionsAsync().ConfigureAwait(false);
        Spool.Dispose();
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}

/// <summary>Lets a test add connection features (e.g. a lifetime notification).</summary>
internal interface IFeatureCollectionSetup
{
    void Apply(DefaultConnectionContext context);
}

/// <summary>Settings like the default config: mail for localhost and example.org is local, loopback may relay.</summary>
internal static class TestSettings
{
    public const string Hostname = "mx.test.example";

    public static ServerSettings Create(string queuePath) => new()
    {
        Hostname = Hostname,
        Limits = new SessionLimits(),
        Queue = new QueueSettings { Path = queuePath, MinFreeSpacePercent = 0 },
        Listeners = [new ListenerSettings { Name = "mx", EndPoint = new IPEndPoint(IPAddress.Loopback, 2525) }],

        // Tests that need DNS turn it on with their own server (dns.servers: a dnsmasq).
        ReverseLookup = false,
        Actions = new HashSet<string>(StringComparer.Ordinal) { "local", "outbound" },
        Router = new RuleRouter(
        [
            Rule.Deliver(AnyCondition.Instance, new LocalDestinationCondition([Hostname], []), "local"),
            Rule.Deliver(AnyCondition.Instance, new DomainCondition(new StaticListTable("domains", ["example.org", "*.example.net"])), "local"),
            Rule.Reject(AnyCondition.Instance, new DomainCondition(new StaticListTable("blocked", ["blocked.example"]))),
            Rule.Deliver(LocalSourceCondition.Instance, AnyCondition.Instance, "outbound"),
        ]),
    };
}
