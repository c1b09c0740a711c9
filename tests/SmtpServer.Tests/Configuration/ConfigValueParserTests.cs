using SmtpServer.Configuration;

namespace SmtpServer.Tests.Configuration;

public sealed class ConfigValueParserTests
{
    [Theory]
    [InlineData("0", 0L)]
    [InlineData("1000", 1000L)]
    [InlineData("512B", 512L)]
    [InlineData("1KB", 1_000L)]
    [InlineData("1KiB", 1_024L)]
    [InlineData("10MB", 10_000_000L)]
    [InlineData("35MiB", 36_700_160L)]
    [InlineData("35 mib", 36_700_160L)]
    [InlineData("2GB", 2_000_000_000L)]
    [InlineData("2GiB", 2_147_483_648L)]
    [InlineData("1TiB", 1_099_511_627_776L)]
    [InlineData(" 64KiB ", 65_536L)]
    public void Sizes(string text, long expected)
    {
        Assert.True(ConfigValueParser.TryParseSize(text, out var bytes, out var error), error);
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("MiB")]
    [InlineData("35XB")]
    [InlineData("1.5MiB")]
    [InlineData("-1")]
    [InlineData("35 MiB extra")]
    [InlineData("99999999999TiB")]
    public void Bad_sizes(string text)
    {
        Assert.False(ConfigValueParser.TryParseSize(text, out _, out var error));
        Assert.Contains(text.Trim(), error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("300s", 300_000)]
    [InlineData("5m", 300_000)]
    [InlineData("4h", 14_400_000)]
    [InlineData("4d", 345_600_000)]
    [InlineData("1w", 604_800_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("0s", 0)]
    public void Durations(string text, long milliseconds)
    {
        Assert.True(ConfigValueParser.TryParseDuration(text, out var duration, out var error), error);
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), duration);
    }

    [Theory]
    [InlineData("")]
    [InlineData("300")]
    [InlineData("s")]
    [InlineData("5 minutes")]
    [InlineData("4H")]
    [InlineData("-5s")]
    [InlineData("1.5h")]
    [InlineData("00:05:00")]
    [InlineData("99999999999999d")]
    public void Bad_durations(string text)
    {
        Assert.False(ConfigValueParser.TryParseDuration(text, out _, out var error));
        Assert.NotEmpty(error);
    }

    [Theory]
    [InlineData("60/min", 60, 60)]
    [InlineData("60/m", 60, 60)]
    [InlineData("1000/h", 1000, 3600)]
    [InlineData("5/30s", 5, 30)]
    [InlineData(" 10 / second ", 10, 1)]
    [InlineData("100/day", 100, 86400)]
    [InlineData("3/1h30m", 3, 5400)]
    public void Rates(string text, int count, int seconds)
    {
        Assert.True(ConfigValueParser.TryParseRate(text, out var parsed, out var interval, out var error), error);
        Assert.Equal(count, parsed);
        Assert.Equal(TimeSpan.FromSeconds(seconds), interval);
    }

    [Theory]
    [InlineData("60")]
    [InlineData("60 per minute")]
    [InlineData("0/min")]
    [InlineData("-1/min")]
    [InlineData("60/")]
    [InlineData("60/0s")]
    [InlineData("60/fortnight")]
    [InlineData("/min")]
    public void Bad_rates(string text)
    {
        Assert.False(ConfigValueParser.TryParseRate(text, out _, out _, out var error));
        Assert.Equal($"'{text}' is not a rate (use e.g. 60/min, 1000/h, 5/30s)", error);
    }
}
