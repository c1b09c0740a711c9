using Microsoft.Extensions.Time.Testing;
using SmtpServer.Core.Queue;

namespace SmtpServer.Core.Tests.Queue;

public sealed class QueueIdTests
{
    [Fact]
    public void Burst_of_ten_thousand_ids_is_unique_and_sorted_in_the_same_millisecond()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddYears(55));
        AssertUniqueAndSorted([.. Enumerable.Range(0, 10_000).Select(_ => QueueId.New(time))]);
    }

    [Fact]
    public void Burst_of_ten_thousand_ids_is_unique_and_sorted_on_the_system_clock()
    {
        AssertUniqueAndSorted([.. Enumerable.Range(0, 10_000).Select(_ => QueueId.New(TimeProvider.System))]);
    }

    [Fact]
    public async Task Ids_from_many_threads_are_unique()
    {
        var ids = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => Enumerable.Range(0, 2_000).Select(_ => QueueId.New(TimeProvider.System)).ToArray())));
        var all = ids.SelectMany(x => x).ToArray();
        Assert.Equal(all.Length, all.Distinct().Count());
    }

    [Fact]
    public void Envelope_ids_format_parse_and_sort()
    {
        var message = QueueId.New(TimeProvider.System);
        var id = new EnvelopeId(message, 0x2a);
        Assert.Equal($"{message}-002a", id.ToString());
        Assert.True(EnvelopeId.TryParse(id.ToString(), out var parsed));
        Assert.Equal(id, parsed);
        Assert.True(new EnvelopeId(message, 1).CompareTo(new EnvelopeId(message, 2)) < 0);
        Assert.False(EnvelopeId.TryParse($"{message}-002A", out _));
        Assert.False(EnvelopeId.TryParse($"{message}_002a", out _));
        Assert.False(EnvelopeId.TryParse("../../etc/passwd-0001", out _));
    }

    private static void AssertUniqueAndSorted(QueueId[] ids)
    {
        Assert.Equal(ids.Length, ids.Distinct().Count());
        Assert.Equal(ids, ids.Order());
        var text = ids.Select(i => i.ToString()).ToArray();
        Assert.Equal(text, text.Order(StringComparer.Ordinal));
        var set = ids.ToHashSet();
        Assert.All(text, t => Assert.True(QueueId.TryParse(t, out var back) && set.Contains(back)));
    }
}
