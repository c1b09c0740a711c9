using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using SmtpServer.Core.Delivery;
using SmtpServer.Core.Queue;
using SmtpServer.Testing;

namespace SmtpServer.Delivery.Tests;

public sealed class MboxAgentTests : IDisposable
{
    private readonly TempDirectory _dir = new("mbox-test");

    public void Dispose() => _dir.Dispose();

    private MboxAgent Agent(TimeSpan? lockTimeout = null, Func<Stream, Stream>? filter = null) =>
        new("local", new MboxAgentOptions(_dir.Combine("mail", "{user}"), lockTimeout ?? TimeSpan.FromSeconds(5)), TimeProvider.System, NullLogger<MboxAgent>.Instance)
        {
            OutputFilter = filter,
        };

    [Fact]
    public async Task Two_messages_are_appended_quoted_and_parse_back_with_mimekit()
    {
        var first = TestMessages.Write(_dir, TestMessages.Simple);
        var second = TestMessages.Write(_dir, "Subject: second\r\n\r\nFrom here\r\n>>From there\r\nno newline at the end");
        var agent = Agent();
        var id = QueueId.New(TimeProvider.System);

        Assert.Equal(DeliveryStatus.Delivered, Assert.Single(await agent.DeliverAsync(TestMessages.Request(first, "alice@example.org"), default)).Status);
        Assert.Equal(DeliveryStatus.Delivered, Assert.Single(await agent.DeliverAsync(TestMessages.Request(second, TestMessages.Envelope(id, "Alice@example.org", sender: null)), default)).Status);

        var mbox = _dir.Combine("mail", "alice");
        var text = File.ReadAllText(mbox);
        Assert.DoesNotContain("\r", text, StringComparison.Ordinal);
        Assert.Matches(@"^From sender@example\.net [A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\nReturn-Path: <sender@example\.net>\nDelivered-To: alice@example\.org\nReceived: ", text);
        Assert.Contains("\n>From the body, a line that mbox must quote.\n>>From an already quoted line.\n", text, StringComparison.Ordinal);
        Assert.Contains("\nFrom MAILER-DAEMON ", text, StringComparison.Ordinal);
        Assert.Contains("Return-Path: <>\nDelivered-To: Alice@example.org\n", text, StringComparison.Ordinal);
        Assert.Contains("\n>From here\n>>>From there\nno newline at the end\n\n", text, StringComparison.Ordinal);
        Assert.EndsWith("at the end\n\n", text, StringComparison.Ordinal);
        Assert.Equal(2, text.Split('\n').Count(l => l.StartsWith("From ", StringComparison.Ordinal)));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(mbox));
        Assert.False(File.Exists(mbox + ".lock"));

        await using var stream = File.OpenRead(mbox);
        var parser = new MimeParser(stream, MimeFormat.Mbox);
        var messages = new List<MimeMessage>();
        var markers = new List<string>();
        while (!parser.IsEndOfStream)
        {
            messages.Add(await parser.ParseMessageAsync());
            markers.Add(parser.MboxMarker ?? string.Empty);
        }

        Assert.Equal(2, messages.Count);
        Assert.Equal("hello", messages[0].Subject);
        Assert.Equal("second", messages[1].Subject);
        Assert.Equal("alice@example.org", messages[0].Headers["Delivered-To"]);
        Assert.StartsWith("From sender@example.net ", markers[0], StringComparison.Ordinal);
        Assert.StartsWith("From MAILER-DAEMON ", markers[1], StringComparison.Ordinal);
        Assert.Contains(">From the body", messages[0].TextBody, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_flock_held_by_another_process_gives_a_temporary_failure_after_the_bounded_wait()
    {
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        Directory.CreateDirectory(_dir.Combine("mail"));
        var mbox = _dir.Combine("mail", "alice");
        File.WriteAllText(mbox, string.Empty);

        // util-linux flock(1) holds LOCK_EX, as a mail reader would.
        using var holder = Process.Start(new ProcessStartInfo("flock", ["-x", mbox, "sleep", "30"]) { RedirectStandardOutput = true })!;
        try
        {
            await WaitUntilLockedAsync(mbox);
            var stopwatch = Stopwatch.StartNew();

            var result = Assert.Single(await Agent(TimeSpan.FromMilliseconds(600)).DeliverAsync(TestMessages.Request(message, "alice@example.org"), default));

            Assert.Equal(DeliveryStatus.TemporaryFailure, result.Status);
            Assert.Equal("4.2.0", result.EnhancedStatus);
            Assert.InRange(stopwatch.Elapsed, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(10));
            Assert.Equal(0, new FileInfo(mbox).Length);
            Assert.False(File.Exists(mbox + ".lock"));
        }
        finally
        {
            holder.Kill(entireProcessTree: true);
            await holder.WaitForExitAsync();
        }

        Assert.Equal(DeliveryStatus.Delivered, Assert.Single(await Agent().DeliverAsync(TestMessages.Request(message, "alice@example.org"), default)).Status);
    }

    [Fact]
    public async Task A_dotlock_whose_pid_write_fails_is_removed_not_left_as_another_writers()
    {
        // Cancelled before the call: nothing checks the token until the pid write into the
        // dotlock just created, which then fails.
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        var mbox = _dir.Combine("mail", "alice");
        var writer = new MboxWriter("local", TimeSpan.FromSeconds(5), MboxWriter.DefaultStaleLockAge, TimeProvider.System, NullLogger.Instance);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        var envelope = TestMessages.Envelope(QueueId.New(TimeProvider.System), "alice@example.org");
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await writer.AppendAsync(mbox, message, envelope, cancelled.Token));
        Assert.False(File.Exists(mbox + ".lock"));

        // The next delivery is not blocked by it.
        var result = await writer.AppendAsync(mbox, message, envelope, default);
        Assert.Equal(DeliveryStatus.Delivered, result.Status);
    }

