using SmtpServer.Configuration;
using SmtpServer.Hosting;

namespace SmtpServer;

/// <summary>
/// <c>smtpd [-c FILE] [--check]</c>. Loads and validates the configuration (every bad key is
/// named, and the server does not start), then runs the listeners until SIGTERM/SIGINT.
/// </summary>
internal static class Program
{
    private const string Usage = """
        usage: smtpd [-c|--config FILE] [--check]
               smtpd [-c FILE] --explain-route --from ADDR --to ADDR [--src IP] [--rdns NAME] [--auth USER] [--helo NAME]
                      [--tls] [--client-cert NAME]...
               smtpd encrypt
          -c, --config FILE   configuration file, YAML (.yaml/.yml) or JSON (.json);
                              default: $SMTPD_CONFIG, else config/smtpd.yaml
          --check             validate the configuration and exit (0: valid, 1: errors);
                              warnings (e.g. an alias to a command the action does not
                              allow) go to stderr and do not fail the check
          --explain-route     print which rule matches --to and why, the action, and the
                              recipients aliases/virtual tables expand it to (no mail is sent)
          --rdns NAME         with --explain-route: the client's reverse DNS name (forward-confirmed,
                              as a session finds it; no lookup is made), for rules' rdns
          --client-cert NAME  with --explain-route: the client presented a verified certificate
                              with this CN or DNS name (repeat for more names; implies --tls)
          encrypt             read a password from stdin, print its $6$ (SHA-512-crypt) hash
                              for a credentials table (user:hash)
        Environment variables SMTPD_<SECTION>__<KEY> override keys of the file.
        """;

    public static async Task<int> Main(string[] args)
    {
        if (args is ["encrypt"])
        {
            return await EncryptAsync(Console.In, Console.Out, Console.Error, !Console.IsInputRedirected).ConfigureAwait(false);
        }

        if (args is ["--config-reference", .. var output] && output.Length <= 1)
        {
            return await WriteConfigReferenceAsync(output.Length == 0 ? null : output[0]).ConfigureAwait(false);
        }

        string? path = null;
        var check = false;
        var explain = false;
        string? from = null, to = null, source = null, auth = null, helo = null, rdns = null;
        var tls = false;
        var clientCertificateNames = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "-c" or "--config" when i + 1 < args.Length:
                    path = args[++i];
                    break;
                case "--check" or "-n":
                    check = true;
                    break;
                case "--explain-route":
                    explain = true;
                    break;
                case "--from" when i + 1 < args.Length:
                    from = args[++i];
                    break;
                case "--to" when i + 1 < args.Length:
                    to = args[++i];
                    break;
                case "--src" when i + 1 < args.Length:
                    source = args[++i];
                    break;
                case "--rdns" when i + 1 < args.Length:
                    rdns = args[++i];
                    break;
                case "--auth" when i + 1 < args.Length:
                    auth = args[++i];
                    break;
                case "--helo" when i + 1 < args.Length:
                    helo = args[++i];
                    break;
                case "--tls":
                    tls = true;
                    break;
                case "--client-cert" when i + 1 < args.Length:
                    clientCertificateNames.Add(args[++i]);
                    tls = true;
                    break;
                case "-h" or "--help":
                    await Console.Out.WriteLineAsync(Usage).ConfigureAwait(false);
                    return 0;
                default:
                    await Console.Error.WriteLineAsync($"smtpd: unknown argument '{args[i]}'\n{Usage}").ConfigureAwait(false);
                    return 2;
            }
        }

        path ??= Environment.GetEnvironmentVariable(ConfigLoader.ConfigPathVariable) ?? Path.Combine("config", "smtpd.yaml");
        var loaded = ConfigLoader.Load(path);
        if (loaded.Settings is null)
        {
            // The command-line contract of --check and of a failed start: one line per problem.
            foreach (var error in loaded.Errors)
            {
                await Console.Error.WriteLineAsync($"{path}: {error}").ConfigureAwait(false);
            }

            return 1;
        }

        if (explain)
        {
            if (to is null)
            {
                await Console.Error.WriteLineAsync($"smtpd: --explain-route needs --to ADDR\n{Usage}").ConfigureAwait(false);
                return 2;
            }

            return await RouteExplainer.ExplainAsync(loaded.Settings, from, to, source, auth, helo, tls, Console.Out, clientCertificateNames, rdns).ConfigureAwait(false);
        }

        if (check)
        {
            foreach (var warning in loaded.Settings.Warnings)
            {
                await Console.Error.WriteLineAsync($"{path}: warning: {warning}").ConfigureAwait(false);
            }

            await Console.Out.WriteLineAsync($"{path}: configuration OK").ConfigureAwait(false);
            return 0;
        }

        var levelSwitch = new Serilog.Core.LoggingLevelSwitch(Logging.LevelOf(loaded.Settings.Logging));
        using var logger = Logging.Create(loaded.Settings.Logging, levelSwitch);
        try
        {
            await using var app = SmtpHost.Build(loaded.Settings, logger, levelSwitch: levelSwitch, configPath: Path.GetFullPath(path));
            await app.RunAsync().ConfigureAwait(false);
            return 0;
        }
