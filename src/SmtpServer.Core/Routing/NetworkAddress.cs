using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;

namespace SmtpServer.Core.Routing;

/// <summary>Address and network helpers shared by the rule conditions and the config validator.</summary>
internal static class NetworkAddress
{
    /// <summary>An IPv4-mapped IPv6 address (<c>::ffff:192.0.2.1</c>) as plain IPv4; others unchanged.</summary>
    public static IPAddress Unmap(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    /// <summary>127.0.0.0/8, ::1, and the IPv4-mapped form of 127.0.0.0/8 (dual-stack sockets).</summary>
    public static bool IsLoopback(IPAddress address) => IPAddress.IsLoopback(Unmap(address));

    /// <summary>
    /// Whether <paramref name="network"/> holds <paramref name="address"/>. A client on a
    /// dual-stack socket arrives as <c>::ffff:a.b.c.d</c> and must match IPv4 networks, and an
    /// IPv4 client matches a network written in the mapped IPv6 form.
    /// </summary>
    public static bool Contains(IPNetwork network, IPAddress address)
    {
        if (network.Contains(address))
        {
            return true;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return network.BaseAddress.AddressFamily == AddressFamily.InterNetwork && network.Contains(address.MapToIPv4());
        }

        return address.AddressFamily == AddressFamily.InterNetwork
            && network.BaseAddress.AddressFamily == AddressFamily.InterNetworkV6
            && network.Contains(address.MapToIPv6());
    }

    /// <summary>
    /// Parses <c>192.0.2.0/24</c>, <c>2001:db8::/32</c> or a plain address (a /32 or /128).
    /// A network with host bits set (<c>192.0.2.1/24</c>) is refused: in an access rule the
    /// operator's intent is ambiguous, so say what was probably meant.
    /// </summary>
    public static bool TryParseNetwork(string text, out IPNetwork network, [NotNullWhen(false)] out string? error)
    {
        text = text.Trim();
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var addressText = slash < 0 ? text : text[..slash];
        if (addressText.StartsWith('[') && addressText.EndsWith(']'))
        {
            addressText = addressText[1..^1];
        }

        if (!IPAddress.TryParse(addressText, out var address) || addressText.Contains('%', StringComparison.Ordinal))
        {
            network = default;
            error = $"'{text}' is not an IP address or network (use e.g. 192.0.2.0/24 or 2001:db8::/32)";
            return false;
        }

        var bits = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var prefix = bits;
        if (slash >= 0 && (!int.TryParse(text.AsSpan(slash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out prefix) || prefix > bits))
        {
            network = default;
            error = $"'{text}' has an invalid prefix length (0 to {bits})";
            return false;
        }

        var masked = Mask(address, prefix);
        if (!masked.Equals(address))
        {
            network = default;
            error = $"'{text}' has host bits set (did you mean {masked}/{prefix}?)";
            return false;
        }

        network = new IPNetwork(address, prefix);

        error = null;
        return true;
    }

    /// <summary>Parses an RFC 5321 §4.1.3 address literal: <c>[192.0.2.1]</c> or <c>[IPv6:2001:db8::1]</c>.</summary>
    public static bool TryParseAddressLiteral(string domain, [NotNullWhen(true)] out IPAddress? address)
    {
        address = null;
        if (domain.Length < 3 || domain[0] != '[' || domain[^1] != ']')
        {
            return false;
        }

        var inner = domain.AsSpan(1, domain.Length - 2);
        if (inner.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase))
        {
            return IPAddress.TryParse(inner[5..], out address) && address.AddressFamily == AddressFamily.InterNetworkV6;
        }

        return IPAddress.TryParse(inner, out address) && address.AddressFamily == AddressFamily.InterNetwork;
    }

    private static IPAddress Mask(IPAddress address, int prefix)
    {
        var bytes = address.GetAddressBytes();
        for (var i = 0; i < bytes.Length; i++)
        {
            var keep = Math.Clamp(prefix - (i * 8), 0, 8);
            bytes[i] &= (byte)(0xFF << (8 - keep));
        }

        return new IPAddress(bytes);
    }
}