    [Fact]
    public async Task A_fresh_dotlock_blocks_and_a_stale_one_is_removed()
    {
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        Directory.CreateDirectory(_dir.Combine("mail"));
        var lockPath = _dir.Combine("mail", "alice.lock");
        File.WriteAllText(lockPath, "12345\n");

        var blocked = Assert.Single(await Agent(TimeSpan.FromMilliseconds(300)).DeliverAsync(TestMessages.Request(message, "alice@example.org"), default));
        Assert.Equal(DeliveryStatus.TemporaryFailure, blocked.Status);
        Assert.Contains("dotlock", blocked.Diagnostic, StringComparison.Ordinal);
        Assert.True(File.Exists(lockPath));
        Assert.False(File.Exists(_dir.Combine("mail", "alice")));

        File.SetLastWriteTimeUtc(lockPath, DateTime.UtcNow - TimeSpan.FromMinutes(10));
        var delivered = Assert.Single(await Agent(TimeSpan.FromMilliseconds(300)).DeliverAsync(TestMessages.Request(message, "alice@example.org"), default));
        Assert.Equal(DeliveryStatus.Delivered, delivered.Status);
        Assert.False(File.Exists(lockPath));
    }

    [Fact]
    public async Task A_failed_append_is_truncated_back()
    {
        var message = TestMessages.Write(_dir, TestMessages.Simple);
        Assert.Equal(DeliveryStatus.Delivered, Assert.Single(await Agent().DeliverAsync(TestMessages.Request(message, "alice@example.org"), default)).Status);
        var mbox = _dir.Combine("mail", "alice");
        var before = File.ReadAllBytes(mbox);

        var failing = Agent(filter: s => new ThrowAfterBytesStream(s, 100));
        var result = Assert.Single(await failing.DeliverAsync(TestMessages.Request(message, "alice@example.org"), default));

        Assert.Equal(DeliveryStatus.TemporaryFailure, result.Status);
        Assert.Equal("4.3.0", result.EnhancedStatus);
        Assert.Contains("No space left", result.Diagnostic, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(mbox));
        Assert.False(File.Exists(mbox + ".lock"));
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("a/b")]
    [InlineData("x\0")]
    public async Task Unsafe_local_parts_fail_permanently(string localPart)
    {
        var message = TestMessages.Write(_dir, TestMessages.Simple, "message.eml");
        var envelope = TestMessages.Envelope(QueueId.New(TimeProvider.System), new AddressRecord(localPart, "example.org"), null);

        var result = Assert.Single(await Agent().DeliverAsync(TestMessages.Request(message, envelope), default));

        Assert.Equal(DeliveryStatus.PermanentFailure, result.Status);
        Assert.Equal("5.1.3", result.EnhancedStatus);
        Assert.Equal(["message.eml"], Directory.GetFileSystemEntries(_dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Loop_is_refused()
    {
        var message = TestMessages.Write(_dir, "Delivered-To: alice@example.org\r\nSubject: x\r\n\r\nbody\r\n");

        var result = Assert.Single(await Agent().DeliverAsync(TestMessages.Request(message, "alice@example.org"), default));

        Assert.Equal("5.4.6", result.EnhancedStatus);
        Assert.False(File.Exists(_dir.Combine("mail", "alice")));
    }

    private static async Task WaitUntilLockedAsync(string path)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var probe = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                if (!FileLock.TryLockExclusive(probe.SafeFileHandle, path))
                {
                    return;
                }
            }
            catch (IOException)
            {
                // .NET's own shared flock on open failed: the lock is held.
                return;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException("flock(1) did not take the lock");
    }

    /// <summary>Fails like a full disk once more than the given number of bytes was written.</summary>
    private sealed class ThrowAfterBytesStream(Stream inner, long limit) : Stream
    {
        private long _written;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => inner.Length;

        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var allowed = (int)Math.Max(0, Math.Min(buffer.Length, limit - _written));
            await inner.WriteAsync(buffer[..allowed], cancellationToken);
            _written += allowed;
            if (allowed < buffer.Length)
            {
                throw new IOException("No space left on device");
            }
        }
    }
}

public sealed class MboxConverterTests
{
    [Theory]
    [InlineData("a\r\nb\r\n", "a\nb\n\n")]
    [InlineData("From x\r\n", ">From x\n\n")]
    [InlineData(">From x\r\n>>From y\r\n", ">>From x\n>>>From y\n\n")]
    [InlineData("From\r\nFrom:\r\n>From\r\n>Fro\r\n", "From\nFrom:\n>From\n>Fro\n\n")]
    [InlineData("x From y\r\n", "x From y\n\n")]
    [InlineData("FrFrom \r\n", "FrFrom \n\n")]
    [InlineData("no newline", "no newline\n\n")]
    [InlineData("bare\rcr\r", "bare\rcr\r\n\n")]
    [InlineData("", "\n")]
    [InlineData("body\r\nFrom ", "body\n>From \n\n")]
    public void Converts_in_any_split(string input, string expected)
    {
        var bytes = Encoding.ASCII.GetBytes(input);
        for (var split = 0; split <= bytes.Length; split++)
        {
            Assert.Equal(expected, Convert([bytes[..split], bytes[split..]]));
        }

        Assert.Equal(expected, Convert([.. bytes.Select(b => new[] { b })]));
    }

    private static string Convert(byte[][] pieces)
    {
        var output = new System.Buffers.ArrayBufferWriter<byte>();
        var converter = new MboxConverter();
        foreach (var piece in pieces)
        {
            converter.Convert(piece, output);
        }

        converter.Complete(output);
        return Encoding.ASCII.GetString(output.WrittenSpan);
    }
}
