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
}