#pragma warning disable CA1031 // The last line of defence: log why the process stops.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            logger.Fatal(ex, "smtpd stopped: {Reason}", ex.Message);
            return 1;
        }
    }

    /// <summary>
    /// <c>smtpd --config-reference [FILE]</c> (not in the usage: a maintainer's tool, run from the
    /// repository root): renders docs/configuration.md from the JSON Schema, to FILE or stdout.
    /// </summary>
    private static async Task<int> WriteConfigReferenceAsync(string? output)
    {
        string markdown;
        try
        {
            markdown = ConfigReference.Render(ConfigSchema.Parse(await File.ReadAllTextAsync(ConfigReference.SchemaPath).ConfigureAwait(false)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            await Console.Error.WriteLineAsync($"smtpd: cannot read {ConfigReference.SchemaPath} (run from the repository root): {e.Message}").ConfigureAwait(false);
            return 1;
        }

        if (output is null)
        {
            await Console.Out.WriteAsync(markdown).ConfigureAwait(false);
        }
        else
        {
            await File.WriteAllTextAsync(output, markdown).ConfigureAwait(false);
        }

        return 0;
    }

    /// <summary>
    /// <c>smtpd encrypt</c> (OpenSMTPD's <c>smtpctl encrypt</c>): the password comes from stdin,
    /// never from the command line (where ps would show it), without echo on a terminal.
    /// </summary>
    internal static async Task<int> EncryptAsync(TextReader input, TextWriter output, TextWriter error, bool terminal)
    {
        string? password;
        if (terminal)
        {
            await error.WriteAsync("Password: ").ConfigureAwait(false);
            var typed = new System.Text.StringBuilder();
            while (true)
            {
                var key = Console.ReadKey(intercept: true);
                if (key.Key == ConsoleKey.Enter)
                {
                    break;
                }

                if (key.Key == ConsoleKey.Backspace)
                {
                    typed.Length = Math.Max(0, typed.Length - 1);
                }
                else if (!char.IsControl(key.KeyChar))
                {
                    typed.Append(key.KeyChar);
                }
            }

            await error.WriteLineAsync().ConfigureAwait(false);
            password = typed.ToString();
        }
        else
        {
            password = await input.ReadLineAsync().ConfigureAwait(false);
        }

        if (string.IsNullOrEmpty(password))
        {
            await error.WriteLineAsync("smtpd encrypt: empty password").ConfigureAwait(false);
            return 1;
        }

        await output.WriteLineAsync(Auth.Sha512Crypt.Hash(password)).ConfigureAwait(false);
        return 0;
    }
}
