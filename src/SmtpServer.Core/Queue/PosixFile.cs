using System.Runtime.InteropServices;

namespace SmtpServer.Core.Queue;

/// <summary>
/// The two POSIX calls .NET does not expose: fsync of a directory (needed so a rename or a new
/// directory entry survives a crash; .NET refuses to open a directory as a file) and statvfs
/// (free blocks and free inodes, for the free-space guard).
/// </summary>
internal static partial class PosixFile
{
    private const int ORdOnly = 0;
    private const int EIntr = 4;

    /// <summary>fsync(2) on a directory, so entries created, renamed or removed in it are durable.</summary>
    public static void FlushDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            // NTFS journals metadata; there is no directory handle to flush.
            return;
        }

        int fd;
        do
        {
            fd = Open(path, ORdOnly | DirectoryFlag());
        }
        while (fd < 0 && Marshal.GetLastPInvokeError() == EIntr);

        if (fd < 0)
        {
            throw NewIOException("open", path, Marshal.GetLastPInvokeError());
        }

        try
        {
            // No retry on failure: after a failed fsync the kernel may have dropped the dirty
            // pages, and a second fsync would report success for data that is gone.
            if (FSync(fd) != 0)
            {
                throw NewIOException("fsync", path, Marshal.GetLastPInvokeError());
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>
    /// Free space of the file system holding <paramref name="path"/>, as percentages of blocks
    /// and inodes available to unprivileged users. A file system without an inode count
    /// (btrfs, some FUSE) reports 100 % inodes.
    /// </summary>
    public static bool TryGetFreeSpace(string path, out double freeBlocksPercent, out double freeInodesPercent, out int errno)
    {
        freeBlocksPercent = 0;
        freeInodesPercent = 0;
        errno = 0;
        if (OperatingSystem.IsWindows())
        {
            var drive = new DriveInfo(System.IO.Path.GetPathRoot(System.IO.Path.GetFullPath(path))!);
            freeBlocksPercent = drive.TotalSize == 0 ? 100 : 100.0 * drive.AvailableFreeSpace / drive.TotalSize;
            freeInodesPercent = 100;
            return true;
        }

        if (StatVfs(path, out var buffer) != 0)
        {
            errno = Marshal.GetLastPInvokeError();
            return false;
        }

        freeBlocksPercent = buffer.Blocks == 0 ? 100 : 100.0 * buffer.BlocksAvailable / buffer.Blocks;
        freeInodesPercent = buffer.Files == 0 ? 100 : 100.0 * buffer.FilesAvailable / buffer.Files;
        return true;
    }

    // O_DIRECTORY differs between architectures (asm-generic vs x86/arm headers); it only adds
    // a check that the path is a directory, so where unknown we do without it.
    private static int DirectoryFlag()
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }

        return RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 or Architecture.X86 => 0x10000,
            Architecture.Arm64 or Architecture.Arm => 0x4000,
            _ => 0,
        };
    }

    private static IOException NewIOException(string call, string path, int errno) =>
        new($"{call}({path}) failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "statvfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatVfs(string path, out StatVfsBuffer buffer);

    /// <summary>struct statvfs of glibc and musl on 64-bit Linux: eleven unsigned longs, then spare ints.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct StatVfsBuffer
    {
        public ulong BlockSize;
        public ulong FragmentSize;
        public ulong Blocks;
        public ulong BlocksFree;
        public ulong BlocksAvailable;
        public ulong Files;
        public ulong FilesFree;
        public ulong FilesAvailable;
        public ulong FileSystemId;
        public ulong Flags;
        public ulong NameMax;
        public ulong Spare0;
        public ulong Spare1;
        public ulong Spare2;
    }
}
