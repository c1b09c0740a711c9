using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace SmtpServer.Delivery;

/// <summary>
/// flock(2), which mail readers (mutt, Dovecot with <c>mbox_write_locks = dotlock flock</c>,
/// mail.local) take on an mbox. .NET only takes one as a side effect of FileShare, and not
/// at all when DOTNET_SYSTEM_IO_DISABLEFILELOCKING is set, so the mbox agent asks for it itself.
/// </summary>
internal static partial class FileLock
{
    private const int LockExclusive = 2;
    private const int LockNonBlocking = 4;
    private const int EIntr = 4;
    private const int EWouldBlock = 11; // EAGAIN on Linux

    /// <summary>Tries an exclusive lock without waiting; false when another open file holds one.</summary>
    public static bool TryLockExclusive(SafeFileHandle handle, string path)
    {
        if (OperatingSystem.IsWindows())
        {
            // FileShare.None already excludes other writers there.
            return true;
        }

        while (true)
        {
            if (Flock(handle, LockExclusive | LockNonBlocking) == 0)
            {
                return true;
            }

            var errno = Marshal.GetLastPInvokeError();
            if (errno == EWouldBlock)
            {
                return false;
            }

            if (errno != EIntr)
            {
                throw new IOException($"flock({path}) failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(SafeFileHandle fd, int operation);
}
