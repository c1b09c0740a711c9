using System.Globalization;
using SmtpServer.Core.Routing;
using SmtpServer.Protocol;

namespace SmtpServer.Configuration;

internal sealed partial class SettingsBuilder
{
    private string ReadHostname(ConfigNode? server)
    {
        CheckKeys(server, "hostname", "limits", "smtp", "shutdownTimeout", "subaddressDelimiter");
        var hostname = Scalar(server, "hostname");
        if (hostname is null)
        {
            return ConfigLoader.DefaultHostname();
        }

        if (!DomainName.IsHostName(hostname))
        {
            Error(server!["hostname"]!, $"'{hostname}' is not a host name (letters, digits, '-' and '.', e.g. mx.example.org)");
        }

        return hostname.TrimEnd('.');
    }

    /// <summary>server.subaddressDelimiter: one character (default '+'), not a letter, digit, '@' or white space.</summary>
    private char ReadDelimiter(ConfigNode? server)
    {
        var text = Scalar(server, "subaddressDelimiter");
        if (text is null)
        {
            return '+';
        }

        if (text.Length != 1 || char.IsLetterOrDigit(text[0]) || text[0] is '@' or '"' || char.IsWhiteSpace(text[0]) || text[0] > '~')
        {
            Error(server!["subaddressDelimiter"]!, $"'{text}' is not one punctuation character (e.g. + or -)");
            return '+';
        }

        return text[0];
    }

    private (SessionLimits Limits, int MaxSessions, int MaxPerClient, TimeSpan Shutdown) ReadLimits(ConfigNode? server)
    {
        var defaults = new SessionLimits();
        var limits = Section(server, "limits");
        CheckKeys(
            limits,
            "maxMessageSize", "maxRecipients", "maxMessagesPerSession", "maxErrorsPerSession", "maxSessions",
            "maxSessionsPerClient", "idleTimeout", "maxCommandLine", "maxAuthLine", "maxLineLength", "maxHeaderSize");
        var smtp = Section(server, "smtp");
        CheckKeys(smtp, "bareLineEndings");

        var result = new SessionLimits
        {
            MaxMessageSize = ReadSize(limits, "maxMessageSize", defaults.MaxMessageSize),
            MaxRecipients = ReadInt(limits, "maxRecipients", defaults.MaxRecipients),
            MaxMessagesPerSession = ReadInt(limits, "maxMessagesPerSession", defaults.MaxMessagesPerSession),
            MaxErrorsPerSession = ReadInt(limits, "maxErrorsPerSession", defaults.MaxErrorsPerSession),
            IdleTimeout = ReadDuration(limits, "idleTimeout", defaults.IdleTimeout),

            // RFC 5321 §4.5.3.1.4-6: 512 octets for a command line, 1000 for a text line, at least.
            MaxCommandLineLength = (int)ReadSize(limits, "maxCommandLine", defaults.MaxCommandLineLength, 512, int.MaxValue),
            MaxAuthLineLength = (int)ReadSize(limits, "maxAuthLine", defaults.MaxAuthLineLength, 512, int.MaxValue),
            MaxTextLineLength = (int)ReadSize(limits, "maxLineLength", defaults.MaxTextLineLength, 1000, int.MaxValue),
            MaxHeaderSize = ReadSize(limits, "maxHeaderSize", defaults.MaxHeaderSize, 1000),
            BareLineEndings = ReadChoice(
                smtp, "bareLineEndings", BareLineEndingPolicy.Reject,
                ("reject", BareLineEndingPolicy.Reject), ("normalize", BareLineEndingPolicy.Normalize)),
        };

        var maxSessions = ReadInt(limits, "maxSessions", 1000);
        var maxPerClient = ReadInt(limits, "maxSessionsPerClient", 50);
        var shutdown = ReadDuration(server, "shutdownTimeout", TimeSpan.FromSeconds(30));
        return (result, maxSessions, maxPerClient, shutdown);
    }

    private QueueSettings ReadQueue(ConfigNode? queue)
    {
        CheckKeys(queue, "path", "expire", "delayWarnings", "minFreeSpace", "maxDeliveries");
        var defaults = new QueueSettings { Path = string.Empty };
        var expire = ReadDuration(queue, "expire", defaults.Expire);

        var warnings = defaults.DelayWarnings;
        if (queue?["delayWarnings"] is { } warningNode)
        {
            var list = new List<TimeSpan>();
            foreach (var (node, text) in ReadList(warningNode))
            {
                if (ParseDuration(node, text) is { } warning)
                {
                    if (warning >= expire)
                    {
                        Error(node, $"'{text}' is not shorter than queue.expire; the message expires first");
                    }

                    list.Add(warning);
                }
            }

            warnings = [.. list.Distinct().Order()];
        }

        var minFree = defaults.MinFreeSpacePercent;
        if (Scalar(queue, "minFreeSpace") is { } freeText)
        {
            var number = freeText.TrimEnd().TrimEnd('%').TrimEnd();
            if (!double.TryParse(number, NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out minFree)
                || minFree is < 0 or >= 100)
            {
                Error(queue!["minFreeSpace"]!, $"'{freeText}' is not a percentage from 0 to 99 (e.g. 5%)");
                minFree = defaults.MinFreeSpacePercent;
            }
        }

        return new QueueSettings
        {
            Path = ResolvePath(Scalar(queue, "path") ?? "./var/queue"),
            Expire = expire,
            DelayWarnings = warnings,
            MinFreeSpacePercent = minFree,
            MaxDeliveries = ReadInt(queue, "maxDeliveries", defaults.MaxDeliveries),
        };
    }

    private AdminSettings ReadAdmin(ConfigNode? admin)
    {
        CheckKeys(admin, "socket", "http");
        var socket = Scalar(admin, "socket");
        var http = Scalar(admin, "http");
        return new AdminSettings
        {
            SocketPath = socket is null ? null : ResolvePath(socket),
            HttpEndPoint = http is null ? null : ParseEndPoint(admin!["http"]!, http),
        };
    }

    private LogSettings ReadLogging(ConfigNode? logging)
    {
        CheckKeys(logging, "format", "level");
        return new LogSettings
        {
            Format = ReadChoice(logging, "format", LogFormat.Text, ("text", LogFormat.Text), ("json", LogFormat.Json)),
            Level = ReadChoice(
                logging, "level", "Information",
                ("verbose", "Verbose"), ("trace", "Verbose"), ("debug", "Debug"), ("information", "Information"), ("info", "Information"),
                ("warning", "Warning"), ("warn", "Warning"), ("error", "Error"), ("fatal", "Fatal")),
        };
    }
}
