using YamlDotNet.RepresentationModel;

namespace SmtpServer.Cli;

/// <summary>
/// The two keys smtpctl needs from smtpd's configuration: admin.socket and queue.path, with the
/// same environment overrides (SMTPD_ADMIN__SOCKET, SMTPD_QUEUE__PATH) and the same rule for
/// relative paths (against the current directory). YAML is a superset of JSON, so one reader
/// does both formats.
/// </summary>
internal sealed record CliConfig(string? SocketPath, string QueuePath)
{
    public const string DefaultQueuePath = "./var/queue";

    public static CliConfig Load(string path, Func<string, string?> environment)
    {
        string? socket = null;
        string? queue = null;
        if (File.Exists(path))
        {
            var yaml = new YamlStream();
            using (var reader = new StreamReader(path))
            {
                yaml.Load(reader);
            }

            if (yaml.Documents.Count > 0 && yaml.Documents[0].RootNode is YamlMappingNode root)
            {
                socket = Scalar(root, "admin", "socket");
                queue = Scalar(root, "queue", "path");
            }
        }
        else if (environment("SMTPD_ADMIN__SOCKET") is null)
        {
            throw new FileNotFoundException($"configuration file {path} not found (use -c FILE or --socket PATH)");
        }

        socket = environment("SMTPD_ADMIN__SOCKET") ?? socket;
        queue = environment("SMTPD_QUEUE__PATH") ?? queue ?? DefaultQueuePath;
        return new CliConfig(socket is null ? null : Path.GetFullPath(socket), Path.GetFullPath(queue));
    }

    private static string? Scalar(YamlMappingNode root, string section, string key)
    {
        foreach (var (k, v) in root.Children)
        {
            if (k is YamlScalarNode { Value: { } name } && string.Equals(name, section, StringComparison.OrdinalIgnoreCase) && v is YamlMappingNode map)
            {
                foreach (var (k2, v2) in map.Children)
                {
                    if (k2 is YamlScalarNode { Value: { } name2 } && string.Equals(name2, key, StringComparison.OrdinalIgnoreCase) && v2 is YamlScalarNode { Value: { Length: > 0 } value })
                    {
                        return value;
                    }
                }
            }
        }

        return null;
    }
}
