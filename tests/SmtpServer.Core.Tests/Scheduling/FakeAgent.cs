using System.Collections.Concurrent;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;

namespace SmtpServer.Core.Tests.Scheduling;

/// <summary>An agent whose answers the test chooses; it records every call with the (fake) time it came, and its disposal.</summary>
internal sealed class FakeAgent(string action, bool isLocal, TimeProvider time) : IDeliveryAgent, IAsyncDisposable
{
    private int _concurrent;
    private int _maxConcurrent;

    public string Action { get; } = action;

    public bool IsLocal { get; } = isLocal;

    public Func<DeliveryRequest, CancellationToken, Task<IReadOnlyList<DeliveryResult>>> Behavior { get; set; } =
        (request, _) => Task.FromResult(Ok(request));

    public Func<EnvelopeRecord, string> Destination { get; set; } = envelope => envelope.Recipient.Domain;

    public ConcurrentQueue<Call> Calls { get; } = new();

    public int MaxConcurrent => Volatile.Read(ref _maxConcurrent);

    /// <summary>Calls in progress now.</summary>
    public int Concurrent => Volatile.Read(ref _concurrent);

    /// <summary>Completed when the scheduler disposed the agent; counts disposals.</summary>
    public TaskCompletionSource Disposed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int DisposeCount { get; private set; }

    public IReadOnlyList<DateTimeOffset> CallTimes => [.. Calls.Select(c => c.At)];

    public string DestinationOf(EnvelopeRecord envelope) => Destination(envelope);

    public async ValueTask<IReadOnlyList<DeliveryResult>> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken)
    {
        // The message as the agent sees it (the file goes once every recipient is done).
        Calls.Enqueue(new Call(time.GetUtcNow(), request, await File.ReadAllBytesAsync(request.MessagePath, cancellationToken)));
        var now = Interlocked.Increment(ref _concurrent);
        int max;
        while (now > (max = Volatile.Read(ref _maxConcurrent)) && Interlocked.CompareExchange(ref _maxConcurrent, now, max) != max)
        {
        }

        try
        {
            return await Behavior(request, cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _concurrent);
        }
    }

    public ValueTask DisposeAsync()
    {
        DisposeCount++;
        Disposed.TrySetResult();
        return ValueTask.CompletedTask;
    }

    public static IReadOnlyList<DeliveryResult> Ok(DeliveryRequest request) =>
        [.. request.Recipients.Select(r => DeliveryResult.Ok(r.Id))];

    public static IReadOnlyList<DeliveryResult> Temporary(DeliveryRequest request, string diagnostic = "451 4.4.1 Try again later") =>
        [.. request.Recipients.Select(r => DeliveryResult.Temporary(r.Id, "4.4.1", diagnostic))];

    public static IReadOnlyList<DeliveryResult> Permanent(DeliveryRequest request, string diagnostic = "550 5.1.1 No such user") =>
        [.. request.Recipients.Select(r => DeliveryResult.Permanent(r.Id, "5.1.1", diagnostic) with { RemoteMta = "mx.example.net" })];

    internal sealed record Call(DateTimeOffset At, DeliveryRequest Request, byte[] Message);
}
