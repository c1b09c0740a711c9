using System.Collections;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Configuration;

namespace SmtpServer.Configuration;

/// <summary>
/// Reads the configuration file (YAML for <c>.yaml</c>/<c>.yml</c>, JSON for <c>.json</c>) through
/// Microsoft.Extensions.Configuration, applies environment overrides, and validates everything
/// into <see cref="ServerSettings"/>. Every problem is reported, not only the first.
/// </summary>
/// <remarks>
/// Environment overrides: a variable <c>SMTPD_</c> + the key path with <c>__</c> between
/// segments and list indexes as segments, case-insensitive; it wins over the file.
/// <c>SMTPD_SERVER__LIMITS__MAXRECIPIENTS=10</c>, <c>SMTPD_LISTENERS__0__ADDRESS=0.0.0.0:25</c>,
/// <c>SMTPD_ACTIONS__LOCAL__MAILDIR__PATH=/var/mail/{user}</c>.
/// Relative paths (queue.path, admin.socket, maildir/mbox paths, TLS files) resolve against the
/// current working directory, not the file's directory, so <c>./var/queue</c> works from the
/// repository root.
/// </remarks>
internal static class ConfigLoader
{
    /// <summary>The prefix of environment overrides.</summary>
    public const string EnvironmentPrefix = "SMTPD_";

    /// <summary>
    /// Names the configuration file (deploy/Dockerfile sets it), not a key: never an override.
    /// </summary>
    public const string ConfigPathVariable = "SMTPD_CONFIG";

    /// <param name="path">The file; its extension chooses the format.</param>
    /// <param name="environment">Variables to apply as overrides; null means the process environment.</param>
    public static ConfigLoadResult Load(string path, IReadOnlyDictionary<string, string>? environment = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        environment ??= ProcessEnvironment();

        var errors = new List<ConfigError>();
        var root = ReadTree(path, environment, errors);
        if (root is null)
        {
            return new ConfigLoadResult(null, errors);
        }

        var settings = new SettingsBuilder(errors).Build(root);
        return new ConfigLoadResult(errors.Count == 0 ? settings : null, errors);
    }

    /// <summary>The machine's FQDN; never throws (falls back to the machine name).</summary>
    public static string DefaultHostname()
    {
        try
        {
            var name = Dns.GetHostEntry(Dns.GetHostName()).HostName;
            if (!string.IsNullOrWhiteSpace(name))
            {
                return name;
            }
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or ArgumentException or InvalidOperationException)
        {
            // No resolver, or the name does not resolve: the machine name is the best we have.
        }

        return Environment.MachineName;
    }

    /// <summary>The merged tree of the file and the overrides, or null (with errors) when the file cannot be read.</summary>
    internal static ConfigNode? ReadTree(string path, IReadOnlyDictionary<string, string> environment, List<ConfigError> errors)
    {
        var fullPath = Path.GetFullPath(path);
        var builder = new ConfigurationBuilder();
        switch (Path.GetExtension(fullPath).ToLowerInvariant())
        {
            case ".yaml" or ".yml":
                builder.AddYamlFile(fullPath, optional: false, reloadOnChange: false);
                break;
            case ".json":
                builder.AddJsonFile(fullPath, optional: false, reloadOnChange: false);
                break;
            default:
                errors.Add(new ConfigError(string.Empty, $"{path}: unknown file type (use .yaml, .yml or .json)"));
                return null;
        }

        var overrides = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in environment)
        {
            if (name.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase) && name.Length > EnvironmentPrefix.Length
                && !name.Equals(ConfigPathVariable, StringComparison.OrdinalIgnoreCase))
            {
                overrides[name[EnvironmentPrefix.Length..].Replace("__", ConfigurationPath.KeyDelimiter, StringComparison.Ordinal)] = value;
            }
        }

        builder.AddInMemoryCollection(overrides);

        IConfigurationRoot configuration;
        try
        {
            configuration = builder.Build();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            errors.Add(new ConfigError(string.Empty, $"{path}: file not found"));
            return null;
        }
        catch (Exception e) when (e is FormatException or InvalidDataException or IOException or UnauthorizedAccessException
            or YamlDotNet.Core.YamlException or JsonException)
        {
            errors.Add(new ConfigError(string.Empty, $"{path}: {Describe(e)}"));
            return null;
        }

        var root = new ConfigNode(string.Empty, null);
        foreach (var provider in configuration.Providers)
        {
            Merge(provider, root, null);
        }

        try
        {
            ConfigSkeleton.AddEmptyContainers(fullPath, json: builder.Sources[0] is Microsoft.Extensions.Configuration.Json.JsonConfigurationSource, root);
        }
        catch (Exception e) when (e is IOException or JsonException or YamlDotNet.Core.YamlException)
        {
            errors.Add(new ConfigError(string.Empty, $"{path}: {Describe(e)}"));
            return null;
        }

        root.SortIndexes();
        return root;
    }

    private static void Merge(IConfigurationProvider provider, ConfigNode node, string? path)
    {
        foreach (var key in provider.GetChildKeys([], path).Distinct(StringComparer.OrdinalIgnoreCase))
        {
            var childPath = path is null ? key : ConfigurationPath.Combine(path, key);
            var child = node.GetOrAdd(key);
            if (provider.TryGet(childPath, out var value))
            {
                child.Value = value;
            }

            Merge(provider, child, childPath);
        }
    }

    private static string Describe(Exception e)
    {
        // YamlDotNet puts the position in its own message; the provider wraps it.
        var inner = e;
        while (inner.InnerException is not null)
        {
            inner = inner.InnerException;
        }

        return inner == e ? e.Message : $"{e.Message} {inner.Message}";
    }

    private static Dictionary<string, string> ProcessEnvironment()
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            if (entry.Key is string key && entry.Value is string value)
            {
                result[key] = value;
            }
        }

        return result;
    }
}
