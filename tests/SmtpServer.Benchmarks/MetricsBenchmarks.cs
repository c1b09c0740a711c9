using BenchmarkDotNet.Attributes;
using SmtpServer.Metrics;
using SmtpServer.Protocol;

namespace SmtpServer.Benchmarks;

/// <summary>Counting a command and its reply, as every SMTP command does, must not allocate once the labels were seen.</summary>
[MemoryDiagnoser]
public class MetricsBenchmarks : IDisposable
{
    private readonly SmtpMetrics _metrics = new();
    private readonly PrometheusExporter _exporter;

    public MetricsBenchmarks() => _exporter = new PrometheusExporter(_metrics.Meter);

    [Benchmark]
    public void CommandAndReply()
    {
        _metrics.Command(SmtpVerb.Rcpt);
        _metrics.Reply(250);
    }

    public void Dispose()
    {
        _exporter.Dispose();
        _metrics.Dispose();
    }
}
