using SmtpServer.Core.Queue;

namespace SmtpServer.Delivery;

/// <summary>
/// A recipient split the way local delivery uses it: <c>user+ext@domain</c> gives User
/// (lower-cased, without the extension), Extension and Domain (lower-cased). Nothing here is
/// trusted: every value comes from the envelope, i.e. from the remote client.
/// </summary>
internal readonly record struct LocalRecipient(string Address, string User, string? Extension, string Domain)
{
    /// <summary>OpenSMTPD's (and Postfix's default) sub-address delimiter.</summary>
    public const char ExtensionDelimiter = '+';

    public static LocalRecipient From(AddressRecord recipient)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        var local = recipient.LocalPart;
        var plus = local.IndexOf(ExtensionDelimiter, StringComparison.Ordinal);

        // "+ext" alone (an empty user) is a user named "+ext", not an extension of nobody.
        var user = plus > 0 ? local[..plus] : local;
        var extension = plus > 0 ? local[(plus + 1)..] : null;
        return new LocalRecipient(
            FormatAddress(recipient),
            user.ToLowerInvariant(),
            string.IsNullOrEmpty(extension) ? null : extension,
            recipient.Domain.ToLowerInvariant());
    }

    /// <summary><c>local@domain</c> as in the envelope (or the bare local part for <c>postmaster</c>).</summary>
    public static string FormatAddress(AddressRecord address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return address.Domain.Length == 0 ? address.LocalPart : $"{address.LocalPart}@{address.Domain}";
    }

    /// <summary>
    /// True when <paramref name="value"/> can be one path segment (or part of one) without
    /// leaving the directory it is put in: not empty, not "." or "..", no '/', '\', NUL or other
    /// control characters, no quote or white space (a quoted local part is not a file name), no
    /// leading '.' (Maildir++ folders and dotfiles), at most 255 bytes.
    /// </summary>
    public static bool IsSafePathSegment(string value)
    {
        if (string.IsNullOrEmpty(value) || value[0] == '.' || System.Text.Encoding.UTF8.GetByteCount(value) > 255)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (c is '/' or '\\' or '"' or '\0' || char.IsControl(c) || char.IsWhiteSpace(c))
            {
                return false;
            }
        }

        return !value.Contains("..", StringComparison.Ordinal);
    }

    /// <summary>True when the text holds no character that could end a header line or environment entry.</summary>
    public static bool HasNoControlCharacters(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        foreach (var c in value)
        {
            if (char.IsControl(c))
            {
                return false;
            }
        }

        return true;
    }
}
