namespace SmtpServer.Delivery;

/// <summary>Mailboxes are private to their owner: directories 0700, files 0600 (as mail.maildir and mail.local create them).</summary>
internal static class PrivateFiles
{
    private const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Creates the directory and any missing parents with mode 0700 (existing ones are left alone).</summary>
    public static void CreateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
        }
        else if (!Directory.Exists(path))
        {
            // Directory.CreateDirectory applies the mode to the last directory only; missing
            // parents (e.g. the user's directory above Maildir) would get the umask default.
            if (Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(path)) is { Length: > 0 } parent)
            {
                CreateDirectory(parent);
            }

            Directory.CreateDirectory(path, DirectoryMode);
        }
    }

    /// <summary><paramref name="options"/> with mode 0600 for a file it creates.</summary>
    public static FileStreamOptions Create(FileStreamOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = FileMode;
        }

        return options;
    }
}
