using System.Diagnostics;
using System.Diagnostics.Metrics;
using SmtpServer.Core.Delivery;

namespace SmtpServer.Core.Scheduling;

/// <summary>
/// Delivery instruments on the host's <see cref="Meter"/> (STYLE.md §9 item 14): attempts by
/// action and result, and how long each agent call took. Labels are bounded: action names come
/// from the configuration, results from <see cref="DeliveryStatus"/>.
/// </summary>
internal sealed class SchedulerMetrics
{
    private readonly Counter<long> _deliveries;
    private readonly Histogram<double> _duration;

    public SchedulerMetrics(Meter meter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        _deliveries = meter.CreateCounter<long>("smtpd.deliveries", description: "Delivery attempts per recipient, by action and result");
        _duration = meter.CreateHistogram<double>("smtpd.delivery.duration", unit: "s", description: "Time from the start of an agent call to a recipient's result");
    }

    public void Delivered(string action, DeliveryStatus status, TimeSpan duration)
    {
        var result = status switch
        {
            DeliveryStatus.Delivered => "ok",
            DeliveryStatus.PermanentFailure => "permfail",
            _ => "tempfail",
        };
        var tags = new TagList { { "action", action }, { "result", result } };
        _deliveries.Add(1, tags);
        _duration.Record(Math.Max(0, duration.TotalSeconds), tags);
    }
}
