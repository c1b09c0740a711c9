using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace SmtpServer.Metrics;

/// <summary>
/// A small Prometheus text-format (0.0.4) exporter for one <see cref="Meter"/>: a
/// <see cref="MeterListener"/> sums counters, keeps the last value of gauges and buckets
/// histograms, per label set. Names follow Prometheus: dots become underscores, the unit is a
/// suffix (<c>_seconds</c>, <c>_bytes</c>), counters end in <c>_total</c>.
/// </summary>
internal sealed class PrometheusExporter : IDisposable
{
    /// <summary>Histogram buckets in seconds, from a local delivery to a slow remote MX.</summary>
    private static readonly double[] Buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<Instrument, Series> _series = new();
    private readonly Lock _scrape = new();

    public PrometheusExporter(Meter meter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter))
            {
                _series.TryAdd(instrument, new Series(instrument));
                listener.EnableMeasurementEvents(instrument, _series[instrument]);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, state) => ((Series)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<double>((_, value, tags, state) => ((Series)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<int>((_, value, tags, state) => ((Series)state!).Record(value, tags));
        _listener.Start();
    }

    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>Every series as "name{labels}" → value (histograms as _count and _sum), for <c>show stats</c>.</summary>
    public IReadOnlyDictionary<string, double> Snapshot()
    {
        var result = new SortedDictionary<string, double>(StringComparer.Ordinal);
        lock (_scrape)
        {
            _listener.RecordObservableInstruments();
            foreach (var series in _series.Values)
            {
                foreach (var (labels, point) in series.Points)
                {
                    var suffix = labels.Length == 0 ? string.Empty : "{" + labels + "}";
                    if (series.IsHistogram)
                    {
                        result[series.Name + "_count" + suffix] = point.Count;
                        result[series.Name + "_sum" + suffix] = point.Value;
                    }
                    else
                    {
                        result[series.Name + suffix] = point.Value;
                    }
                }
            }
        }

        return result;
    }

    public string Render()
    {
        var text = new StringBuilder();
        lock (_scrape)
        {
            _listener.RecordObservableInstruments();
            foreach (var series in _series.Values.OrderBy(s => s.Name, StringComparer.Ordinal))
            {
                series.Render(text);
            }
        }

        return text.ToString();
    }

    public void Dispose() => _listener.Dispose();

    private sealed class Series
    {
        private readonly Instrument _instrument;

        public Series(Instrument instrument)
        {
            _instrument = instrument;
            IsHistogram = instrument is Histogram<double> or Histogram<long> or Histogram<int>;
            IsGauge = instrument is ObservableGauge<long> or ObservableGauge<double> or ObservableGauge<int> or Gauge<long> or Gauge<double>;
            var isCounter = !IsHistogram && !IsGauge && instrument.GetType().Name.StartsWith("Counter", StringComparison.Ordinal);
            var name = instrument.Name.Replace('.', '_').Replace('-', '_');
            name += instrument.Unit switch
            {
                "s" => "_seconds",
                "By" => "_bytes",
                _ => string.Empty,
            };
            Name = isCounter ? name + "_total" : name;
            Type = IsHistogram ? "histogram" : isCounter ? "counter" : "gauge";
        }

        public string Name { get; }

        public string Type { get; }

        public bool IsHistogram { get; }

        public bool IsGauge { get; }

        public ConcurrentDictionary<string, Point> Points { get; } = new(StringComparer.Ordinal);

        /// <summary>Label text per single string tag (a verb, a code, a listener): built once per value.</summary>
        private readonly ConcurrentDictionary<(string Key, string? Value), string> _labels1 = new();

        /// <summary>Label text per pair of string tags (action and result), in the order the caller gave them.</summary>
        private readonly ConcurrentDictionary<(string Key1, string? Value1, string Key2, string? Value2), string> _labels2 = new();

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var point = Points.GetOrAdd(CachedLabels(tags), static (_, histogram) => new Point(histogram ? Buckets.Length : 0), IsHistogram);
            lock (point)
            {
                if (IsGauge)
                {
                    point.Value = value;
                }
                else
                {
                    point.Value += value;
                }

                if (IsHistogram)
                {
                    point.Count++;
                    for (var i = 0; i < Buckets.Length; i++)
                    {
                        if (value <= Buckets[i])
                        {
                            point.BucketCounts[i]++;
                        }
                    }
                }
            }
        }

        public void Render(StringBuilder text)
        {
            if (_instrument.Description is { Length: > 0 } help)
            {
                text.Append("# HELP ").Append(Name).Append(' ').Append(help.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)).Append('\n');
            }

            text.Append("# TYPE ").Append(Name).Append(' ').Append(Type).Append('\n');
            foreach (var (labels, point) in Points.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                lock (point)
                {
                    if (!IsHistogram)
                    {
                        Sample(text, Name, labels, point.Value);
                        continue;
                    }

                    for (var i = 0; i < Buckets.Length; i++)
                    {
                        Sample(text, Name + "_bucket", Join(labels, "le=\"" + Number(Buckets[i]) + "\""), point.BucketCounts[i]);
                    }

                    Sample(text, Name + "_bucket", Join(labels, "le=\"+Inf\""), point.Count);
                    Sample(text, Name + "_sum", labels, point.Value);
                    Sample(text, Name + "_count", labels, point.Count);
                }
            }
        }

        private static void Sample(StringBuilder text, string name, string labels, double value)
        {
            text.Append(name);
            if (labels.Length > 0)
            {
                text.Append('{').Append(labels).Append('}');
            }

            text.Append(' ').Append(Number(value)).Append('\n');
        }

        private static string Join(string labels, string extra) => labels.Length == 0 ? extra : labels + "," + extra;

        /// <summary>
        /// <see cref="Labels"/>, remembered per tag combination so that recording allocates nothing
        /// once a combination was seen (label values are a bounded set). Only string and null
        /// values are cached: their text is the value itself, so equal keys give equal labels.
        /// </summary>
        private string CachedLabels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            switch (tags.Length)
            {
                case 0:
                    return string.Empty;
                case 1 when tags[0].Value is string or null:
                {
                    var key = (tags[0].Key, (string?)tags[0].Value);
                    if (!_labels1.TryGetValue(key, out var labels))
                    {
                        labels = _labels1.GetOrAdd(key, Labels(tags));
                    }

                    return labels;
                }

                case 2 when tags[0].Value is string or null && tags[1].Value is string or null:
                {
                    var key = (tags[0].Key, (string?)tags[0].Value, tags[1].Key, (string?)tags[1].Value);
                    if (!_labels2.TryGetValue(key, out var labels))
                    {
                        labels = _labels2.GetOrAdd(key, Labels(tags));
                    }

                    return labels;
                }

                default:
                    return Labels(tags);
            }
        }

        private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (tags.Length == 0)
            {
                return string.Empty;
            }

            var sorted = tags.ToArray();
            Array.Sort(sorted, (a, b) => string.CompareOrdinal(a.Key, b.Key));
            var text = new StringBuilder();
            foreach (var (key, value) in sorted)
            {
                if (text.Length > 0)
                {
                    text.Append(',');
                }

                text.Append(key.Replace('.', '_')).Append("=\"");
                foreach (var c in Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty)
                {
                    _ = c switch
                    {
                        '\\' => text.Append("\\\\"),
                        '"' => text.Append("\\\""),
                        '\n' => text.Append("\\n"),
                        _ => text.Append(c),
                    };
                }

                text.Append('"');
            }

            return text.ToString();
        }
    }

    private sealed class Point(int buckets)
    {
        public double Value { get; set; }

        public long Count { get; set; }

        public long[] BucketCounts { get; } = new long[buckets];
    }

    internal static string Number(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf" : double.IsNegativeInfinity(value) ? "-Inf" : double.IsNaN(value) ? "NaN" : value.ToString("R", CultureInfo.InvariantCulture);
}
